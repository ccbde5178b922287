"""What the SIGHUP tests of `pixelguard relay` and `pixelguard milter` share: a reload asked
for and its log line awaited (polled, never slept for), and the service's cleaning workers."""
from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path

from relay_harness import wait_for

RELOADED = 'msg="configuration reloaded"'
NOT_RELOADED = 'msg="configuration not reloaded; still running with the previous one"'


def lines_with(log: str, text: str) -> list[str]:
    return [line for line in log.splitlines() if text in line]


def sighup_and_wait_for(proc: subprocess.Popen, log: Callable[[], str], text: str) -> str:
    """Send SIGHUP to `proc` and wait for the next line of `log()` containing `text`; that
    line. The process must still be running then."""
    before = len(lines_with(log(), text))
    proc.send_signal(signal.SIGHUP)
    wait_for(lambda: len(lines_with(log(), text)) > before or proc.poll() is not None, 30, text)
    assert proc.poll() is None, log()
    return lines_with(log(), text)[before]


def cleaning_workers(pid: int) -> set[int]:
    """The process ids of the cleaning workers of the service `pid`: its children that
    multiprocessing spawned (the resource tracker, also a child, runs another command)."""
    found = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue  # ended meanwhile
        parent = int(stat.rsplit(")", 1)[1].split()[1])  # (the name may hold spaces)
        if parent == pid and b"spawn_main" in cmdline:
            found.add(int(entry))
    return found


class ListFiles:
    """An extra tracker list and a links list that name nothing yet, and the config lines
    that use them (`config`); `edit()` rewrites both files in place, at the same paths: the
    tracker list then names http://127.0.0.1/banner/, the links list the parameter pgref."""

    def __init__(self, directory: Path) -> None:
        self.trackers = directory / "extra-trackers.txt"
        self.trackers.write_text("[Adblock Plus 2.0]\n! nothing listed yet\n")
        self.links = directory / "links.json"
        self.links.write_text('{"format": "pixelguard-links/1"}')
        self.config = (f"lists: [{self.trackers}]\n"
                       f"defaults:\n  links:\n    strip_params: true\n    lists: [{self.links}]\n")

    def edit(self) -> None:
        self.trackers.write_text("[Adblock Plus 2.0]\n||127.0.0.1/banner/\n")
        self.links.write_text('{"format": "pixelguard-links/1", "params": [{"name": "pgref"}]}')
