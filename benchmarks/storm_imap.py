"""Fault storm for `pixelguard imap --once`: SIGKILL at random moments, then a clean run.

A throwaway Dovecot gets N small messages (APPENDed in bulk, each with its own flags and
INTERNALDATE; a share with a 1x1 open pixel, a share of clean HTML, a share of plain text).
Then `python -m pixelguard imap --once` is started again and again and killed with SIGKILL
at a random moment, until it was killed `--kills` times while running: one kill in five at
a uniform moment of its start-up (connect, login, search), the others at a uniform moment
after it logs that it starts on the folder's messages, in a window sized so that the kills
spread over the whole backlog. After every kill each original Message-ID must still be in
INBOX (as the original or its cleaned copy).
Last, one run without faults, and the check:

* every original Message-ID is in INBOX exactly once: a cleaned copy (no pixel, the digest
  header of its original's bytes) for each tracked message, the untouched bytes otherwise;
* every replaced original is in the originals folder, once, byte-identical;
* flags (plus pixelguard's keyword) and INTERNALDATE (instant and zone) kept, on both;
* nothing else anywhere: no duplicates, no stray copies.

    .venv/bin/python benchmarks/storm_imap.py [--messages 5000] [--kills 50] [--seed N]

Exit status 0 when the check passes, 1 otherwise. The seed is printed: `--seed` repeats
the kill schedule (the moments a kill lands on still depend on the machine's speed).
Results: benchmarks/README.md ("Fault storms").
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "e2e"))
from dovecot import Dovecot

KEYWORD = b"$PixelGuarded"
ORIGINAL_KEYWORD = b"$PixelGuardOriginal"
ORIGINALS = "pixelguard/originals"
PASSWORD_ENV = "PIXELGUARD_STORM_PASSWORD"
TRACKER_HOST = b"t.storm.example/open"
FLAG_CHOICES = [b"\\Seen", b"\\Flagged", b"\\Answered", b"Work", b"$Label1"]
_MSGID = re.compile(rb"^Message-ID:\s*(\S+)", re.IGNORECASE | re.MULTILINE)
_DIGEST = re.compile(rb"^X-PixelGuard-Original:\s*(\S+)", re.IGNORECASE | re.MULTILINE)


def message_id(raw: bytes) -> str:
    m = _MSGID.search(raw)
    if m is None:
        raise AssertionError(f"no Message-ID in {raw[:120]!r}")
    return m.group(1).decode()


@dataclass
class Original:
    mid: str
    kind: str  # tracked | html | plain
    raw: bytes
    flags: frozenset
    date: datetime


def make_message(n: int, kind: str) -> bytes:
    """A small message (~1 kB): HTML with an open pixel, HTML without one, or plain text."""
    mid = f"<storm-{n}@news.example>"
    head = (
        f"From: News <news@news.example>\r\nTo: storm@example.org\r\nSubject: Storm {n}\r\n"
        f"Message-ID: {mid}\r\nDate: Mon, 02 Jan 2023 10:00:00 +0000\r\nMIME-Version: 1.0\r\n"
    )
    if kind == "plain":
        return (head + "Content-Type: text/plain; charset=utf-8\r\n\r\n" + f"Note {n}.\r\n" * 5).encode()
    pixel = (
        f'<img src="https://{TRACKER_HOST.decode()}?m={n}" width="1" height="1" alt="">'
        if kind == "tracked"
        else ""
    )
    html = (
        f"<html><body><p>Issue {n}: the week in short.</p>"
        f'<img src="https://images.news.example/{n}.jpg" width="560" height="200" alt="photo">'
        f"{pixel}<p>Bye.</p></body></html>\r\n"
    )
    return (head + "Content-Type: text/html; charset=utf-8\r\n\r\n" + html).encode()


def make_originals(count: int, rng: random.Random) -> list[Original]:
    out = []
    for n in range(count):
        r = rng.random()
        kind = "tracked" if r < 0.5 else "html" if r < 0.8 else "plain"
        flags = frozenset(f for f in FLAG_CHOICES if rng.random() < 0.3)
        zone = timezone(timedelta(minutes=rng.choice([-420, -60, 0, 60, 330, 600])))
        date = datetime(2015, 1, 1, tzinfo=zone) + timedelta(seconds=rng.randrange(300_000_000))
        raw = make_message(n, kind)
        out.append(Original(message_id(raw), kind, raw, flags, date))
    return out


def fill(client, originals: list[Original], batch: int = 500) -> None:
    """MULTIAPPEND in batches: one command per batch."""
    for i in range(0, len(originals), batch):
        client.multiappend(
            "INBOX",
            [{"msg": o.raw, "flags": sorted(o.flags), "date": o.date} for o in originals[i : i + batch]],
        )


def folder_ids(client, folder: str) -> list[str]:
    """The Message-ID of every message in `folder` (header fetch only: cheap)."""
    if not client.folder_exists(folder):
        return []
    client.select_folder(folder, readonly=True)
    uids = client.search("ALL")
    if not uids:
        return []
    data = client.fetch(uids, ["BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"])
    return [message_id(d[b"BODY[HEADER.FIELDS (MESSAGE-ID)]"]) for d in data.values()]


def folder_messages(client, folder: str) -> list[dict]:
    if not client.folder_exists(folder):
        return []
    client.normalise_times = False  # INTERNALDATE with its own zone, for exact comparison
    client.select_folder(folder, readonly=True)
    uids = client.search("ALL")
    if not uids:
        return []
    out = []
    for i in range(0, len(uids), 1000):
        data = client.fetch(uids[i : i + 1000], ["FLAGS", "INTERNALDATE", "BODY.PEEK[]"])
        for uid, item in data.items():
            raw = item[b"BODY[]"]
            out.append({
                "uid": uid,
                "raw": raw,
                "mid": message_id(raw),
                "flags": frozenset(item[b"FLAGS"]) - {b"\\Recent"},
                "date": item[b"INTERNALDATE"],
            })
    return out


def watch_for_work(proc: subprocess.Popen) -> threading.Event:
    """An event set once the run logs that it starts on the folder's messages (its stderr
    is read to the end meanwhile, so that it never blocks on a full pipe)."""
    working = threading.Event()

    def read() -> None:
        for line in proc.stderr:
            if b"messages to look at" in line:
                working.set()
        working.set()  # it ended (or was killed): nobody waits any longer

    threading.Thread(target=read, daemon=True).start()
    return working


def unmarked(client) -> int:
    client.select_folder("INBOX", readonly=True)
    return len(client.search(["UNKEYWORD", KEYWORD.decode()]))


@dataclass
class Report:
    seed: int
    messages: int
    kinds: dict
    kills: int = 0
    kills_in_work: int = 0  # kills aimed after the run started on the folder's messages
    kills_with_progress: int = 0  # kills after a run that had changed something
    runs_finished_before_kill: int = 0
    leftovers_after_kills: list[int] = field(default_factory=list)  # originals + copy both in INBOX
    final_stdout: str = ""
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return "\n".join([
            f"seed {self.seed}: {self.messages} messages ({self.kinds})",
            (f"SIGKILLs: {self.kills} ({self.kills_in_work} aimed at its work on the messages, the rest at its start-up; "
             f"{self.kills_with_progress} after the killed run had changed the mailbox); "
             f"{self.runs_finished_before_kill} runs ended before their kill moment"),
            (f"original+copy pairs left in INBOX right after a kill: max "
             f"{max(self.leftovers_after_kills, default=0)}, total {sum(self.leftovers_after_kills)}"),
            f"final run: {self.final_stdout.strip()}",
            f"time: {self.seconds:.0f} s",
            "RESULT: " + ("PASS" if not self.problems else f"FAIL ({len(self.problems)} problems)"),
            *self.problems[:50],
        ])


def verify(client, originals: list[Original]) -> list[str]:
    """Everything the storm promises, as a list of problems (empty: passed)."""
    problems: list[str] = []
    by_mid = {o.mid: o for o in originals}
    inbox = folder_messages(client, "INBOX")
    kept = folder_messages(client, ORIGINALS)
    seen: dict[str, dict] = {}
    for m in inbox:
        if m["mid"] in seen:
            problems.append(f"INBOX: {m['mid']} more than once (UIDs {seen[m['mid']]['uid']}, {m['uid']})")
        seen[m["mid"]] = m
        if m["mid"] not in by_mid:
            problems.append(f"INBOX: unknown message {m['mid']}")
    for o in originals:
        m = seen.get(o.mid)
        if m is None:
            problems.append(f"INBOX: {o.mid} LOST")
            continue
        if m["flags"] != o.flags | {KEYWORD}:
            problems.append(f"INBOX: {o.mid} flags {sorted(m['flags'])} != {sorted(o.flags | {KEYWORD})}")
        if m["date"] != o.date or m["date"].utcoffset() != o.date.utcoffset():
            problems.append(f"INBOX: {o.mid} INTERNALDATE {m['date']} != {o.date}")
        if o.kind == "tracked":
            want = b"sha256=" + hashlib.sha256(o.raw).hexdigest().encode()
            d = _DIGEST.search(m["raw"])
            if TRACKER_HOST in m["raw"] or d is None or d.group(1) != want:
                problems.append(f"INBOX: {o.mid} is not the cleaned copy of its original")
        elif m["raw"] != o.raw:
            problems.append(f"INBOX: {o.mid} had nothing to remove but its bytes changed")
    in_originals: dict[str, dict] = {}
    for m in kept:
        if m["mid"] in in_originals:
            problems.append(f"originals: {m['mid']} more than once")
        in_originals[m["mid"]] = m
    tracked = {o.mid for o in originals if o.kind == "tracked"}
    for mid in set(in_originals) - tracked:
        problems.append(f"originals: {mid} was not replaced, yet is there")
    for mid in tracked:
        m = in_originals.get(mid)
        o = by_mid[mid]
        if m is None:
            problems.append(f"originals: {mid} missing (its original is LOST)")
            continue
        if m["raw"] != o.raw:
            problems.append(f"originals: {mid} bytes changed")
        if m["flags"] != o.flags | {ORIGINAL_KEYWORD}:
            problems.append(f"originals: {mid} flags {sorted(m['flags'])}")
        if m["date"] != o.date or m["date"].utcoffset() != o.date.utcoffset():
            problems.append(f"originals: {mid} INTERNALDATE {m['date']} != {o.date}")
    return problems


def storm(messages: int = 5000, kills: int = 50, seed: int | None = None, out=print) -> Report:
    """Run the whole storm on a fresh Dovecot; the Report says whether it passed."""
    seed = random.SystemRandom().randrange(1 << 32) if seed is None else seed
    out(f"storm_imap: seed {seed} (repeat with --seed {seed})")
    rng = random.Random(seed)
    started = time.monotonic()
    originals = make_originals(messages, rng)
    kinds = {k: sum(o.kind == k for o in originals) for k in ("tracked", "html", "plain")}
    report = Report(seed, messages, kinds)
    with Dovecot(root_prefix="stormdc") as server, tempfile.TemporaryDirectory(prefix="stormimap") as tmp:
        user = server.add_user("storm@example.org")
        idle = server.add_user("idle@example.org")
        client = server.client(user)
        fill(client, originals)
        # INTERNALDATE as the server keeps it (Dovecot's Maildir keeps the instant, not the
        # zone): the reference that every copy and moved original must match exactly
        stored = {m["mid"]: m for m in folder_messages(client, "INBOX")}
        for o in originals:
            if stored[o.mid]["date"] != o.date or stored[o.mid]["flags"] != o.flags:
                raise AssertionError(f"{o.mid}: the server did not store the date and flags given")
            o.date = stored[o.mid]["date"]
        out(f"appended {messages} messages {kinds} in {time.monotonic() - started:.1f} s")
        config = Path(tmp) / "pixelguard.yaml"
        account = (
            "  - name: {name}\n    host: 127.0.0.1\n    port: {port}\n    security: none\n"
            "    username: {user}\n    password_env: " + PASSWORD_ENV + "\n    folders: [INBOX]\n"
        )
        config.write_text(
            "imap:\n  accounts:\n" + account.format(name="storm", port=server.imap_port, user=user)
        )
        idle_config = Path(tmp) / "idle.yaml"
        idle_config.write_text(
            "imap:\n  accounts:\n" + account.format(name="idle", port=server.imap_port, user=idle)
        )
        env = dict(os.environ)
        env.update({PASSWORD_ENV: "secret", "XDG_RUNTIME_DIR": tmp, "RUNTIME_DIRECTORY": ""})
        command = [sys.executable, "-m", "pixelguard", "imap", "--once", "--config"]

        # How long a run takes to start, log in and find nothing (an empty mailbox):
        # kills are aimed after that, into the work, with a share aimed at the start-up.
        t0 = time.monotonic()
        subprocess.run(command + [str(idle_config)], env=env, check=True, capture_output=True,
                       cwd=ROOT, timeout=120)
        startup = time.monotonic() - t0
        rate = 300.0  # messages per second of work, learned from the runs as they go
        work_done, work_time = 0, 0.0
        out(f"start-up of an empty run: {startup:.2f} s")

        while report.kills < kills:
            left = unmarked(client)
            kills_left = kills - report.kills
            window = min(max(2 * left / rate / kills_left, 0.05), 5.0)
            proc = subprocess.Popen(command + [str(config)], env=env, cwd=ROOT,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            working = watch_for_work(proc)
            begun = time.monotonic()
            in_startup = left == 0 or rng.random() < 0.2
            if in_startup:  # a kill while it starts, logs in, searches
                aim = rng.uniform(0, startup)
                where = "start-up"
            else:  # a kill while it works: the run logs when it starts on the folder
                working.wait(60)
                aim = rng.uniform(0, window)
                where = "work"
            worked_from = time.monotonic()
            try:
                proc.wait(timeout=aim)
                report.runs_finished_before_kill += 1
                if proc.returncode != 0:  # a run that fails by itself: no storm to speak of
                    report.problems.append(f"a run exited {proc.returncode} before its kill")
                    break
                if left > 0:  # all its work done before the kill: faster than we thought
                    rate = max(rate, left / max(time.monotonic() - worked_from, 0.05))
                else:  # nothing to do, and it ended first: aim earlier in the start-up
                    startup *= 0.9
                continue
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
            worked = time.monotonic() - worked_from
            report.kills += 1
            report.kills_in_work += where == "work"
            ids = folder_ids(client, "INBOX")
            present = set(ids)
            lost = [o.mid for o in originals if o.mid not in present]
            if lost:
                report.problems.append(f"after kill {report.kills}: {len(lost)} Message-IDs not in INBOX, e.g. {lost[:3]}")
            report.leftovers_after_kills.append(len(ids) - len(present))
            done = left - unmarked(client)
            report.kills_with_progress += done > 0
            if where == "work" and done > 0:
                work_done += done
                work_time += worked
                rate = work_done / work_time
            out(f"kill {report.kills:2d} (aimed at {where}) at {time.monotonic() - begun:5.2f} s: {left} to do "
                f"before, {done} done by it, {report.leftovers_after_kills[-1]} original+copy pairs left")

        final = subprocess.run(command + [str(config)], env=env, capture_output=True, text=True,
                               cwd=ROOT, timeout=1800, check=False)
        report.final_stdout = final.stdout
        if final.returncode != 0:
            report.problems.append(f"final run exited {final.returncode}: {final.stderr[-2000:]}")
        report.problems += verify(client, originals)
        client.logout()
    report.seconds = time.monotonic() - started
    out(report.summary())
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--kills", type=int, default=50)
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args()
    report = storm(args.messages, args.kills, args.seed)
    return 0 if not report.problems else 1


if __name__ == "__main__":
    sys.exit(main())
