"""Adding pixelguard's own header to a message without touching any other byte."""
from __future__ import annotations

import re

from pixelguard import stamp

_EOL = re.compile(rb"\r\n|\r|\n")  # a line ends at CRLF, LF or a bare CR, as email reads it


def header_end(raw: bytes) -> int:
    """Where the header block ends: just past its empty line (whatever its line ending), or
    at the first line that cannot be a header, else len(raw): the MIME walker's rule."""
    from pixelguard.message import find_header_end

    return find_header_end(raw, insert_at(raw), len(raw))


def line_ending(raw: bytes) -> bytes:
    """The message's own line ending: that of its first line (CRLF, LF or a bare CR)."""
    m = _EOL.search(raw)
    return m.group() if m else b"\n"


def insert_at(raw: bytes) -> int:
    """Where a new first header goes: offset 0, or after an mbox "From " line."""
    if raw.startswith(b"From "):
        m = _EOL.search(raw)
        return m.end() if m else len(raw)
    return 0


def prepend_header(raw: bytes, name: str, value: str, like: bytes | None = None) -> bytes:
    """Return raw with `name: value` added as the first header line (trace-header style).

    Every existing byte is kept; the value must be ASCII without line breaks. The line
    ending is that of `like` (default: of raw).
    """
    eol = line_ending(raw if like is None else like)
    value = " ".join(value.split())
    at = insert_at(raw)
    return raw[:at] + _fold(f"{name}: {value}", eol) + raw[at:]


def _fold(line: str, eol: bytes, width: int = 78) -> bytes:
    """Fold a header line at spaces so no line is longer than `width` where avoidable."""
    out: list[str] = []
    current = ""
    for word in line.split(" "):
        if current and len(current) + 1 + len(word) > width:
            out.append(current)
            current = " " + word
        else:
            current = f"{current} {word}" if current else word
    out.append(current)
    return eol.join(x.encode("ascii", "replace") for x in out) + eol


def mark_error(raw: bytes, error: str) -> bytes:
    """The pass-through form of a message the core could not clean: unchanged, plus a header."""
    return prepend_header(raw, stamp.NAME, stamp.error(error)[:900])
