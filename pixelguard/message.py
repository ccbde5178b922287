"""MIME structure with byte spans, so changed parts can be spliced into the original bytes.

The stdlib email package parses headers (one part at a time); the part boundaries are found
here by a linear scan for the boundary delimiters, which is what lets every untouched byte stay
exactly where and what it was.
"""
from __future__ import annotations

import base64
import binascii
import codecs
import quopri
from dataclasses import dataclass, field
from email.message import Message
from email.parser import BytesHeaderParser

MAX_DEPTH = 30  # nesting deeper than this is not descended into (the part passes untouched)
_HEADER_PARSER = BytesHeaderParser()  # compat32, the default: email.policy costs ~4 ms to import


KNOWN_CTE = frozenset({"7bit", "8bit", "binary", "", "base64", "quoted-printable"})


class MimeError(ValueError):
    """The bytes are not a message we can safely edit."""


@dataclass
class Part:
    path: str  # "1", "1.2", "2.1.1"
    headers: Message
    start: int  # offset of the part's first header byte
    body_start: int
    body_end: int  # exclusive; excludes the line break that precedes a boundary delimiter
    content_type: str  # lower-case "type/subtype"
    children: list[Part] = field(default_factory=list)
    parent: Part | None = None
    too_deep: bool = False  # a container nested past MAX_DEPTH: its content was not examined

    @property
    def cte(self) -> str:
        return str(self.headers.get("Content-Transfer-Encoding", "7bit")).strip().lower()

    @property
    def charset(self) -> str | None:
        cs = self.headers.get_param("charset")
        if isinstance(cs, tuple):  # RFC 2231 form
            cs = cs[2]
        return str(cs).strip().strip('"').lower() if cs else None

    def leaves(self):
        if not self.children:
            yield self
        for child in self.children:
            yield from child.leaves()


def find_header_end(raw: bytes, start: int, end: int) -> int:
    """Offset where the body starts: just after the first empty line, or `end`."""
    if raw.startswith(b"\r\n", start):
        return start + 2
    if raw.startswith(b"\n", start):
        return start + 1
    pos = start
    while pos < end:
        nl = raw.find(b"\n", pos, end)
        if nl < 0:
            return end
        nxt = nl + 1
        if raw.startswith(b"\r\n", nxt) and nxt + 2 <= end:
            return nxt + 2
        if raw.startswith(b"\n", nxt) and nxt + 1 <= end:
            return nxt + 1
        pos = nxt
    return end


def _content_type(headers: Message, default: str) -> str:
    if headers.get("Content-Type") is None:
        return default
    ctype = headers.get_content_type()
    # compat32 falls back to text/plain for a malformed value; keep that.
    return ctype.lower()


def parse(raw: bytes) -> Part:
    """Parse the message structure. Raises MimeError if the top-level header is unusable."""
    start = 0
    if raw.startswith(b"From "):  # an mbox "From " line is not a header
        nl = raw.find(b"\n")
        start = nl + 1 if nl >= 0 else len(raw)
    first_line = raw[start : raw.find(b"\n", start) if raw.find(b"\n", start) >= 0 else len(raw)]
    if b":" not in first_line:
        raise MimeError("no RFC 5322 header at the top of the message")
    return _parse_part(raw, start, len(raw), "1", "text/plain", None, 0)


def _parse_part(raw: bytes, start: int, end: int, path: str, default_type: str,
                parent: Part | None, depth: int) -> Part:
    body_start = find_header_end(raw, start, end)
    headers = _HEADER_PARSER.parsebytes(raw[start:body_start])
    ctype = _content_type(headers, default_type)
    part = Part(path, headers, start, body_start, end, ctype, parent=parent)
    if depth >= MAX_DEPTH:
        part.too_deep = ctype.startswith("multipart/") or ctype == "message/rfc822"
        return part
    if ctype.startswith("multipart/"):
        boundary = headers.get_boundary()
        if boundary:
            child_default = "message/rfc822" if ctype == "multipart/digest" else "text/plain"
            spans = _split_multipart(raw, body_start, end, boundary.encode("latin-1", "replace"))
            for n, (s, e) in enumerate(spans, 1):
                child_path = f"{path}.{n}" if path != "1" or parent is not None else str(n)
                part.children.append(
                    _parse_part(raw, s, e, child_path, child_default, part, depth + 1)
                )
    elif ctype == "message/rfc822" and part.cte in ("7bit", "8bit", "binary", ""):
        part.children.append(
            _parse_part(raw, body_start, end, f"{path}.1", "text/plain", part, depth + 1)
        )
    return part


def _split_multipart(raw: bytes, start: int, end: int, boundary: bytes) -> list[tuple[int, int]]:
    """Spans of the body parts between `--boundary` delimiter lines (RFC 2046 5.1.1)."""
    marker = b"--" + boundary
    spans: list[tuple[int, int]] = []
    pos = start
    current: int | None = None
    while pos < end:
        i = raw.find(marker, pos, end)
        if i < 0:
            break
        at_line_start = i == start or raw[i - 1 : i] == b"\n"
        after = i + len(marker)
        closing = raw.startswith(b"--", after)
        rest_end = raw.find(b"\n", after, end)
        rest_end = end if rest_end < 0 else rest_end
        tail = raw[after + (2 if closing else 0) : rest_end]
        if not at_line_start or tail.strip(b" \t\r") != b"":
            pos = after
            continue
        # the line break before the delimiter belongs to the delimiter
        body_end = i
        if body_end > start and raw[body_end - 1 : body_end] == b"\n":
            body_end -= 1
            if body_end > start and raw[body_end - 1 : body_end] == b"\r":
                body_end -= 1
        if current is not None:
            spans.append((current, max(current, body_end)))
        if closing or rest_end >= end:  # a delimiter at the very end opens no part
            return spans
        current = rest_end + 1
        pos = current
    if current is not None:  # no closing delimiter: the last part runs to the end
        spans.append((current, end))
    return spans


# --- decoding and re-encoding one leaf ---------------------------------------------------


def decode_body(raw: bytes, part: Part) -> bytes:
    body = raw[part.body_start : part.body_end]
    cte = part.cte
    if cte == "base64":
        compact = b"".join(body.split())
        if len(compact) % 4 == 2 or len(compact) % 4 == 3:
            compact += b"=" * (-len(compact) % 4)  # missing padding: common and harmless
        try:
            return base64.b64decode(compact, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise MimeError(f"part {part.path}: broken base64 ({exc})") from None
    if cte == "quoted-printable":
        return quopri.decodestring(body)
    return body


def encode_body(data: bytes, part: Part, eol: bytes, original: bytes = b"") -> bytes:
    """Encode a changed body with the part's own transfer encoding; it ends with a line
    break exactly when the original body did."""
    cte = part.cte
    if cte == "base64":
        out = eol.join(base64.encodebytes(data).splitlines())
    elif cte == "quoted-printable":
        # binascii keeps the data's own line breaks (CRLF stays CRLF) and soft-wraps at 76
        out = binascii.b2a_qp(data, quotetabs=False, istext=True, header=False)
    else:
        return data
    out = out.rstrip(b"\r\n")
    return out + eol if original.endswith(b"\n") else out


def pick_codec(part: Part, data: bytes) -> str:
    """The Python codec to read a text part with: its charset, else UTF-8, else Latin-1.
    Used with errors='surrogateescape', so undecodable bytes survive the round trip."""
    cs = part.charset
    if cs:
        try:
            return codecs.lookup(cs).name
        except (LookupError, ValueError):  # unknown, or not even a name (a NUL byte)
            pass
    try:
        data.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        return "latin-1" if not cs else "utf-8"


def body_line_ending(raw: bytes, part: Part) -> bytes:
    body = raw[part.body_start : part.body_end]
    nl = body.find(b"\n")
    if nl < 0:
        nl = raw.find(b"\n", part.start)
        if nl < 0:
            return b"\r\n"
        return b"\r\n" if raw[nl - 1 : nl] == b"\r" else b"\n"
    return b"\r\n" if nl > 0 and body[nl - 1 : nl] == b"\r" else b"\n"
