"""Milter cost: messages/s accepted by a real Postfix with and without `pixelguard milter`.

    .venv/bin/python benchmarks/milter_bench.py [--messages 200] [--concurrency 4] [--rounds 5]
                                                [--unix] [--deliver discard|maildir|lmtp]

Everything is real and on this machine (run as root, Debian's postfix installed): one private
Postfix (tests/e2e/postfix.py) with two front smtpd ports that differ only in
`smtpd_milters` (none / `pixelguard milter` on loopback, milter_default_action=tempfail so a
milter failure shows as failed sends instead of fast uncleaned ones); both hand the accepted
mail to Postfix's `discard` transport (content_filter=discard:), so the numbers are
Postfix's own work (smtpd, cleanup, queue, qmgr) plus, on the milter port, the milter's.
With --deliver maildir both ports hand it instead to Postfix's `virtual` delivery agent,
which writes each message to a Maildir in the bench's temporary directory (a real delivery:
file written, fsync'ed, renamed into new/); with --deliver lmtp Postfix delivers over LMTP to
a private Dovecot (tests/e2e/dovecot.py) that writes alice's Maildir.
The load: --concurrency SMTP clients (threads, smtplib), each sending its share of
--messages over one connection; with `discard` a message counts when Postfix answered 250 to
its DATA, which, with the milter, is after the milter cleaned it; otherwise a round ends
when every accepted message of it is a file in the Maildir's new/ (files are removed between
rounds). The 1-minute load average (`uptime`) is printed with every round: the machine may be
shared. Messages are the real-sized
newsletters of relay_bench.py (shared/corpus/omnivore plus one open pixel whose URL is new
in every send).

Rounds alternate (without, with, without, ...); the table gives the median of each, and the
cost: 1 - with/without. Goal (issue 20): a cost of at most 30 %. Not a timed test: run it by
hand, paste the output into benchmarks/README.md.
"""
from __future__ import annotations

import argparse
import grp
import os
import pwd
import shutil
import smtplib
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
sys.path.insert(0, str(REPO / "tests" / "e2e"))

from dovecot import Dovecot, listen_port
from milter_harness import accepts
from postfix import Postfix
from relay_bench import children, cpu_seconds, newsletters, personalise


def send_all(port: int, messages: list[bytes], total: int, concurrency: int, start: int) -> tuple[float, int]:
    """(seconds, failures) to send `total` messages over `concurrency` connections."""
    failures = [0]
    lock = threading.Lock()

    def client(k: int) -> None:
        with smtplib.SMTP("127.0.0.1", port, timeout=120) as smtp:
            smtp.ehlo("bench.example")
            for n in range(k, total, concurrency):
                raw = personalise(messages[n % len(messages)], start + n)
                try:
                    smtp.sendmail("news@shop.example", ["alice@example.org"], raw)
                except smtplib.SMTPException:
                    with lock:
                        failures[0] += 1
                    smtp.rset()

    threads = [threading.Thread(target=client, args=(k,)) for k in range(concurrency)]
    began = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - began, failures[0]


# a master.cf service: Postfix's virtual(8) delivering every recipient to one Maildir
MAILDIR_SERVICE = """\
pgbench-maildir unix - n n - - virtual
  -o virtual_mailbox_base={base}
  -o virtual_mailbox_maps=static:alice/
  -o virtual_uid_maps=static:{uid}
  -o virtual_gid_maps=static:{gid}
  -o virtual_minimum_uid=1
"""


def delivered(new: Path) -> int:
    """Messages delivered to the Maildir so far (files in new/)."""
    try:
        return len(os.listdir(new))
    except FileNotFoundError:  # before the first delivery
        return 0


def wait_delivered(new: Path, expected: int, timeout: float = 300) -> bool:
    """Wait until `expected` messages are in `new`; False on timeout."""
    deadline = time.monotonic() + timeout
    while delivered(new) < expected:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


def empty(new: Path) -> None:
    if new.exists():
        for name in os.listdir(new):
            (new / name).unlink()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--messages", type=int, default=200, help="messages per round (default 200)")
    ap.add_argument("--concurrency", type=int, default=4, help="SMTP clients at once (default 4)")
    ap.add_argument("--rounds", type=int, default=5, help="rounds of each mode, alternating (default 5)")
    ap.add_argument("--unix", action="store_true", help="milter on a unix socket (default: inet loopback)")
    ap.add_argument("--workers", type=int, default=None, help="milter.workers (default: one per core)")
    ap.add_argument("--deliver", choices=("discard", "maildir", "lmtp"), default="discard",
                    help="what Postfix does with accepted mail: discard it (default), deliver it to a "
                         "Maildir itself, or over LMTP to Dovecot (then a message counts once it is a file "
                         "in the Maildir)")
    args = ap.parse_args()

    messages = newsletters()
    milter_port = listen_port()
    workdir = Path(subprocess.run(["mktemp", "-d", "/tmp/pgmilterbench.XXXXXX"], capture_output=True,
                                  text=True, check=True).stdout.strip())
    workdir.chmod(0o755)
    sock = workdir / "milter.sock"
    listen = f"unix:{sock}" if args.unix else f"inet:127.0.0.1:{milter_port}"
    services = ""
    new = workdir / "mail" / "alice" / "new"
    if args.deliver == "maildir":
        route = "content_filter=pgbench-maildir:"
        (workdir / "mail").mkdir()
        shutil.chown(workdir / "mail", "nobody", "nogroup")
        services = MAILDIR_SERVICE.format(base=workdir / "mail", uid=pwd.getpwnam("nobody").pw_uid,
                                          gid=grp.getgrnam("nogroup").gr_gid)
    elif args.deliver == "lmtp":
        route = "content_filter="  # relay_transport: LMTP to the Dovecot below
    else:
        route = "content_filter=discard:"
    dovecot = Dovecot(root_prefix="pgmbdc") if args.deliver == "lmtp" else None
    if dovecot is not None:
        dovecot.start()
        dovecot.add_user("alice@example.org")
        new = dovecot.root / "mail" / "alice@example.org" / "new"
    fronts = {
        "without": ["smtpd_milters=", route],
        "with": [f"smtpd_milters={listen}", "milter_default_action=tempfail", route],
    }
    config = workdir / "milter.yaml"
    config.write_text("milter:\n  timeout: 120\n" + (f"  workers: {args.workers}\n" if args.workers is not None else ""))
    log = open(workdir / "milter.log", "wb")  # noqa: SIM115 - lives as long as the milter
    milter = subprocess.Popen(
        [sys.executable, "-m", "pixelguard", "milter", "--config", str(config),
         "--listen", listen, "--log-level", "WARNING"],
        stderr=log, start_new_session=True, umask=0 if args.unix else -1)  # the postfix user connects
    postfix = Postfix(lmtp_port=dovecot.lmtp_port if dovecot else listen_port(), fronts=fronts, services=services)
    try:
        deadline = time.monotonic() + 60
        while not (sock.exists() if args.unix else accepts(milter_port)):
            if milter.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"milter did not start: {(workdir / 'milter.log').read_text()}")
            time.sleep(0.05)
        postfix.start()
        # warm-up: every newsletter once through each port (caches, Postfix processes)
        warm = 0
        for mode in ("without", "with"):
            warm += len(messages) * 2 - send_all(postfix.ports[mode], messages, len(messages) * 2, args.concurrency, 0)[1]
        if args.deliver != "discard" and not wait_delivered(new, warm):
            raise SystemExit(f"the warm-up was not delivered:\n{postfix.log_tail()}")
        loads = [os.getloadavg()[0]]
        print(f"load average (1 min) at the start: {loads[0]:.2f}", flush=True)
        rates: dict[str, list[float]] = {"without": [], "with": []}
        failed = {"without": 0, "with": 0}
        sent = 10_000
        cpu = {"milter": [], "workers": []}
        for r in range(args.rounds):
            for mode in ("without", "with"):
                workers = children(milter.pid)
                before = (cpu_seconds(milter.pid), sum(cpu_seconds(w) for w in workers))
                empty(new)
                began = time.perf_counter()
                seconds, failures = send_all(postfix.ports[mode], messages, args.messages, args.concurrency, sent)
                if args.deliver != "discard":
                    if not wait_delivered(new, args.messages - failures):
                        raise SystemExit(f"round {r + 1} {mode}: only {delivered(new)} of "
                                         f"{args.messages - failures} messages delivered:\n{postfix.log_tail()}")
                    seconds = time.perf_counter() - began
                if mode == "with":
                    cpu["milter"].append((cpu_seconds(milter.pid) - before[0]) / args.messages * 1000)
                    cpu["workers"].append((sum(cpu_seconds(w) for w in workers) - before[1]) / args.messages * 1000)
                sent += args.messages
                rates[mode].append((args.messages - failures) / seconds)
                failed[mode] += failures
                loads.append(os.getloadavg()[0])
                print(f"round {r + 1} {mode:>7} milter: {rates[mode][-1]:7.1f} msg/s"
                      f"{f' ({failures} failed)' if failures else ''}  load {loads[-1]:.2f}", flush=True)
        without, with_ = statistics.median(rates["without"]), statistics.median(rates["with"])
        print()
        where = {"discard": "discarded", "maildir": "delivered to a Maildir",
                 "lmtp": "delivered over LMTP to Dovecot"}[args.deliver]
        print(f"messages per round {args.messages}, {args.concurrency} clients, {args.rounds} rounds each, "
              f"{len(messages)} newsletters, milter on {listen.partition(':')[0]}, mail {where}; "
              f"load average (1 min) {min(loads):.2f}-{max(loads):.2f} on {os.cpu_count()} cores")
        print("| Postfix | msg/s (median) | rounds |")
        print("|---|---:|---|")
        print(f"| without milter | {without:.1f} | {', '.join(f'{x:.1f}' for x in rates['without'])} |")
        print(f"| with pixelguard milter | {with_:.1f} | {', '.join(f'{x:.1f}' for x in rates['with'])} |")
        print(f"milter CPU per message (median): {statistics.median(cpu['milter']):.1f} ms in the milter process "
              f"(libmilter threads, pymilter, hand-over), {statistics.median(cpu['workers']):.1f} ms in its "
              "cleaning workers")
        print(f"cost of the milter: {100 * (1 - with_ / without):.0f} % of Postfix's own throughput "
              f"(goal <= 30 %); failed sends: {failed['without']} without, {failed['with']} with")
    finally:
        postfix.stop()
        if milter.poll() is None:
            milter.terminate()
            milter.wait(60)
        if dovecot is not None:
            dovecot.stop()
        log.close()
        shutil.rmtree(workdir, ignore_errors=True)  # config, socket, log and Maildir of this run


if __name__ == "__main__":
    main()
