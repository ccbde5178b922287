"""Counting and telling: a progress bar on a terminal, plain log lines otherwise, a summary."""

from __future__ import annotations

import logging
import sys
import time
from dataclasses import dataclass, fields

from pixelguard.display import count

log = logging.getLogger("pixelguard.imap")

LOG_EVERY = 1000  # messages between progress log lines when not on a terminal


@dataclass
class Stats:
    scanned: int = 0  # messages without the keyword that were looked at
    cleaned: int = 0  # replaced by a cleaned copy
    trackers: int = 0  # findings removed from the cleaned messages
    marked: int = 0  # nothing to remove (or no HTML): keyword only
    recovered: int = 0  # leftover originals of a crashed run retired
    errors: int = 0  # messages left untouched because of an error

    def add(self, other: Stats) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    def line(self) -> str:
        return (
            f"{self.scanned} scanned, {self.cleaned} cleaned, "
            f"{count(self.trackers, 'tracker')} removed, {self.marked} marked unchanged, "
            f"{self.recovered} recovered, {count(self.errors, 'error')}"
        )


class Progress:
    """Reports one folder pass at a time: tqdm bar on a TTY, log lines otherwise."""

    def __init__(self, tty: bool | None = None) -> None:
        self.tty = sys.stderr.isatty() if tty is None else tty
        self._bar = None
        self._label = ""
        self._stats = Stats()
        self._started = 0.0
        self._last_logged = 0

    def start(self, label: str, total: int) -> None:
        self._label, self._stats, self._started, self._last_logged = (
            label,
            Stats(),
            time.monotonic(),
            0,
        )
        if total and self.tty:
            from tqdm import tqdm

            self._bar = tqdm(
                total=total,
                desc=label,
                unit="msg",
                file=sys.stderr,
                dynamic_ncols=True,
                postfix={"cleaned": 0, "trackers": 0},
            )
        elif total:
            log.info("%s: %d messages to look at", label, total)

    def update(self, delta: Stats) -> None:
        self._stats.add(delta)
        s = self._stats
        if self._bar is not None:
            self._bar.set_postfix(cleaned=s.cleaned, trackers=s.trackers, refresh=False)
            self._bar.update(delta.scanned)
        elif s.scanned - self._last_logged >= LOG_EVERY:
            self._last_logged = s.scanned
            rate = s.scanned / max(time.monotonic() - self._started, 1e-6)
            log.info("%s: %s (%.0f msg/s)", self._label, s.line(), rate)

    def finish(self) -> Stats:
        """End the folder pass: its stats (empty when called again, or before any start)."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        stats, self._stats = self._stats, Stats()
        if stats.scanned:
            elapsed = time.monotonic() - self._started
            log.info("%s: %s in %.1f s", self._label, stats.line(), elapsed)
        return stats
