"""MIME structure with byte spans, so changed parts can be spliced into the original bytes.

The structure is read the way the stdlib `email` feed parser reads it (the lenient reference:
mail clients render what it finds), line by line, with every line ending (CRLF, LF or a bare
CR) ending a line: a header block ends at an empty line or at the first line that cannot be a
header (a missing blank line before the body), a multipart is split at `--boundary` lines (any
trailing blanks, no final boundary needed), the boundary of every enclosing multipart ends a
part at any depth, a `message/*` part holds a message whatever its transfer encoding says
(a message/delivery-status, blocks of status fields shown as text, is read as one leaf), and
the line break before a boundary belongs to the boundary. Only offsets are kept, so every
untouched byte stays exactly where and what it was. Headers are parsed by the stdlib (one
part at a time).
"""
from __future__ import annotations

import base64
import binascii
import codecs
import quopri
import re
from dataclasses import dataclass, field
from email.message import Message
from email.parser import BytesHeaderParser

MAX_DEPTH = 30  # nesting deeper than this is not descended into (the part passes untouched)
_HEADER_PARSER = BytesHeaderParser()  # compat32, the default: email.policy costs ~4 ms to import

# The feed parser's own definitions (email.feedparser): a line ends at CRLF, LF or CR; a
# header line starts with "From ", a field name and a colon, or a blank (a continuation).
_EOL = re.compile(rb"\r\n|\r|\n")
_HEADER_LINE = re.compile(rb"From |[\041-\071\073-\176]*:|[\t ]")


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
    # Bytes inside body_start..body_end that are not part of the body: the empty line after
    # a header block whose last line starts with "From " (the parser reads that line as the
    # first body line and drops the empty line after it).
    gap: tuple[int, int] | None = None

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
    """Where the header block from `start` ends, as the parser reads it: just after its
    empty line, or at the first line that cannot be a header (a body with no empty line
    before it), or at `end`."""
    pos = start
    while pos < end:
        m = _EOL.search(raw, pos, end)
        line_end = m.end() if m else end
        if raw[pos : pos + 1] in (b"\r", b"\n"):
            return line_end
        if not _HEADER_LINE.match(raw, pos, line_end):
            return pos
        pos = line_end
    return end


def _content_type(headers: Message, default: str) -> str:
    if headers.get("Content-Type") is None:
        return default
    # compat32 falls back to text/plain for a malformed value, as the feed parser does
    return headers.get_content_type().lower()


def parse(raw: bytes) -> Part:
    """Parse the message structure. Raises MimeError if the top-level header is unusable."""
    root = _Reader(raw).part("1", "text/plain", None, 0)
    if not root.headers.keys():
        raise MimeError("no RFC 5322 header at the top of the message")
    return root


class _Stop:
    """The `--boundary` lines of a multipart, which end its parts. `next(pos, limit)` is the
    start of the first such line at or after the line start `pos` and before `limit` (else
    `limit`). What was searched is kept, as the cursor only moves forward: every byte is
    searched once per enclosing multipart."""

    def __init__(self, raw: bytes, boundary: bytes) -> None:
        self.raw = raw
        self.marker = b"--" + boundary
        self.line = re.compile(re.escape(self.marker) + rb"(?:--)?[ \t]*(?:\r\n|\r|\n)?\Z")
        # no such line starts in [clear_from, clear_to); one starts at clear_to if found
        self.clear_from = self.clear_to = -1
        self.found = False

    def matches(self, start: int, end: int) -> bool:
        """Whether the line raw[start:end] is one of these lines."""
        return self.line.match(self.raw, start, end) is not None

    def next(self, pos: int, limit: int) -> int:
        if not self.clear_from <= pos <= self.clear_to:
            self.clear_from = self.clear_to = pos
            self.found = False
        if self.found or self.clear_to >= limit:
            return min(self.clear_to, limit)
        raw, i = self.raw, self.clear_to
        while (i := raw.find(self.marker, i, limit)) >= 0:
            if (i == 0 or raw[i - 1] in b"\r\n") and self.matches(i, _line_end(raw, i)):
                self.clear_to, self.found = i, True
                return i
            i += 1
        self.clear_to = limit
        return limit


def _line_end(raw: bytes, pos: int) -> int:
    """End of the line that starts at `pos`, its line break included."""
    m = _EOL.search(raw, pos)
    return m.end() if m else len(raw)


class _Reader:
    """The feed parser's walk over the lines of one message, with offsets: a cursor, lines
    given back (at most a few), and the stack of boundaries that end the current part."""

    def __init__(self, raw: bytes) -> None:
        self.raw = raw
        self.pos = 0
        self.back: list[tuple[int, int]] = []  # lines given back, the next one last
        self.stops: list[_Stop] = []
        self.last: Part | None = None  # the part made last: its body loses a final line break

    def _stop_at(self, pos: int) -> int:
        """Where the current part ends: each boundary is looked for within the part of the
        multipart it belongs to."""
        limit = len(self.raw)
        for stop in self.stops:
            limit = stop.next(pos, limit)
        return limit

    def readline(self) -> tuple[int, int] | None:
        """The next line, or None at the end of the current part (the line is kept)."""
        if self.back:
            start, end = self.back[-1]
            if any(s.matches(start, end) for s in self.stops):
                return None
            return self.back.pop()
        if self.pos >= len(self.raw) or self._stop_at(self.pos) == self.pos:
            return None
        start, self.pos = self.pos, _line_end(self.raw, self.pos)
        return start, self.pos

    def unread(self, line: tuple[int, int]) -> None:
        self.back.append(line)

    def rest(self) -> list[tuple[int, int]]:
        """Every line up to the end of the current part, as spans (adjacent ones merged)."""
        spans: list[tuple[int, int]] = []
        while self.back:
            line = self.readline()
            if line is None:
                return spans
            _add_span(spans, line)
        stop = self._stop_at(self.pos)
        if stop > self.pos:
            _add_span(spans, (self.pos, stop))
            self.pos = stop
        return spans

    def skip_to(self, stop: _Stop) -> tuple[int, int] | None:
        """Skip lines up to the next line that is `stop` (returned, read) or that ends the
        current part (None)."""
        while self.back:
            line = self.readline()
            if line is None or stop.matches(*line):
                return line
        if self.pos >= len(self.raw):
            return None
        end = self._stop_at(self.pos)
        at = stop.next(self.pos, end)
        if end <= at:
            self.pos = end
            return None
        self.pos = _line_end(self.raw, at)
        return at, self.pos

    # --- one part ---------------------------------------------------------------------------

    def part(self, path: str, default_type: str, parent: Part | None, depth: int) -> Part:
        raw = self.raw
        start = self.back[-1][0] if self.back else self.pos
        lines: list[tuple[int, int]] = []
        gap = None
        while (line := self.readline()) is not None:
            if not _HEADER_LINE.match(raw, line[0], line[1]):
                if raw[line[0] : line[0] + 1] in (b"\r", b"\n"):
                    gap = line  # the empty line that ends the header block
                else:
                    self.unread(line)  # no empty line: this is the body's first line
                break
            lines.append(line)
        # A "From " line last in the header block (not first) is read as the body's first line.
        if len(lines) > 1 and raw.startswith(b"From ", lines[-1][0]):
            self.unread(lines.pop())
        else:
            gap = None
        headers = _HEADER_PARSER.parsebytes(b"".join(raw[s:e] for s, e in lines))
        ctype = _content_type(headers, default_type)
        body_at = self.back[-1][0] if self.back else self.pos
        part = Part(path, headers, start, body_at, body_at, ctype, parent=parent)
        self.last = part
        main = ctype.split("/", 1)[0]
        if ctype == "message/delivery-status":
            pass  # blocks of status fields, shown as text: read as one leaf
        elif depth >= MAX_DEPTH and main in ("multipart", "message"):
            part.too_deep = True
        elif main == "message":
            part.children.append(self.part(f"{path}.1", "text/plain", part, depth + 1))
        elif main == "multipart" and headers.get_boundary() is not None:
            self._multipart(part, headers.get_boundary(), depth)
        spans = self.rest()
        if part.children:
            part.body_end = self.pos
        elif spans:
            part.body_start, part.body_end = spans[0][0], spans[-1][1]
            if len(spans) == 2 and gap is not None and spans[1][0] == gap[1]:
                part.gap = gap
            elif len(spans) > 1:  # cannot happen: only a "From " line is given back
                raise MimeError(f"part {path}: body in pieces")
        return part

    def _multipart(self, part: Part, boundary: str, depth: int) -> None:
        try:
            marker = boundary.encode("ascii", "surrogateescape")
        except UnicodeEncodeError:  # an RFC 2231 value outside ASCII: no line can match it
            return
        sep = _Stop(self.raw, marker)
        child_default = "message/rfc822" if part.content_type == "multipart/digest" else "text/plain"
        while (line := self.skip_to(sep)) is not None:
            if _closing(self.raw, line, sep):
                return
            # consecutive delimiter lines open no parts
            while (nxt := self.readline()) is not None and sep.matches(*nxt):
                pass
            if nxt is not None:
                self.unread(nxt)
            self.stops.append(sep)
            n = len(part.children) + 1
            child_path = f"{part.path}.{n}" if part.parent is not None else str(n)
            part.children.append(self.part(child_path, child_default, part, depth + 1))
            last = self.last
            if last is not None and not last.children and not last.too_deep \
                    and not last.content_type.startswith("multipart/"):
                _drop_final_line_break(self.raw, last)
            self.stops.pop()
            self.last = part


def _closing(raw: bytes, line: tuple[int, int], sep: _Stop) -> bool:
    """Whether a delimiter line is the close delimiter (`--boundary--`)."""
    tail = raw[line[0] + len(sep.marker) : line[1]]
    return tail.startswith(b"--") and tail[2:].strip(b" \t\r\n") == b""


def _add_span(spans: list[tuple[int, int]], span: tuple[int, int]) -> None:
    if spans and spans[-1][1] == span[0]:
        spans[-1] = (spans[-1][0], span[1])
    else:
        spans.append(span)


def _drop_final_line_break(raw: bytes, part: Part) -> None:
    """The line break before a boundary belongs to the boundary (RFC 2046 5.1.1)."""
    if part.gap is not None and part.body_end == part.gap[1]:  # nothing after the gap
        part.body_end, part.gap = part.gap[0], None
    end = part.body_end
    if raw[end - 2 : end] == b"\r\n" and end - 2 >= part.body_start:
        end -= 2
    elif raw[end - 1 : end] in (b"\r", b"\n") and end - 1 >= part.body_start:
        end -= 1
    part.body_end = end


# --- decoding and re-encoding one leaf ---------------------------------------------------


def body_bytes(raw: bytes, part: Part) -> bytes:
    """The part's body as it stands, still transfer-encoded."""
    if part.gap is not None:
        return raw[part.body_start : part.gap[0]] + raw[part.gap[1] : part.body_end]
    return raw[part.body_start : part.body_end]


def decode_body(raw: bytes, part: Part) -> bytes:
    """The body decoded as the stdlib (and a lenient client) decodes it: base64 with bad
    characters skipped and missing padding added, quoted-printable, anything else as it
    stands (RFC 2045 6.4 calls an unknown encoding opaque, but clients render such a part as
    it stands, and spam uses "8bit+")."""
    body = body_bytes(raw, part)
    cte = part.cte
    if cte == "base64":
        return _lenient_b64decode(b"".join(body.splitlines()))
    if cte == "quoted-printable":
        return quopri.decodestring(body)
    return body


def decodes_exactly(raw: bytes, part: Part) -> bool:
    """Whether the body is well-formed in its transfer encoding, so that encoding it again
    after a change keeps everything but the change (broken base64 is read leniently; what
    cannot be read is then dropped)."""
    if part.cte != "base64":
        return True
    compact = b"".join(body_bytes(raw, part).split())
    try:
        base64.b64decode(compact + b"=" * (-len(compact) % 4), validate=True)
    except (binascii.Error, ValueError):
        return False
    return len(compact) % 4 != 1


def _lenient_b64decode(data: bytes) -> bytes:
    """The email package's base64 reading (email._encoded_words.decode_b): fix the padding,
    else skip characters outside the alphabet, else keep the text as it stands."""
    missing = b"==="[: 4 - len(data) % 4] if len(data) % 4 else b""
    try:
        return base64.b64decode(data + missing, validate=True)
    except binascii.Error:
        pass
    for pad in (b"", b"=="):
        try:
            return base64.b64decode(data + pad, validate=False)
        except binascii.Error:
            continue
    return data


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
    body = body_bytes(raw, part)
    nl = body.find(b"\n")
    if nl < 0:
        nl = raw.find(b"\n", part.start)
        if nl < 0:
            return b"\r\n"
        return b"\r\n" if raw[nl - 1 : nl] == b"\r" else b"\n"
    return b"\r\n" if nl > 0 and body[nl - 1 : nl] == b"\r" else b"\n"


def splice_span(raw: bytes, part: Part, new_body: bytes) -> tuple[int, int, bytes] | None:
    """Where a changed body goes in `raw`: (start, end, bytes) to put in place of
    raw[start:end]. A body with a gap (a "From " line, an empty line, the rest) keeps its
    first line and the gap as they are; None when the change touched that first line."""
    if part.gap is None:
        return part.body_start, part.body_end, new_body
    head = raw[part.body_start : part.gap[0]]
    if not new_body.startswith(head):
        return None
    return part.gap[1], part.body_end, new_body[len(head) :]
