"""Benchmark `pixelguard imap --once` against a throwaway local Dovecot.

Measures the first pass over one folder of N messages (messages/s) and a no-op re-scan of
the same folder (seconds). Each run is a real `python -m pixelguard imap` process, so the
times include interpreter start-up and login.

    .venv/bin/python benchmarks/imap_bench.py [--messages 5000] [--tracked 0.6] [--html 0.8]

Needs dovecot (apt-get install dovecot-imapd dovecot-lmtpd). Results: benchmarks/IMAP.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "e2e"))
from dovecot import Dovecot

PARAGRAPH = (
    '<tr><td style="padding:12px;font-family:Arial,sans-serif;font-size:15px;color:#333">'
    '<h2 style="margin:0 0 8px">Story {i}: what changed this week</h2>'
    "<p>Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor "
    "incididunt ut labore et dolore magna aliqua. Ut enim ad minim veniam, quis nostrud "
    "exercitation ullamco laboris nisi ut aliquip ex ea commodo consequat.</p>"
    '<img src="https://images.news.example/story{i}.jpg" width="560" height="280" alt="story {i}">'
    '<p><a href="https://news.example/s/{i}?ref=mail">Read more</a></p></td></tr>\r\n'
)


def newsletter(n: int, tracked: bool) -> bytes:
    """A ~10 kB multipart/alternative newsletter, with or without a 1x1 open pixel."""
    rows = "".join(PARAGRAPH.format(i=i) for i in range(8))
    pixel = (
        f'<img src="https://t.news.example/open?m={n:06d}" width="1" height="1" alt="">'
        if tracked
        else ""
    )
    html = (
        f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>Weekly {n}</title></head>'
        f'<body><table width="600" align="center">\r\n{rows}</table>{pixel}</body></html>\r\n'
    )
    text = "Weekly news. Read it online at https://news.example/\r\n" * 8
    return (
        f"From: News <news@news.example>\r\nTo: bench@example.org\r\n"
        f"Subject: Weekly {n}\r\nMessage-ID: <bench-{n}@news.example>\r\n"
        f"Date: Mon, 02 Jan 2023 10:00:00 +0000\r\nMIME-Version: 1.0\r\n"
        f'Content-Type: multipart/alternative; boundary="b{n}"\r\n\r\n'
        f"--b{n}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{text}\r\n"
        f"--b{n}\r\nContent-Type: text/html; charset=utf-8\r\n\r\n{html}\r\n--b{n}--\r\n"
    ).encode()


def plain(n: int) -> bytes:
    return (
        f"From: Friend <friend@example.org>\r\nTo: bench@example.org\r\nSubject: Note {n}\r\n"
        f"Message-ID: <bench-plain-{n}@example.org>\r\n\r\n" + "Just text.\r\n" * 20
    ).encode()


def fill(server: Dovecot, user: str, count: int, tracked: float, html: float, seed: int) -> dict:
    rng = random.Random(seed)
    kinds = {"tracked": 0, "html": 0, "plain": 0}
    client = server.client(user)
    batch = []
    for n in range(count):
        r = rng.random()
        if r < tracked:
            raw, kind = newsletter(n, True), "tracked"
        elif r < html:
            raw, kind = newsletter(n, False), "html"
        else:
            raw, kind = plain(n), "plain"
        kinds[kind] += 1
        batch.append({"msg": raw, "flags": [b"\\Seen"] if n % 3 else []})
        if len(batch) == 200 or n == count - 1:
            client.multiappend("INBOX", batch)
            batch = []
    client.logout()
    return kinds


def run(config: str, password: str) -> tuple[float, str]:
    env = {**os.environ, "PIXELGUARD_BENCH_PASSWORD": password}
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "pixelguard", "imap", "--config", config, "--once", "--quiet"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        check=False,
    )
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"pixelguard imap failed ({proc.returncode}):\n{proc.stderr}")
    return elapsed, proc.stdout.strip()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=5000)
    ap.add_argument("--tracked", type=float, default=0.6, help="share with a tracking pixel")
    ap.add_argument("--html", type=float, default=0.8, help="share with HTML (tracked included)")
    ap.add_argument("--originals", default="pixelguard/originals")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    load_before = os.getloadavg()[0]  # other work on the machine skews the numbers; say so

    with Dovecot() as server, tempfile.TemporaryDirectory() as tmp:
        user = server.new_user("bench")
        t0 = time.perf_counter()
        kinds = fill(server, user, args.messages, args.tracked, args.html, args.seed)
        fill_s = time.perf_counter() - t0
        config = Path(tmp) / "bench.yaml"
        config.write_text(
            "imap:\n  accounts:\n"
            f"    - {{name: bench, host: 127.0.0.1, port: {server.imap_port}, security: none,\n"
            f"       username: {user}, password_env: PIXELGUARD_BENCH_PASSWORD,\n"
            f"       originals: {args.originals!r}}}\n"
        )
        first_s, first_out = run(str(config), server.password(user))
        rescan_s, rescan_out = run(str(config), server.password(user))

    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cpu(s), "
        f"Python {platform.python_version()}, "
        f"load average before/after: {load_before:.1f}/{os.getloadavg()[0]:.1f}"
    )
    print(
        f"folder: {args.messages} messages ({kinds['tracked']} tracked HTML, {kinds['html']} "
        f"clean HTML, {kinds['plain']} plain text); filled in {fill_s:.1f} s"
    )
    print(f"first pass: {first_s:.2f} s = {args.messages / first_s:.0f} messages/s")
    print(f"  {first_out}")
    print(f"no-op re-scan: {rescan_s:.2f} s (whole process, incl. start-up and login)")
    print(f"  {rescan_out}")


if __name__ == "__main__":
    main()
