"""Relay throughput and latency: cleaning relay vs the same relay with cleaning switched off.

    .venv/bin/python benchmarks/relay_bench.py [--messages 400] [--concurrency 1,8,32] [--rounds 3]

Everything is real and on this machine: the load generator (aiosmtplib clients), the relay
(`pixelguard relay` as its own process, default worker pool; the pass-through baseline is the
same relay with a cleaner that forwards untouched, benchmarks/pass_through_relay.py), and a
next hop (an aiosmtpd sink in its own process that accepts and discards). Messages are
real-sized newsletters: the HTML files of shared/corpus/omnivore (read at run time, never
copied into the project), each wrapped as a text/html message with one extra 1x1 open
pixel, whose URL is new in every message sent (a real open pixel's names its recipient).

Each run starts with a warm-up in which every cleaning worker sees every newsletter (the
steady state of a relay that has been running, or one delivering a campaign to many people).
With --cold every message sent carries <style> blocks and remote URLs the relay has never
seen (a unique comment in each block, a unique #fragment on each URL), so nothing comes from
what the core keeps between messages (parsed stylesheets, URL facts, tags with those URLs):
the worst case, a relay meeting every template for the first time.

Each (clients, mode) is run --rounds times, pass-through and cleaning alternating, and the
table gives the median round: on a shared 2-core VM one run swings by +-20%. "paired
rounds" is the median, over the rounds, of cleaning / the pass-through round just before.
"CPU ms/msg" is the median over the rounds of the CPU time (user + system) that all the
processes taking part spent per message: load generator, relay, its cleaning workers and
the sink. The last column, pass-through CPU / cleaning CPU, is what the throughput ratio
would be if both modes kept both cores busy; the measured ratio is higher where the
pass-through relay leaves part of the cores idle (here it keeps about 1.5 of 2 busy).

Not a timed test: run it by hand, paste the table into benchmarks/RELAY.md.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import re
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "corpus" / "omnivore"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


PIXEL_ID = "bench-0000000"  # replaced in every message sent (personalise())


def newsletters() -> list[bytes]:
    files = sorted(CORPUS.glob("*.html"))
    if not files:
        raise SystemExit(f"no newsletters found in {CORPUS}")
    out = []
    for i, path in enumerate(files):
        html = path.read_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        pixel = f'<img src="https://click.news.example/open/{i}.gif?u={PIXEL_ID}" width="1" height="1">\r\n'.encode()
        head = (
            f"From: news@shop.example\r\nTo: alice@example.org\r\nSubject: bench {path.stem}\r\n"
            f"Message-ID: <bench{i}@shop.example>\r\nMIME-Version: 1.0\r\n"
            "Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        ).encode()
        out.append(head + html + b"\r\n" + pixel)
    return out


# --------------------------------------------------------------------------- the sink


def run_sink(port: int) -> None:
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import SMTP

    class BigLines(SMTP):
        line_length_limit = 1 << 20

    class Sink:
        async def handle_DATA(self, server, session, envelope):
            return "250 2.0.0 Ok: discarded"

    class C(Controller):
        def factory(self):
            return BigLines(self.handler, **self.SMTP_kwargs)

    controller = C(Sink(), hostname="127.0.0.1", port=port, enable_SMTPUTF8=True, decode_data=False)
    controller.start()
    print("ready", flush=True)
    try:
        sys.stdin.read()  # until the parent closes our stdin
    finally:
        controller.stop()


# --------------------------------------------------------------------------- the load


def personalise(raw: bytes, n: int) -> bytes:
    """`raw` as sent the n-th time: its open pixel's URL names this send."""
    return raw.replace(PIXEL_ID.encode(), b"bench-%07d" % n, 1)


_REMOTE_URL = re.compile(rb"""https?://[^\s"'()<>]+""")


def new_template(raw: bytes, n: int) -> bytes:
    """`raw` with a comment unique to send n at the end of each <style> block and a #fragment
    unique to it on each remote URL: stylesheets and URLs the relay has never seen (a relay
    serving few people meets most templates for the first time)."""
    raw = raw.replace(b"</style>", b"/* send %d */</style>" % n)
    return _REMOTE_URL.sub(lambda m: m.group() + b"#s%d" % n, raw)


async def load(port: int, messages: list[bytes], total: int, concurrency: int,
               cold: bool = False) -> tuple[float, list[float], int]:
    import aiosmtplib

    latencies: list[float] = []
    failures = 0
    counter = iter(range(total))

    async def client() -> None:
        nonlocal failures
        smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=120, local_hostname="bench", start_tls=False)
        await smtp.connect()
        try:
            for n in counter:
                raw = personalise(messages[n % len(messages)], n)
                if cold:
                    raw = new_template(raw, n)
                t0 = time.perf_counter()
                try:
                    await smtp.sendmail("news@shop.example", ["alice@example.org"], raw)
                except aiosmtplib.SMTPException:
                    failures += 1
                    continue
                latencies.append(time.perf_counter() - t0)
        finally:
            await smtp.quit()

    start = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    return time.perf_counter() - start, latencies, failures


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc); 0.0 once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children(pid: int) -> list[int]:
    """The child processes of `pid` (the relay's cleaning workers)."""
    out: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                out += [int(c) for c in f.read().split()]
    except OSError:
        pass
    return out


def wait_listening(port: int, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"relay exited: {proc.stderr.read() if proc.stderr else ''}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                if s.recv(100).startswith(b"220"):
                    return
        except OSError:
            time.sleep(0.05)
    raise SystemExit("relay did not start")


def bench_mode(clean: bool, sink: tuple[int, int], messages: list[bytes], total: int,
               concurrency: int, cold: bool = False) -> dict:
    sink_port, sink_pid = sink
    port = free_port()
    program = ["-m", "pixelguard", "relay"] if clean else [str(Path(__file__).with_name("pass_through_relay.py"))]
    args = [sys.executable, *program, "--listen", f"127.0.0.1:{port}",
            "--next-hop", f"smtp://127.0.0.1:{sink_port}", "--log-level", "WARNING"]
    relay = subprocess.Popen(args, cwd=REPO, stderr=subprocess.PIPE, text=True)
    try:
        wait_listening(port, relay)
        # Warm-up: every worker sees every newsletter (steady state of a relay that has been
        # running: its per-template caches, e.g. parsed <style> blocks, are filled).
        asyncio.run(load(port, messages, max(4 * concurrency, 3 * len(messages)), concurrency))
        # CPU of every process taking part, over the measured run: the relay and its
        # workers, the sink, and this process (the load generator)
        pids = [relay.pid, sink_pid] + children(relay.pid)
        cpu_before = sum(cpu_seconds(p) for p in pids) + time.process_time()
        elapsed, lat, failures = asyncio.run(load(port, messages, total, concurrency, cold))
        cpu = sum(cpu_seconds(p) for p in pids) + time.process_time() - cpu_before
    finally:
        relay.terminate()
        relay.wait(60)
    lat.sort()
    return {
        "mode": "cleaning" if clean else "pass-through",
        "concurrency": concurrency,
        "messages": len(lat),
        "failures": failures,
        "msgs_per_s": len(lat) / elapsed,
        "p50_ms": statistics.median(lat) * 1000,
        "p99_ms": lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000,
        "cpu_ms": cpu * 1000 / max(1, len(lat)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=400, help="messages per run (default 400)")
    parser.add_argument("--concurrency", default="1,8,32", help="client counts, comma separated")
    parser.add_argument("--rounds", type=int, default=3, help="runs per (clients, mode); the median is shown")
    parser.add_argument("--cold", action="store_true",
                        help="give every message <style> blocks and URLs the relay has not seen "
                             "before (its caches of parsed stylesheets and URL facts never hit)")
    parser.add_argument("--sink", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.sink:
        run_sink(args.sink)
        return
    messages = newsletters()
    sizes = sorted(len(m) for m in messages)
    print(f"{len(messages)} newsletters, {sizes[0] // 1000}-{sizes[-1] // 1000} kB "
          f"(median {statistics.median(sizes) / 1000:.0f} kB); {os.cpu_count()} cores")
    sink_port = free_port()
    sink = subprocess.Popen([sys.executable, __file__, "--sink", str(sink_port)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    assert sink.stdout is not None and sink.stdout.readline().strip() == "ready"
    rows = []
    try:
        for concurrency in (int(c) for c in args.concurrency.split(",")):
            runs: dict[bool, list[dict]] = {False: [], True: []}
            for _round in range(max(1, args.rounds)):
                for clean in (False, True):
                    runs[clean].append(bench_mode(clean, (sink_port, sink.pid), messages,
                                                  args.messages, concurrency, args.cold))
            # The machine's speed drifts over minutes: each cleaning round is also compared
            # with the pass-through round run just before it, and the median of those ratios
            # given beside the ratio of the medians.
            paired = statistics.median(
                c["msgs_per_s"] / p["msgs_per_s"] for p, c in zip(runs[False], runs[True]))
            for clean in (False, True):
                rounds = sorted(runs[clean], key=lambda r: r["msgs_per_s"])
                row = dict(rounds[len(rounds) // 2])  # the median round
                row["range"] = f"{rounds[0]['msgs_per_s']:.0f}-{rounds[-1]['msgs_per_s']:.0f}"
                row["paired"] = paired if clean else 1.0
                row["cpu_median"] = statistics.median(r["cpu_ms"] for r in runs[clean])
                rows.append(row)
    finally:
        assert sink.stdin is not None
        sink.stdin.close()
        sink.wait(30)
    print(f"median of {max(1, args.rounds)} rounds per row (msgs/s range in brackets)"
          + ("; every message with <style> blocks and URLs never seen before" if args.cold else ""))
    print("| clients | mode | msgs/s | p50 ms | p99 ms | failures | cleaning / pass-through "
          "| paired rounds | CPU ms/msg | pass-through / cleaning CPU |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        base = next(r for r in rows if r["concurrency"] == row["concurrency"] and r["mode"] == "pass-through")
        ratio = row["msgs_per_s"] / base["msgs_per_s"]
        print(f"| {row['concurrency']} | {row['mode']} | {row['msgs_per_s']:.0f} ({row['range']}) | "
              f"{row['p50_ms']:.1f} | {row['p99_ms']:.1f} | {row['failures']} | {ratio:.0%} "
              f"| {row['paired']:.0%} | {row['cpu_median']:.1f} "
              f"| {base['cpu_median'] / row['cpu_median']:.0%} |")


if __name__ == "__main__":
    main()
