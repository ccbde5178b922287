"""A per-message time budget, so no input can hold a worker for long, and the limits of the
links step (docs/links.md): how many links of a part it judges, how long a URL a list's
regular expressions see, and how much of the budget it may take."""
from __future__ import annotations

import time

MAX_LINKS_PER_PART = 5000  # links of one part judged; the rest stay as sent (the header says so)
MAX_REGEX_URL = 2048  # longer URLs are not given to a user list's (ClearURLs') regexes
LINKS_SHARE = 0.5  # the links step of a part may use this share of the time left


class BudgetExceeded(Exception):
    """Cleaning took longer than the message's budget."""


class Deadline:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.at = time.monotonic() + seconds

    def check(self) -> None:
        if time.monotonic() > self.at:
            raise BudgetExceeded(f"over {self.seconds:g} s")

    def share(self, fraction: float) -> Deadline:
        """A deadline `fraction` of the time left from now (never past this one)."""
        return Deadline(max(0.0, self.at - time.monotonic()) * fraction)
