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

and prints each command's median, min and max wall time, the median minus the
interpreter's, and the median CPU time (user + system) of the process, which shows the
cost when other processes make the wall time noisy. The `pixelguard` console script of this interpreter's venv is used, as an
MDA would run it.

Bytecode: a pip install byte-compiles the package; an editable install compiles on first
import and caches the .pyc, unless PYTHONDONTWRITEBYTECODE is set (then every process
compiles every pixelguard module again). So the package is byte-compiled first, as
installed; `--no-compile` skips that and shows what an uncached start costs.

    python benchmarks/cold_start.py              # 15 rounds
    python benchmarks/cold_start.py --rounds 30 --no-compile

To measure another version (e.g. a `git archive` snapshot) with this venv's packages, set
PIXELGUARD_SRC to the directory holding its `pixelguard` package (put first on PYTHONPATH).
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


def pixelguard_command() -> list[str]:
    script = Path(sys.executable).with_name("pixelguard")
    if script.exists():
        return [str(script)]
    found = shutil.which("pixelguard")
    return [found] if found else [sys.executable, "-m", "pixelguard"]


ENV = dict(os.environ)
SRC = Path(os.environ.get("PIXELGUARD_SRC") or ROOT)
if "PIXELGUARD_SRC" in os.environ:
    ENV["PYTHONPATH"] = str(SRC)  # found before this venv's editable install


def run(cmd: list[str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the child): CPU time barely moves when other
    processes load the machine, wall time does."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True,
                   env=ENV)
    elapsed = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return elapsed, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=15, help="runs of each command (default 15)")
    ap.add_argument("--no-compile", action="store_true",
                    help="do not byte-compile the package first")
    args = ap.parse_args()
    if args.rounds < 10:
        ap.error("--rounds must be at least 10")
    if not args.no_compile:
        compileall.compile_dir(str(SRC / "pixelguard"), quiet=1)

    pg = pixelguard_command()
    with tempfile.TemporaryDirectory(prefix="pgcold") as tmp:
        config = Path(tmp) / "pixelguard.yaml"
        config.write_text(CONFIG)
        generated = Path(tmp) / "news-20k.eml"
        with open(generated, "wb") as out:
            subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gen_newsletter.py"),
                            "20000", "--eml"], stdout=out, check=True)
        commands = {
            "python -c pass": [sys.executable, "-c", "pass"],
            "clean demo-newsletter.eml": [*pg, "clean", str(FIXTURE)],
            "clean generated 20 kB": [*pg, "clean", str(generated)],
            "scan demo-newsletter.eml": [*pg, "scan", str(FIXTURE)],
            "clean --config (small)": [*pg, "clean", "--config", str(config), str(FIXTURE)],
        }
        for cmd in commands.values():  # warm the page cache; not counted
            run(cmd)
        times: dict[str, list[float]] = {name: [] for name in commands}
        cpu: dict[str, list[float]] = {name: [] for name in commands}
        order = list(commands)
        rng = random.Random(17)
        for _ in range(args.rounds):
            rng.shuffle(order)
            for name in order:
                elapsed, used = run(commands[name])
                times[name].append(elapsed)
                cpu[name].append(used)

    base = statistics.median(times["python -c pass"]) * 1000
    try:
        load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        load = "?"
    print(f"code: {SRC / 'pixelguard'}")
    print(f"{args.rounds} interleaved rounds; {os.cpu_count()} CPUs; load average after: {load}; "
          f"bytecode {'as found' if args.no_compile else 'compiled first'}; "
          f"PYTHONDONTWRITEBYTECODE={os.environ.get('PYTHONDONTWRITEBYTECODE', '')!r}")
    print(f"{'command (wall ms)':<28} {'median':>7} {'min':>7} {'max':>7} {'-python':>8}"
          f" {'cpu ms':>7}")
    for name, ts in times.items():
        med = statistics.median(ts) * 1000
        extra = "" if name == "python -c pass" else f"{med - base:.0f}"
        flag = ""
        if name.startswith("clean") and "--config" not in name:
            flag = "  ok" if med <= TARGET_MS else f"  over {TARGET_MS:.0f} ms"
        print(f"{name:<28} {med:7.0f} {min(ts) * 1000:7.0f} {max(ts) * 1000:7.0f} {extra:>8}"
              f" {statistics.median(cpu[name]) * 1000:7.0f}{flag}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
