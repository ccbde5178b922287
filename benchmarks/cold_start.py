"""Cold start of the pipe filter: wall time of one `pixelguard clean` process per message.

A delivery agent (Dovecot's vnd.dovecot.filter, procmail, maildrop) starts one process per
message, so what a message costs is the whole process: interpreter start, imports, config,
cleaning, exit. This runs, interleaved (one round = one run of each command, in a shuffled
order), N rounds of

    python -c pass                                    the interpreter alone, for scale
    pixelguard clean FIXTURE                          no config: the typical pipe filter
    pixelguard clean GENERATED                        a generated 20 kB newsletter
    pixelguard scan FIXTURE
    pixelguard clean --config CONFIG FIXTURE          a small config (validated by pydantic)

in two layouts: "installed", a fresh venv holding a copy of the package as `pip install`
puts it (what install.md does and an MDA runs), and "checkout venv", this venv as it is
(here an editable install, whose import hook every process of the venv loads). It prints
each command's median, min and max wall time, the median minus the interpreter's, and the
median CPU time (user + system) of the process, which shows the cost when other processes
make the wall time noisy. The `pixelguard` console scripts are run, as an MDA would.

Bytecode: a pip install byte-compiles the package; an editable install compiles on first
import and caches the .pyc, unless PYTHONDONTWRITEBYTECODE is set (then every process
compiles every pixelguard module again). So the checkout's package is byte-compiled first;
`--no-compile` skips that and shows what an uncached start costs.

    python benchmarks/cold_start.py              # 15 rounds
    python benchmarks/cold_start.py --rounds 30 --no-compile

To measure another version (e.g. a `git archive` snapshot) with this venv's packages, set
PIXELGUARD_SRC to the directory holding its `pixelguard` package.
"""
from __future__ import annotations

import argparse
import compileall
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "fixtures" / "demo-newsletter.eml"
TARGET_MS = 150.0

CONFIG = """\
defaults:
  action: strip
  allow: {hosts: [images.shop.example]}
  deny: {hosts: [ads.example]}
users:
  bob@example.org:
    action: rewrite
    deny: {hosts: [creepy.example]}
"""


ENV = dict(os.environ)
SRC = Path(os.environ.get("PIXELGUARD_SRC") or ROOT)
if "PIXELGUARD_SRC" in os.environ:
    ENV["PYTHONPATH"] = str(SRC)  # found before this venv's editable install


def this_venv() -> tuple[str, str]:
    """(python, pixelguard) of the running venv, whatever way pixelguard is installed in it."""
    return sys.executable, str(Path(sys.executable).with_name("pixelguard"))


def installed_venv(where: Path) -> tuple[str, str]:
    """(python, pixelguard) of a fresh venv holding a copy of the package as `pip install`
    puts it (install.md): files in site-packages, byte-compiled, a console script; its
    dependencies are taken from this venv's site-packages (a plain path: no .pth run)."""
    venv = where / "venv"
    subprocess.run([sys._base_executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = Path(sysconfig.get_paths(vars={"base": str(venv), "platbase": str(venv)})["purelib"])
    shutil.copytree(SRC / "pixelguard", site / "pixelguard",
                    ignore=shutil.ignore_patterns("__pycache__"))
    compileall.compile_dir(str(site / "pixelguard"), quiet=1)
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    body = Path(this_venv()[1]).read_text().split("\n", 1)[1]  # pip's script, our shebang
    script = venv / "bin" / "pixelguard"
    script.write_text(f"#!{venv}/bin/python\n{body}")
    script.chmod(0o755)
    return str(venv / "bin" / "python"), str(script)


def run(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the child): CPU time barely moves when other
    processes load the machine, wall time does."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True,
                   env=env)
    elapsed = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return elapsed, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=15, help="runs of each command (default 15)")
    ap.add_argument("--no-compile", action="store_true",
                    help="do not byte-compile the checkout's package first")
    args = ap.parse_args()
    if args.rounds < 10:
        ap.error("--rounds must be at least 10")
    if not args.no_compile:
        compileall.compile_dir(str(SRC / "pixelguard"), quiet=1)

    with tempfile.TemporaryDirectory(prefix="pgcold") as tmp:
        config = Path(tmp) / "pixelguard.yaml"
        config.write_text(CONFIG)
        generated = Path(tmp) / "news-20k.eml"
        with open(generated, "wb") as out:
            subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gen_newsletter.py"),
                            "20000", "--eml"], stdout=out, check=True)
        plain_env = {k: v for k, v in ENV.items() if k != "PYTHONPATH"}
        layouts = {"installed": (installed_venv(Path(tmp)), plain_env),
                   "checkout venv": (this_venv(), ENV)}
        commands: dict[tuple[str, str], tuple[list[str], dict[str, str]]] = {}
        for layout, ((python, pg), env) in layouts.items():
            for name, cmd in {
                "python -c pass": [python, "-c", "pass"],
                "clean demo-newsletter.eml": [pg, "clean", str(FIXTURE)],
                "clean generated 20 kB": [pg, "clean", str(generated)],
                "scan demo-newsletter.eml": [pg, "scan", str(FIXTURE)],
                "clean --config (small)": [pg, "clean", "--config", str(config), str(FIXTURE)],
            }.items():
                commands[(layout, name)] = (cmd, env)
        for cmd, env in commands.values():  # warm the page cache; not counted
            run(cmd, env)
        times: dict[tuple[str, str], list[float]] = {key: [] for key in commands}
        cpu: dict[tuple[str, str], list[float]] = {key: [] for key in commands}
        order = list(commands)
        rng = random.Random(17)
        for _ in range(args.rounds):
            rng.shuffle(order)
            for key in order:
                elapsed, used = run(*commands[key])
                times[key].append(elapsed)
                cpu[key].append(used)

    try:
        load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        load = "?"
    print(f"code: {SRC / 'pixelguard'}")
    print(f"{args.rounds} interleaved rounds; {os.cpu_count()} CPUs; load average after: {load}; "
          f"checkout bytecode {'as found' if args.no_compile else 'compiled first'}; "
          f"PYTHONDONTWRITEBYTECODE={os.environ.get('PYTHONDONTWRITEBYTECODE', '')!r}")
    for layout in layouts:
        base = statistics.median(times[(layout, "python -c pass")]) * 1000
        print(f"\n{layout + ' (wall ms)':<28} {'median':>7} {'min':>7} {'max':>7} "
              f"{'-python':>8} {'cpu ms':>7}")
        for (lay, name), ts in times.items():
            if lay != layout:
                continue
            med = statistics.median(ts) * 1000
            extra = "" if name == "python -c pass" else f"{med - base:.0f}"
            flag = ""
            if name.startswith("clean") and "--config" not in name:
                flag = "  ok" if med <= TARGET_MS else f"  over {TARGET_MS:.0f} ms"
            print(f"{name:<28} {med:7.0f} {min(ts) * 1000:7.0f} {max(ts) * 1000:7.0f} "
                  f"{extra:>8} {statistics.median(cpu[(lay, name)]) * 1000:7.0f}{flag}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
