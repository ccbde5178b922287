"""The core with some of its modules compiled by mypyc, against the same code as pure Python:
CPU time per message of `clean_message`, the sides taking turns. Research, not part of the
build: mypyc comes with mypy, installed by hand (`.venv/bin/pip install mypy`; it needs gcc,
the Python headers and setuptools). benchmarks/README.md, "A compiled core (mypyc)", has the
numbers and the typing changes the modules need before mypyc accepts them.

    # `pixelguard/` of a commit copied to a directory (twice: one stays pure)
    .venv/bin/python benchmarks/compiled_bench.py copy HEAD /tmp/pg-c/compiled
    # compile modules of it in place (MODULES below by default): each module's .so sits
    # beside its .py, and Python imports a module's extension before its source
    .venv/bin/python benchmarks/compiled_bench.py build /tmp/pg-c/compiled [MODULE.py ...]
    # the sides give the same results? then how fast is each?
    .venv/bin/python benchmarks/compiled_bench.py outputs /tmp/pg-c/pure /tmp/pg-c/compiled
    .venv/bin/python benchmarks/compiled_bench.py measure /tmp/pg-c/pure /tmp/pg-c/compiled

A side is a directory holding `pixelguard/`, run by this interpreter, or PYTHON=DIR, run by
another (with the core's dependencies installed). The first side is the reference. A module
mypy rejects does not compile: `build` prints mypy's errors and builds nothing.

Workloads (--mode), each cleaned as a milter's or relay's cleaning worker does (one Cache, 2
warm-up passes, then the collector tuned by gc_tuning.for_many_messages):
- warm: benchmarks/relay_bench.py's newsletters() (the 18 real-sized newsletters of the shared
  corpus, 60 kB mean), each send with a new open-pixel URL (personalise()), under
  `Policy(recipients=("alice@example.org",))`; a pass is the 18 newsletters;
- cold: the same, every send also with a new comment in each <style> and a new #fragment on
  each remote URL (relay_bench.new_template): nothing comes from the Cache;
- corpus: the shared corpus as core_bench.py reads it, its policy per message, a new Cache per
  message (core_bench.py --cold); a pass is the next CORPUS_CHUNK messages.

`measure` starts one process per side, --rounds times; in each round the sides clean one pass
each in turn, --passes times, the order alternating, so that both meet the same load from the
rest of the shared machine. Time is the process's CPU (time.process_time). Printed per side:
the median and best pass, and the median over all turns of the reference's time / this
side's in the same turn. `outputs` compares what the sides make of three passes (output bytes,
findings, error, skipped), message by message; benchmarks/compare_outputs.py does the same on
the whole corpus and 5,000 generated messages.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent

# The core's modules on a message's path that mypyc compiles (with the small typing changes
# the README lists); detect/signals.py is left out: its lazy attributes are descriptors set
# on the class after it is made, which a native class does not allow.
MODULES = (
    "pixelguard/htmlscan.py",
    "pixelguard/css.py",
    "pixelguard/urls.py",
    "pixelguard/detect/__init__.py",
    "pixelguard/detect/generated.py",
    "pixelguard/detect/leak.py",
    "pixelguard/detect/nested.py",
    "pixelguard/detect/shape.py",
    "pixelguard/detect/vectors.py",
    "pixelguard/detect/visibility.py",
    "pixelguard/notice/placement.py",
    "pixelguard/core.py",
    "pixelguard/message.py",
)
MODES = ("warm", "cold", "corpus")
MYPY_CONFIG = """\
[mypy]
ignore_missing_imports = True
follow_imports = silent
"""


def copy_tree(commit: str, dest: Path) -> None:
    dest.mkdir(parents=True, exist_ok=False)
    archive = subprocess.run(["git", "-C", str(REPO), "archive", commit, "pixelguard"],
                             check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)


def build(tree: Path, modules: list[str]) -> int:
    mypyc = Path(sys.executable).with_name("mypyc")
    if not mypyc.exists():
        print(f"no {mypyc}: install mypy into this venv first", file=sys.stderr)
        return 2
    with tempfile.NamedTemporaryFile("w", suffix=".ini", delete=False) as cfg:
        cfg.write(MYPY_CONFIG)
    try:
        return subprocess.run([str(mypyc), "--config-file", cfg.name, *modules],
                              cwd=tree, check=False).returncode
    finally:
        os.unlink(cfg.name)


# --------------------------------------------------------------------------- one side


def _import_side(tree: str):
    """Import pixelguard from `tree` (an editable install of this checkout taken off the
    import path) and relay_bench's messages; returns (pixelguard, compiled module names)."""
    sys.meta_path[:] = [f for f in sys.meta_path
                        if not str(getattr(f, "__module__", "")).startswith("__editable__")]
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != REPO]
    sys.path.insert(0, tree)
    sys.path.insert(1, str(HERE))
    import pixelguard
    import pixelguard.core

    if not pixelguard.__file__.startswith(tree):
        raise SystemExit(f"pixelguard imported from {pixelguard.__file__}, not {tree}")
    compiled = sorted(name for name, mod in sys.modules.items()
                      if name.startswith("pixelguard")
                      and str(getattr(mod, "__file__", "")).endswith(".so"))
    return pixelguard, compiled


CORPUS_CHUNK = 34  # corpus messages per pass (--corpus)


def _workload(mode: str):
    """The passes of `mode` (see the module's docstring): returns (policy of a message,
    whether each message gets a new Cache, the function that gives the next pass)."""
    from pixelguard import Policy

    if mode == "corpus":
        from core_bench import CORPUS, corpus_files, policy_for

        messages = [p.read_bytes() for p in corpus_files(CORPUS)]
        chunks = [messages[i:i + CORPUS_CHUNK] for i in range(0, len(messages), CORPUS_CHUNK)]
        turn = 0

        def corpus_pass() -> list[bytes]:
            nonlocal turn
            turn += 1
            return chunks[(turn - 1) % len(chunks)]

        return policy_for, True, corpus_pass

    from relay_bench import new_template, newsletters, personalise

    letters = newsletters()
    policy = Policy(recipients=("alice@example.org",))
    n = 0

    def one_pass() -> list[bytes]:
        nonlocal n
        out = []
        for raw in letters:
            raw = personalise(raw, n)
            out.append(new_template(raw, n) if mode == "cold" else raw)
            n += 1
        return out

    return (lambda raw: policy), False, one_pass


def serve(tree: str, mode: str) -> None:
    """One side: warm up, then clean one pass for each line read from stdin, answering with
    its CPU milliseconds per message."""
    pixelguard, compiled = _import_side(tree)
    from pixelguard import gc_tuning
    from pixelguard.cache import Cache

    policy_of, fresh, next_pass = _workload(mode)
    cache = Cache()
    for _ in range(2):
        for raw in next_pass():
            pixelguard.clean_message(raw, policy_of(raw), Cache() if fresh else cache)
    gc_tuning.for_many_messages()
    print(json.dumps({"compiled": compiled}), flush=True)
    for _ in sys.stdin:
        sends = [(raw, policy_of(raw), Cache() if fresh else None) for raw in next_pass()]
        t0 = time.process_time()
        for raw, policy, own in sends:
            pixelguard.clean_message(raw, policy, own or cache)
        print((time.process_time() - t0) * 1e3 / len(sends), flush=True)


def digests(tree: str, mode: str) -> dict:
    """What the side makes of every message of three passes, one digest per message."""
    pixelguard, compiled = _import_side(tree)
    from pixelguard.cache import Cache

    policy_of, fresh, next_pass = _workload(mode)
    cache = Cache()
    out = []
    for _ in range(3):
        for raw in next_pass():
            r = pixelguard.clean_message(raw, policy_of(raw), Cache() if fresh else cache)
            h = hashlib.sha256(r.raw)
            h.update(repr((r.findings, r.error, getattr(r, "skipped", None))).encode())
            out.append(h.hexdigest())
    return {"digests": out, "compiled": compiled}


def _side_cmd(cmd: str, side: str, mode: str) -> list[str]:
    """A side is DIR, run by this interpreter, or PYTHON=DIR (another interpreter, with the
    core's dependencies installed)."""
    python, _, tree = side.rpartition("=")
    return [python or sys.executable, str(Path(__file__).resolve()), cmd,
            str(Path(tree).resolve()), mode]


_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def measure(args: argparse.Namespace) -> None:
    """--rounds times: start one process per side, then --passes times let each clean one
    pass in turn (the order alternating), so that the sides' passes are measured close
    together in time and under the same load from the rest of the machine. Per side: the
    median pass over all rounds, and the median over all turns of the first side's pass /
    this side's pass of the same turn."""
    sides: list[str] = args.trees
    times: dict[str, list[float]] = {t: [] for t in sides}
    ratios: dict[str, list[float]] = {t: [] for t in sides}
    loads = []
    for r in range(args.rounds):
        procs = {t: subprocess.Popen(_side_cmd("serve", t, args.mode), stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, env=_ENV)
                 for t in sides}
        try:
            for tree, proc in procs.items():
                compiled = json.loads(proc.stdout.readline())["compiled"]
                if r == 0:
                    print(f"{tree}: {len(compiled)} compiled modules "
                          f"{' '.join(compiled) or '-'}", flush=True)
            this: dict[str, list[float]] = {t: [] for t in sides}
            for k in range(args.passes):
                for tree in (sides if k % 2 == 0 else sides[::-1]):
                    procs[tree].stdin.write("go\n")
                    procs[tree].stdin.flush()
                    this[tree].append(float(procs[tree].stdout.readline()))
        finally:
            for proc in procs.values():
                proc.stdin.close()
                proc.wait()
        for tree in sides:
            times[tree] += this[tree]
            ratios[tree] += [a / b for a, b in zip(this[sides[0]], this[tree])]
        loads.append(os.getloadavg()[0])
        print(f"round {r + 1} (load {loads[-1]:.1f}): "
              + "  ".join(f"{statistics.median(this[t]):.3f}" for t in sides), flush=True)
    print(f"\nCPU ms per message ({args.mode}; {args.rounds} rounds, each {args.passes} "
          f"alternating passes per side; 1-minute load "
          f"{min(loads):.1f}-{max(loads):.1f}):")
    for tree in sides:
        ts = times[tree]
        q = statistics.quantiles(ratios[tree], n=4)
        print(f"  {tree:40} median {statistics.median(ts):6.3f}  best {min(ts):6.3f}  "
              f"speed-up {statistics.median(ratios[tree]):.2f}x "
              f"(quartiles {q[0]:.2f}-{q[2]:.2f})")


def _digests_of(tree: str, mode: str) -> list[str]:
    out = subprocess.run(_side_cmd("digests", tree, mode), stdout=subprocess.PIPE, text=True,
                         env=_ENV, check=True).stdout
    return json.loads(out)["digests"]


def outputs(args: argparse.Namespace) -> int:
    first, *rest = args.trees
    want = _digests_of(first, args.mode)
    bad = 0
    for tree in rest:
        got = _digests_of(tree, args.mode)
        diff = sum(a != b for a, b in zip(want, got)) + abs(len(want) - len(got))
        print(f"{tree}: {diff} of {len(want)} results differ from {first}")
        bad += diff
    return 1 if bad else 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("copy", help="copy pixelguard/ of COMMIT into DEST")
    p.add_argument("commit")
    p.add_argument("dest", type=Path)
    p = sub.add_parser("build", help="compile MODULES of TREE with mypyc, in place")
    p.add_argument("tree", type=Path)
    p.add_argument("modules", nargs="*", default=list(MODULES))
    for name in ("measure", "outputs"):
        p = sub.add_parser(name)
        p.add_argument("trees", nargs="+", metavar="[PYTHON=]DIR",
                       help="directories holding pixelguard/, each run by PYTHON if given")
        p.add_argument("--rounds", type=int, default=5, help="new processes, this many times")
        p.add_argument("--passes", type=int, default=20, help="timed passes per round and side")
        p.add_argument("--mode", choices=MODES, default="warm", help="see the docstring")
    for name in ("serve", "digests"):  # one side, in its own process
        p = sub.add_parser(name)
        p.add_argument("tree")
        p.add_argument("mode", choices=MODES)
    args = ap.parse_args()
    if args.cmd == "copy":
        copy_tree(args.commit, args.dest)
    elif args.cmd == "build":
        return build(args.tree, args.modules)
    elif args.cmd == "measure":
        measure(args)
    elif args.cmd == "outputs":
        return outputs(args)
    elif args.cmd == "serve":
        serve(args.tree, args.mode)
    elif args.cmd == "digests":
        print(json.dumps(digests(args.tree, args.mode)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
