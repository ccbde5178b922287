"""One SMTP/LMTP reply (code + text) and the replies the relay makes up itself."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Reply:
    """A reply line as the client will see it: `code` and the text after it."""

    code: int
    text: str

    @property
    def ok(self) -> bool:
        return 200 <= self.code < 300

    @property
    def temporary(self) -> bool:
        return 400 <= self.code < 500

    def line(self) -> str:
        """One reply line; a multi-line reply from the next hop is folded into one."""
        text = " ".join(self.text.split())
        return f"{self.code} {text}"[:510]


def temp_failure(status: str, why: str) -> Reply:
    """A 451 with an enhanced status code (e.g. "4.4.1") — the answer for anything that may heal."""
    return Reply(451, f"{status} {why}")


def internal_error(txid: str) -> Reply:
    """Our own bug: never a 5xx (the sender would get a bounce for our mistake), never a 250."""
    return Reply(451, f"4.3.0 pixelguard internal error (id={txid}); try again later")
