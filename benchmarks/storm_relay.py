"""Fault storm for the relay: Postfix -> pixelguard relay -> Dovecot LMTP, with chaos.

Real processes and sockets only, all on 127.0.0.1:

    injector --SMTP--> Postfix (content_filter) --SMTP--> cutting proxy --> `pixelguard relay`
                                                                              | LMTP
                                                                              v
                                                               Dovecot (Maildirs counted)

N messages (each its own Message-ID and envelope sender; a share with a 1x1 open pixel, a
share of clean HTML, a share of plain text; one in ten for two recipients) are submitted
to the first Postfix while a chaos loop, at random moments (seeded RNG), does one of:

* kill-hop:   SIGKILL Dovecot (master and every child), restart it after 0.2-2 s;
* stall-hop:  SIGSTOP Dovecot for longer than the relay's next-hop timeout, then SIGCONT;
* kill-worker: SIGKILL one of the relay's cleaning worker processes (children of the relay);
* cut-data:   the proxy between Postfix and the relay drops the next Postfix connection
              in the middle of its message content (before the final dot);
* half-data:  a client of our own sends half of a message (its own "ghost" Message-ID)
              straight to the relay and closes the connection.

Each round of five faults has each kind once, in a random order.

Then the chaos stops, Postfix's queue is flushed until empty, and every Maildir is read.
Passes when every (Message-ID, recipient) the first Postfix accepted was delivered, none
lost, none more than once except where SMTP itself cannot tell: the relay logged a next-hop
failure after DATA for that message, while the chaos loop had the next hop killed or
stalled (it died or stopped before its 250 came back, so it may have stored the message),
Postfix then retried, and the retry was delivered too. Those are counted apart: each extra
copy needs its own such line in the relay's log. No ghost
Message-ID may arrive; a tracked message must arrive cleaned, or marked
`X-PixelGuard: error` (its cleaning worker was killed), a clean one untouched.

    .venv/bin/python benchmarks/storm_relay.py [--messages 20000] [--seed N]

Needs root (Postfix), postfix and dovecot. Exit status 0 when it passes. Results:
benchmarks/README.md ("Fault storms").
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import os
import random
import re
import signal
import smtplib
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "e2e"))
from dovecot import Dovecot, dovecot_binary, listen_port
from postfix import Postfix

TRACKER = "https://t.storm.example/open"
USERS = 8
FAULTS = ("kill-hop", "stall-hop", "kill-worker", "cut-data", "half-data")
_MSGID = re.compile(rb"^Message-ID:\s*(\S+)", re.IGNORECASE | re.MULTILINE)
_SENDER = re.compile(r'sender="?<([^>]*)>')
_NEXTHOP = re.compile(r'nexthop="[^:]*: \d{3} [0-9.]+ (?:next hop \S+: )?([^"(]*)')


def message(n: int, kind: str, rcpts: list[str], ghost: bool = False) -> bytes:
    mid = f"<{'ghost' if ghost else 'storm'}-{n}@shop.example>"
    head = (
        f"From: Shop <s{n}@shop.example>\r\nTo: {', '.join(rcpts)}\r\nSubject: Offer {n}\r\n"
        f"Message-ID: {mid}\r\nDate: Mon, 07 Dec 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\n"
    )
    if kind == "plain":
        return (head + "Content-Type: text/plain; charset=utf-8\r\n\r\n" + f"Offer {n}.\r\n" * 20).encode()
    pixel = f'<img src="{TRACKER}?m={n}" width="1" height="1" alt="">' if kind == "tracked" else ""
    body = "".join(f"<p>Offer {n}, line {i}: a fine thing at a fine price.</p>\r\n" for i in range(12))
    html = (
        f'<html><body>{body}<img src="https://img.shop.example/{n}.jpg" width="400" height="200" '
        f'alt="offer">{pixel}</body></html>\r\n'
    )
    return (head + "Content-Type: text/html; charset=utf-8\r\n\r\n" + html).encode()


# ------------------------------------------------------------------------------- proxy


class CuttingProxy:
    """A TCP proxy (Postfix -> relay) that, when armed, drops a connection in the middle
    of a message's content: it forwards a random part of the content, never its final
    dot, then closes both sides."""

    def __init__(self, port: int, target: int, rng: random.Random) -> None:
        self.port, self.target, self.rng = port, target, rng
        self.armed = 0
        self.cuts = 0
        self._lock = threading.Lock()
        self.loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    def start(self) -> CuttingProxy:
        self._thread.start()
        self._ready.wait(10)
        return self

    def stop(self) -> None:
        if self.loop is not None and self._stop is not None:
            self.loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    def arm(self) -> None:
        with self._lock:
            self.armed += 1

    def _take(self) -> bool:
        with self._lock:
            if self.armed:
                self.armed -= 1
                return True
            return False

    async def _main(self) -> None:
        self.loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        server = await asyncio.start_server(self._serve, "127.0.0.1", self.port, reuse_address=True)
        self._ready.set()
        await self._stop.wait()
        server.close()

    async def _serve(self, reader, writer) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target)
        except OSError:
            writer.transport.abort()
            return

        def cut() -> None:
            writer.transport.abort()
            up_writer.transport.abort()

        async def down() -> None:
            try:
                while chunk := await up_reader.read(65536):
                    writer.write(chunk)
                    await writer.drain()
            except (OSError, asyncio.IncompleteReadError):
                pass
            writer.transport.abort() if writer.transport.is_closing() else writer.close()

        async def up() -> None:
            mode, line, tail, cutting = "cmd", b"", b"", False
            try:
                while chunk := await reader.read(65536):
                    i = 0
                    while i < len(chunk):
                        if mode == "cmd":
                            j = chunk.find(b"\n", i)
                            end = len(chunk) if j < 0 else j + 1
                            line += chunk[i:end]
                            up_writer.write(chunk[i:end])
                            i = end
                            if j >= 0:
                                if line.strip().upper() == b"DATA":
                                    mode, tail, cutting = "data", b"\r\n", self._take()
                                line = b""
                            continue
                        seg = chunk[i:]
                        hay = tail + seg
                        k = hay.find(b"\r\n.\r\n")
                        if cutting:  # some of the content, never its final dot, then drop
                            stop = len(seg) if k < 0 else max(k - len(tail), 0)
                            up_writer.write(seg[: self.rng.randint(0, stop)])
                            await up_writer.drain()
                            self.cuts += 1
                            cut()
                            return
                        if k < 0:
                            up_writer.write(seg)
                            tail = hay[-4:]
                            i = len(chunk)
                        else:
                            end = k + 5 - len(tail)
                            up_writer.write(seg[:end])
                            i += end
                            mode = "cmd"
                    await up_writer.drain()
            except (OSError, asyncio.IncompleteReadError):
                pass
            up_writer.transport.abort() if up_writer.transport.is_closing() else up_writer.close()

        await asyncio.gather(up(), down())


# ------------------------------------------------------------------------------- chaos


def worker_pids(relay_pid: int) -> list[int]:
    """The relay's cleaning workers: its children started by multiprocessing's spawn."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
            if ppid != relay_pid:
                continue
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                if b"spawn_main" in fh.read():
                    pids.append(int(entry))
        except (OSError, ValueError, IndexError):
            continue
    return pids


def process_state(pid: int) -> str:
    """The state letter of a process ("R" running, "S" sleeping...), or "" when gone."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return ""


def half_data(port: int, n: int, rcpt: str, rng: random.Random) -> bool:
    """A client that sends half of a message straight to the relay and closes. True when
    it got as far as the content (the relay answered 354)."""
    raw = message(n, "tracked", [rcpt], ghost=True)
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=15) as s:
            f = s.makefile("rb")

            def reply() -> bytes:
                while True:
                    line = f.readline()
                    if not line or line[3:4] != b"-":
                        return line

            if not reply().startswith(b"220"):
                return False
            for command, want in ((b"EHLO ghost.example", b"250"),
                                  (f"MAIL FROM:<ghost-{n}@shop.example>".encode(), b"250"),
                                  (f"RCPT TO:<{rcpt}>".encode(), b"250"), (b"DATA", b"354")):
                s.sendall(command + b"\r\n")
                if not reply().startswith(want):
                    return False
            s.sendall(raw[: rng.randint(1, len(raw) - 1)])
            return True  # closed here, without the final dot
    except OSError:
        return False


@dataclass
class Chaos:
    dovecot: Dovecot
    relay_pid: int
    relay_port: int
    proxy: CuttingProxy
    timeout: float
    users: list[str]
    rng: random.Random
    interval: tuple[float, float] = (0.3, 2.0)
    counts: Counter = field(default_factory=Counter)
    ghosts: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    errors: list[str] = field(default_factory=list)
    hop_faults: list[tuple[float, float]] = field(default_factory=list)  # kill/stall: from, to

    def during_hop_fault(self, at: float) -> bool:
        """`at` falls in a kill or stall of the next hop, or within the relay's timeout
        after it (a reply awaited from a stalled next hop times out up to then)."""
        return any(start - 0.5 <= at <= end + self.timeout + 1.0 for start, end in self.hop_faults)

    def run(self) -> None:
        deck: list[str] = []  # every kind of fault once per round, in a random order
        try:
            while not self.stop.wait(self.rng.uniform(*self.interval)):
                if not deck:
                    deck = self.rng.sample(FAULTS, len(FAULTS))
                getattr(self, deck.pop().replace("-", "_"))()
        except Exception as exc:  # noqa: BLE001 - reported in the result
            self.errors.append(f"chaos loop failed: {exc!r}")

    def _group(self, sig: int) -> None:
        assert self.dovecot.proc is not None
        os.killpg(self.dovecot.proc.pid, sig)

    def kill_hop(self) -> None:
        begun = time.time()
        self._group(signal.SIGKILL)
        assert self.dovecot.proc is not None
        self.dovecot.proc.wait()
        self.dovecot.proc = None
        time.sleep(self.rng.uniform(0.2, 2.0))  # the next hop is down this long
        self.dovecot._launch(dovecot_binary(), 60)
        self.hop_faults.append((begun, time.time()))
        self.counts["kill-hop"] += 1

    def stall_hop(self) -> None:
        begun = time.time()
        self._group(signal.SIGSTOP)
        time.sleep(self.timeout + self.rng.uniform(0.5, 2.5))  # past the relay's timeout
        self._group(signal.SIGCONT)
        self.hop_faults.append((begun, time.time()))
        self.counts["stall-hop"] += 1

    def kill_worker(self) -> None:
        """SIGKILL a cleaning worker, one that is running (cleaning a message) if one is
        seen running within a second, else any."""
        deadline = time.monotonic() + 1.0
        while True:
            pids = worker_pids(self.relay_pid)
            busy = [p for p in pids if process_state(p) == "R"]
            if busy or time.monotonic() > deadline:
                break
            time.sleep(0.005)  # sampling the workers' states
        victims = busy or pids
        if not victims:
            self.counts["kill-worker (none running)"] += 1
            return
        try:
            os.kill(self.rng.choice(victims), signal.SIGKILL)
            self.counts["kill-worker" if busy else "kill-worker (idle)"] += 1
        except ProcessLookupError:
            self.counts["kill-worker (gone first)"] += 1

    def cut_data(self) -> None:
        self.proxy.arm()
        self.counts["cut-data armed"] += 1

    def half_data(self) -> None:
        n = len(self.ghosts)
        self.ghosts.append(f"<ghost-{n}@shop.example>")
        sent = half_data(self.relay_port, n, self.rng.choice(self.users), self.rng)
        self.counts["half-data" if sent else "half-data (refused before DATA)"] += 1


# ------------------------------------------------------------------------------- storm


def queued(postfix: Postfix) -> int:
    """Messages in Postfix's queue (files under its queue directories)."""
    assert postfix.root is not None
    total = 0
    for sub in ("maildrop", "incoming", "active", "deferred", "hold"):
        for _dir, _subdirs, files in os.walk(postfix.root / "queue" / sub):
            total += len(files)
    return total


def maildir_counts(dovecot: Dovecot, users: list[str]) -> tuple[Counter, dict]:
    """(Message-ID, user) -> copies in the user's Maildir; and (Message-ID, user) -> the
    X-PixelGuard state of the copies ("cleaned", "error", "none"), tracker still in it."""
    assert dovecot.root is not None
    counts: Counter = Counter()
    states: dict = {}
    for user in users:
        for sub in ("new", "cur"):
            folder = dovecot.root / "mail" / user / sub
            if not folder.is_dir():
                continue
            for name in os.listdir(folder):
                raw = (folder / name).read_bytes()
                head = raw.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
                m = _MSGID.search(head)
                mid = m.group(1).decode() if m else f"(no Message-ID: {name})"
                counts[(mid, user)] += 1
                state = ("error" if b"X-PixelGuard: error" in head else
                         "cleaned" if b"X-PixelGuard:" in head else "none")
                states.setdefault((mid, user), []).append((state, TRACKER.encode() in raw))
    return counts, states


@dataclass(frozen=True)
class Deferral:
    """The relay deferred a message after DATA because of its next hop (logged)."""

    sender: str
    at: float  # time.time() of the log line
    reason: str  # the next hop's failure, as the relay wrote it


def deferrals_after_data(relay_log: Path) -> list[Deferral]:
    """The relay's deferrals after DATA: a next-hop failure once the content may have been
    sent, so the next hop may have stored it."""
    out = []
    for line in relay_log.read_text(errors="replace").splitlines():
        if "msg=message" in line and "nexthop=" in line and ("outcome=deferred" in line or "outcome=partial" in line):
            m = _SENDER.search(line)
            if m is None:
                continue
            try:
                at = datetime.datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f").timestamp()
            except ValueError:
                at = 0.0
            why = _NEXTHOP.search(line)
            out.append(Deferral(m.group(1), at, why.group(1).strip() if why else "?"))
    return out


@dataclass
class Result:
    seed: int
    accepted: int = 0  # messages the first Postfix accepted
    pairs: int = 0  # (message, recipient) pairs among them
    kinds: Counter = field(default_factory=Counter)
    faults: Counter = field(default_factory=Counter)
    cuts: int = 0
    delivered_once: int = 0
    lost: list = field(default_factory=list)
    explained_duplicates: list = field(default_factory=list)
    unexplained_duplicates: list = field(default_factory=list)
    ambiguous_events: int = 0
    duplicate_reasons: Counter = field(default_factory=Counter)  # the relay's deferrals behind them
    deferrals_outside_faults: list = field(default_factory=list)  # after DATA, no hop fault then
    ghosts_sent: int = 0
    ghosts_delivered: list = field(default_factory=list)
    uncleaned_by_worker_kill: int = 0
    wrong_content: list = field(default_factory=list)
    problems: list = field(default_factory=list)
    seconds: float = 0.0
    inject_seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return not (self.lost or self.unexplained_duplicates or self.ghosts_delivered
                    or self.wrong_content or self.problems)

    def summary(self) -> str:
        faults = ", ".join(f"{k} {v}" for k, v in sorted(self.faults.items()))
        return "\n".join([
            (f"seed {self.seed}: {self.accepted} messages accepted by the first Postfix "
             f"({dict(self.kinds)}), {self.pairs} (message, recipient) pairs"),
            f"faults: {faults}; connections cut mid-DATA by the proxy: {self.cuts}",
            f"delivered exactly once: {self.delivered_once} / {self.pairs}",
            f"lost: {len(self.lost)}",
            (f"duplicates after a lost next-hop 250 (the relay logged a next-hop failure after "
             f"DATA for that message while the next hop was killed or stalled; "
             f"{self.ambiguous_events} deferrals after DATA in all, "
             f"{len(self.deferrals_outside_faults)} of them outside a next-hop fault): "
             f"{len(self.explained_duplicates)}"),
            f"  next-hop replies behind them: {dict(self.duplicate_reasons)}",
            f"duplicates without that explanation: {len(self.unexplained_duplicates)}",
            f"ghost (half-DATA) messages sent: {self.ghosts_sent}, delivered: {len(self.ghosts_delivered)}",
            (f"tracked messages delivered uncleaned with X-PixelGuard: error (worker killed): "
             f"{self.uncleaned_by_worker_kill}"),
            f"wrong content: {len(self.wrong_content)}",
            f"time: {self.seconds:.0f} s ({self.inject_seconds:.0f} s to submit)",
            "RESULT: " + ("PASS" if self.passed else "FAIL"),
            *[f"lost {x}" for x in self.lost[:20]],
            *[f"unexplained duplicate {x}" for x in self.unexplained_duplicates[:20]],
            *[f"ghost delivered {x}" for x in self.ghosts_delivered[:20]],
            *[f"deferred after DATA outside a next-hop fault: {d}" for d in self.deferrals_outside_faults[:20]],
            *[f"wrong content {x}" for x in self.wrong_content[:20]],
            *self.problems[:20],
        ])


def storm(messages: int = 20000, seed: int | None = None, timeout: float = 3.0,
          interval: tuple[float, float] = (0.3, 2.0), drain: float = 900.0, min_faults: int = 0,
          out=print) -> Result:
    """The whole storm; `min_faults`: the chaos goes on at least until that many faults were
    made (for a small run, which would otherwise drain before every kind of fault came)."""
    seed = random.SystemRandom().randrange(1 << 32) if seed is None else seed
    out(f"storm_relay: seed {seed} (repeat with --seed {seed})")
    rng = random.Random(seed)
    chaos_rng = random.Random(rng.randrange(1 << 32))
    result = Result(seed)
    started = time.monotonic()
    dovecot = Dovecot(root_prefix="stormdc").start()
    postfix = relay = proxy = chaos = None
    tmp = tempfile.TemporaryDirectory(prefix="stormrelay")
    try:
        users = [dovecot.add_user(f"u{i}@example.org") for i in range(USERS)]
        relay_port, proxy_port = listen_port(), listen_port()
        proxy = CuttingProxy(proxy_port, relay_port, chaos_rng).start()
        postfix = Postfix(lmtp_port=dovecot.lmtp_port, filter_port=proxy_port, prefix="stormpf").start()
        config = Path(tmp.name) / "relay.yaml"
        config.write_text(
            f'relay:\n  listen: "127.0.0.1:{relay_port}"\n'
            f'  next_hop: "lmtp://127.0.0.1:{dovecot.lmtp_port}"\n'
            f"  timeout: {timeout}\n  workers: 2\n"
        )
        relay_log = Path(tmp.name) / "relay.log"
        with open(relay_log, "wb") as log_file:
            relay = subprocess.Popen(
                [sys.executable, "-m", "pixelguard", "relay", "--config", str(config)],
                stdout=subprocess.DEVNULL, stderr=log_file, cwd=ROOT, start_new_session=True,
            )
        from relay_harness import greets, wait_for

        wait_for(lambda: greets(relay_port) or relay.poll() is not None, 60, "the relay to listen")
        if relay.poll() is not None:
            raise RuntimeError("relay did not start:\n" + relay_log.read_text())

        chaos = Chaos(dovecot, relay.pid, relay_port, proxy, timeout, users, chaos_rng, interval)
        chaos_thread = threading.Thread(target=chaos.run, daemon=True)
        chaos_thread.start()

        accepted: dict[str, list[str]] = {}
        kind_of: dict[str, str] = {}
        lock = threading.Lock()
        plan = []
        for n in range(messages):
            r = rng.random()
            kind = "tracked" if r < 0.5 else "html" if r < 0.8 else "plain"
            rcpts = rng.sample(users, 2 if rng.random() < 0.1 else 1)
            plan.append((n, kind, rcpts))

        def inject(part: list) -> None:
            client = None
            for count, (n, kind, rcpts) in enumerate(part):
                if count % 200 == 0:
                    while queued(postfix) > 1500:  # keep the queue (and the run's tail) bounded
                        time.sleep(0.5)
                for _attempt in range(5):
                    try:
                        if client is None:
                            client = smtplib.SMTP("127.0.0.1", postfix.front_port, timeout=60)
                        client.sendmail(f"s{n}@shop.example", rcpts, message(n, kind, rcpts))
                        with lock:
                            accepted[f"<storm-{n}@shop.example>"] = rcpts
                            kind_of[f"<storm-{n}@shop.example>"] = kind
                        break
                    except (smtplib.SMTPException, OSError) as exc:
                        # the first Postfix has no faults; a refusal here is only not counted
                        out(f"submission of {n} failed ({exc!r}); trying again")
                        client = None
                        time.sleep(1)
                if count % 1000 == 999:
                    out(f"  submitted {count + 1} on one thread; {queued(postfix)} queued")
            if client is not None:
                client.quit()

        threads = [threading.Thread(target=inject, args=(plan[i::2],), daemon=True) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        result.inject_seconds = time.monotonic() - started
        out(f"submitted {len(accepted)} in {result.inject_seconds:.0f} s; {queued(postfix)} queued")
        # the storm goes on while the queue drains, then stops
        deadline = time.monotonic() + drain
        while (queued(postfix) > max(20, messages // 100) or sum(chaos.counts.values()) < min_faults) \
                and time.monotonic() < deadline:
            time.sleep(1)
        chaos.stop.set()
        chaos_thread.join(60)
        out(f"chaos stopped: {dict(chaos.counts)}; draining {queued(postfix)}")
        while queued(postfix) and time.monotonic() < deadline:
            postfix.flush()
            time.sleep(3)
        if queued(postfix):
            result.problems.append(f"queue not empty after the drain:\n{postfix.queue()[:3000]}")

        result.faults = Counter(chaos.counts)
        result.cuts = proxy.cuts
        result.problems += chaos.errors
        result.accepted = len(accepted)
        result.kinds = Counter(kind_of.values())
        counts, states = maildir_counts(dovecot, users)
        deferrals = deferrals_after_data(relay_log)
        result.ambiguous_events = len(deferrals)
        in_faults: dict[str, list[Deferral]] = {}
        for d in deferrals:
            if chaos.during_hop_fault(d.at):
                in_faults.setdefault(d.sender, []).append(d)
            else:
                result.deferrals_outside_faults.append(d)
        for mid, rcpts in accepted.items():
            n = mid.split("-", 1)[1].split("@", 1)[0]
            for user in rcpts:
                result.pairs += 1
                got = counts.pop((mid, user), 0)
                if got == 0:
                    result.lost.append((mid, user))
                elif got == 1:
                    result.delivered_once += 1
                elif got - 1 <= len(in_faults.get(f"s{n}@shop.example", [])):
                    # each extra copy has its own deferral after DATA by the relay, logged
                    # while the next hop was killed or stalled
                    result.explained_duplicates.append((mid, user, got))
                    result.duplicate_reasons.update(d.reason for d in in_faults[f"s{n}@shop.example"])
                else:
                    result.unexplained_duplicates.append((mid, user, got))
                for state, has_tracker in states.get((mid, user), []):
                    if state == "error":
                        result.uncleaned_by_worker_kill += kind_of[mid] == "tracked"
                    elif kind_of[mid] == "tracked" and (state != "cleaned" or has_tracker) or kind_of[mid] != "tracked" and state != "none":
                        result.wrong_content.append((mid, user, state))
        result.ghosts_sent = chaos.counts["half-data"]
        ghosts = set(chaos.ghosts)
        for (mid, user), got in counts.items():
            if mid in ghosts:
                result.ghosts_delivered.append((mid, user, got))
            else:
                result.problems.append(f"unexpected message {mid} for {user}")
        if relay.poll() is not None:
            result.problems.append(f"the relay exited ({relay.returncode})")
    finally:
        if chaos is not None:
            chaos.stop.set()
            chaos_thread.join(60)
        if relay is not None and relay.poll() is None:
            relay.terminate()
            try:
                relay.wait(30)
            except subprocess.TimeoutExpired:
                relay.kill()
        if postfix is not None:
            postfix.stop()
        if proxy is not None:
            proxy.stop()
        if dovecot.proc is not None:
            try:
                os.killpg(dovecot.proc.pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
        dovecot.stop()
        tmp.cleanup()
    result.seconds = time.monotonic() - started
    out(result.summary())
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--timeout", type=float, default=3.0, help="the relay's next-hop timeout (s)")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("storm_relay: needs root (it runs a private Postfix)", file=sys.stderr)
        return 2
    return 0 if storm(args.messages, args.seed, args.timeout).passed else 1


if __name__ == "__main__":
    sys.exit(main())
