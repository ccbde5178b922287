"""A limit on how many messages are handed to the cleaning workers at once, whose maximum a
reload may change while messages hold places under it (milter/door.py).

One object for the milter's whole life: messages begun before a reload and after it count
against the one current maximum. Lowered below the places in use, it takes no one new until
enough are given back; raised, it wakes those waiting at once.
"""
from __future__ import annotations

import threading
import time

__all__ = ["Limit"]


class Limit:
    def __init__(self, maximum: int) -> None:
        self._changed = threading.Condition()
        self.maximum = maximum
        self.in_use = 0

    def acquire(self, timeout: float) -> bool:
        """Take a place, waiting up to `timeout` seconds for one; True when taken."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while self.in_use >= self.maximum:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._changed.wait(left)
            self.in_use += 1
            return True

    def release(self) -> None:
        with self._changed:
            if self.in_use <= 0:
                raise ValueError("Limit released more often than acquired")
            self.in_use -= 1
            self._changed.notify()

    def set_max(self, maximum: int) -> None:
        """The maximum from now on, for the places taken already too."""
        with self._changed:
            self.maximum = maximum
            self._changed.notify_all()
