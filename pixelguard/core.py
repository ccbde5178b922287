"""clean_message: the one pure entry point (bytes in -> bytes + findings out)."""
from __future__ import annotations

from pixelguard.model import Policy, Result


def clean_message(raw: bytes, policy: Policy | None = None) -> Result:
    """Clean one RFC 5322 message (or bare HTML document). Never raises on bad input."""
    # Placeholder until the MIME/detection core lands: returns the message unchanged.
    return Result(raw=raw)
