"""A per-message time budget, so no input can hold a worker for long."""
from __future__ import annotations

import time


class BudgetExceeded(Exception):
    """Cleaning took longer than the message's budget."""


class Deadline:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.at = time.monotonic() + seconds

    def check(self) -> None:
        if time.monotonic() > self.at:
            raise BudgetExceeded(f"over {self.seconds:g} s")
