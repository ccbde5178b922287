"""What each memory of pixelguard.cache.Cache is worth: two workloads cleaned with all
memories, and with one memory or a group of them turned off (replaced by one that keeps
nothing). Not a timed test: run by hand; benchmarks/README.md, "What the core keeps between
messages", has the table it reproduces and the rule that decides which memories stay.

    .venv/bin/python benchmarks/memories_bench.py                       # every memory, both workloads
    .venv/bin/python benchmarks/memories_bench.py --off urls --off styles,boxes --rounds 5

Workloads, each cleaned once per message in one process, one Cache carried from message to
message:
- (a) `corpus`, the cold corpus: every shared-corpus message with an HTML part plus 10
  generated 30 kB newsletters (seeds 1-10): mostly mail never seen before;
- (b) `stream`, the template stream: core_bench.template_stream(), 160 messages from 4
  newsletters taken in turn, each personalised.

Every run is a process of its own (the collector set up after a warm-up as the adapters do,
core_bench.tune_collector); the CPU time of the whole workload is measured. The settings
take turns, in reversed order every other round, so the machine's load falls on all of them;
the table gives each setting's median over the rounds and its ratio to all memories on.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
WORKLOADS = ("corpus", "stream")


class _KeepsNothing:
    """A memory turned off."""

    largest = 0
    chars = 0
    used = 0

    def get(self, key: object, default: object = None) -> object:
        return default

    def put(self, key: object, value: object, cost: int) -> None:
        pass

    def __contains__(self, key: object) -> bool:
        return False

    def __len__(self) -> int:
        return 0


def memory_names() -> list[str]:
    """The memories a Cache holds, by attribute name."""
    from pixelguard.cache import Cache, Memory

    return [name for name, value in vars(Cache()).items() if isinstance(value, Memory)]


def default_settings(names: list[str]) -> list[tuple[str, ...]]:
    """Every memory alone, the groups that serve one kind of text, and all of them."""
    groups = [("styles", "style_facts", "boxes"), ("sheets", "sheet_facts"),
              tuple(n for n in names if n in ("resolved", "urls", "verdicts"))]
    return ([(n,) for n in names] + [g for g in groups if g and set(g) <= set(names)]
            + [tuple(names)])


def child(workload: str, off: tuple[str, ...]) -> None:
    sys.path.insert(0, str(HERE))
    import core_bench
    from gen_newsletter import RECIPIENT, as_message, newsletter

    from pixelguard import Policy, clean_message
    from pixelguard.cache import Cache

    if workload == "corpus":
        pol = Policy(recipients=(RECIPIENT,))
        msgs = core_bench.corpus_with_html() + [(as_message(newsletter(30_000, seed)), pol)
                                                 for seed in range(1, 11)]
    else:
        msgs = core_bench.template_stream()

    def fresh() -> Cache:
        cache = Cache()
        for name in off:
            setattr(cache, name, _KeepsNothing())
        return cache

    clean_message(b"Subject: warm-up\r\n\r\n<p>x</p>\r\n", Policy(), fresh())
    core_bench.tune_collector("adapters")
    cache = fresh()
    t0 = time.process_time()
    for raw, pol in msgs:
        clean_message(raw, pol, cache)
    print(json.dumps({"total": time.process_time() - t0, "n": len(msgs),
                      "source": core_bench.SOURCE}))


def run(workload: str, off: tuple[str, ...]) -> dict:
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    out = subprocess.run([sys.executable, __file__, "--child", workload, ",".join(off)],
                         capture_output=True, text=True, check=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--off", action="append", default=[],
                    help="memories turned off together, comma-separated (repeat for more "
                         "settings; default: each memory, the groups, all)")
    ap.add_argument("--workload", choices=(*WORKLOADS, "both"), default="both")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child[0], tuple(n for n in args.child[1].split(",") if n))
        return 0
    sys.path.insert(0, str(HERE))
    import core_bench  # (pins the pixelguard measured: PIXELGUARD_SRC)

    names = memory_names()
    settings = ([tuple(s.split(",")) for s in args.off] if args.off
                else default_settings(names))
    unknown = sorted({n for s in settings for n in s} - set(names))
    if unknown:
        print(f"not a memory of Cache: {', '.join(unknown)} (they are: {', '.join(names)})",
              file=sys.stderr)
        return 2
    settings = [(), *settings]
    workloads = WORKLOADS if args.workload == "both" else (args.workload,)
    print(f"{core_bench.SOURCE}; {args.rounds} rounds; load average at start "
          f"{os.getloadavg()[0]:.2f}")
    totals: dict[tuple[str, tuple[str, ...]], list[float]] = {}
    for r in range(args.rounds):
        for workload in workloads:
            for off in (settings if r % 2 == 0 else settings[::-1]):
                totals.setdefault((workload, off), []).append(run(workload, off)["total"])
        print(f"round {r + 1} done, load average {os.getloadavg()[0]:.2f}", file=sys.stderr,
              flush=True)
    print("\n| memory off | " + " | ".join(f"({w}) median s | ÷ all on" for w in workloads)
          + " |")
    print("|---|" + "---|---|" * len(workloads))
    for off in settings:
        cells = []
        for workload in workloads:
            median = statistics.median(totals[(workload, off)])
            base = statistics.median(totals[(workload, ())])
            cells.append(f"{median:.2f} | {median / base:.3f}")
        print(f"| {', '.join(off) or '(none: all memories on)'} | " + " | ".join(cells) + " |")
    print(f"\nload average at the end {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
