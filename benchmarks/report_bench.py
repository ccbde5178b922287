"""Benchmark `pixelguard report` over a big Maildir: headers only, so time and memory should
grow with the number of messages, not with their size.

Writes N messages (300 really cleaned ones, repeated, each with a body of --body-kb KB) into
a temporary Maildir, then runs `python -m pixelguard report` (text, then --json --html) as
real processes and prints wall time, CPU time and peak RSS of each.

    .venv/bin/python benchmarks/report_bench.py [--messages 100000] [--body-kb 40]
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from report_mail import varied_messages


def run(args: list[str]) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds and peak RSS (KB) of one report process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "pixelguard", "report", *args], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, after.ru_maxrss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--body-kb", type=int, default=40)
    args = parser.parse_args()
    body = b"<p>" + b"x" * (args.body_kb * 1024) + b"</p>\r\n"
    templates = varied_messages(300)
    with tempfile.TemporaryDirectory() as tmp:
        box = Path(tmp) / "Maildir"
        for sub in ("cur", "new", "tmp"):
            (box / sub).mkdir(parents=True)
        for i in range(args.messages):
            (box / "cur" / f"{i}.bench:2,S").write_bytes(templates[i % 300] + body)
        for label, extra in (("text", []), ("json+html", ["--json", "--html", f"{tmp}/r.html"])):
            wall, cpu, rss = run([*extra, str(box)])
            print(f"{label:<10} {args.messages} messages ({args.body_kb} KB bodies): "
                  f"{wall:.1f} s wall, {cpu:.1f} s CPU, {1e6 * cpu / args.messages:.0f} µs CPU "
                  f"per message, peak RSS {rss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
