"""What people read on a terminal: counts with the right plural, long URLs shortened in the
middle, and a message's From and Subject decoded and made safe to print.

Mail is written by strangers: header text and URLs are shown with control characters
replaced, so a crafted Subject cannot move the cursor or recolour the terminal.
"""
from __future__ import annotations

import re
from email.header import decode_header, make_header
from email.parser import BytesHeaderParser
from email.policy import compat32

ELLIPSIS = "…"
URL_WIDTH = 80  # characters of a URL shown in a listing
HEADER_WIDTH = 100  # characters of a From or Subject shown
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")
_PARSER = BytesHeaderParser(policy=compat32)


def count(n: int, singular: str, plural: str | None = None) -> str:
    """'1 tracker', '3 trackers', '0 messages'; `plural` for the irregular ones."""
    return f"{n} {singular if n == 1 else plural or singular + 's'}"


def printable(text: str) -> str:
    """`text` on one line with control and bidirectional-override characters shown as '?'."""
    return _CONTROL.sub("?", " ".join(text.split()))


def shorten_url(url: str, width: int = URL_WIDTH) -> str:
    """`url` in at most about `width` characters: scheme and host always, then as much of
    the start of the path and of its end as fit, with '…' in the middle. The end is kept
    because that is where tracking tokens and file names are."""
    url = printable(url)
    if len(url) <= width:
        return url
    scheme, sep, rest = url.partition("://")
    cut = len(scheme) + len(sep) + next((i for i, c in enumerate(rest) if c in "/?#"), len(rest))
    if not sep:
        cut = 0
    prefix, remainder = url[:cut], url[cut:]
    room = max(width - len(prefix) - len(ELLIPSIS), 16)
    if len(remainder) <= room + len(ELLIPSIS):
        return url
    start = room // 3  # a little of the path's beginning, most of its end
    return prefix + remainder[:start] + ELLIPSIS + remainder[len(remainder) - (room - start):]


def header_text(value: str | None, width: int = HEADER_WIDTH) -> str:
    """A header value decoded (RFC 2047), on one line, printable, cut to `width`."""
    if value is None:
        return ""
    try:
        text = str(make_header(decode_header(str(value))))
    except (ValueError, LookupError, UnicodeError):  # broken encoded-words: show them as sent
        text = str(value)
    text = printable(text)
    return text if len(text) <= width else text[: width - 1] + ELLIPSIS


def from_and_subject(raw: bytes) -> tuple[str, str]:
    """The decoded From and Subject of a message ('' when absent or unreadable)."""
    from pixelguard.sources import head_of

    try:
        msg = _PARSER.parsebytes(head_of(raw[:262144]))
    except Exception:  # noqa: BLE001 - an unparseable header block names no sender
        return "", ""
    return header_text(msg.get("From")), header_text(msg.get("Subject"))
