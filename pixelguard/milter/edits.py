"""The message as a milter sees it, and the milter actions that turn it into the cleaned one.

Pure functions, no libmilter: the session (session.py) feeds them what the MTA sent and
applies what they return.

The MTA sends header fields one by one (name, value; with SMFIP_HDR_LEADSPC the value keeps
its leading space and folding) and the body in CRLF form. `assemble` joins them into the
bytes the core reads. `plan` compares the core's output with those bytes: a cleaned message
differs by header fields inserted (X-PixelGuard, pixelguard's own Authentication-Results,
an ARC set) and possibly a new body; every other header field is left as the MTA has it.
"""
from __future__ import annotations

from dataclasses import dataclass

from pixelguard.headers import header_end

__all__ = ["Edits", "assemble", "header_fields", "plan"]

Field = tuple[str, bytes]  # (name, value after the colon, line breaks as CRLF, no final CRLF)


def _crlf(value: bytes) -> bytes:
    return value.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def assemble(fields: list[Field], body: bytes) -> bytes:
    """The message the MTA holds: its header fields, a blank line, the body."""
    head = b"".join(name.encode("latin-1") + b":" + _crlf(value) + b"\r\n" for name, value in fields)
    return head + b"\r\n" + body


def header_fields(raw: bytes) -> tuple[list[Field], bytes]:
    """(the header fields of `raw`, its body). Continuation lines stay in their field."""
    end = header_end(raw)
    head = raw[:end]
    fields: list[list[bytes]] = []
    for line in head.splitlines(keepends=True):
        if line.strip(b"\r\n") == b"":
            continue  # the blank line that ends the header
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1][1] += line
        else:
            name, _, value = line.partition(b":")
            fields.append([name, value])
    out = []
    for name, value in fields:
        value = _crlf(value)
        out.append((name.decode("latin-1"), value[:-2] if value.endswith(b"\r\n") else value))
    return out, raw[end:]


@dataclass(frozen=True)
class Edits:
    """What to ask the MTA for: header fields to insert (index among the fields it sent,
    name, value), and the new body (None: the body stays)."""

    insert: tuple[tuple[int, str, bytes], ...] = ()
    body: bytes | None = None

    @property
    def empty(self) -> bool:
        return not self.insert and self.body is None


class NotExpressible(ValueError):
    """The cleaned message changed or removed an existing header field: a milter could do
    it (chgheader), but pixelguard promises to leave other fields alone, so it refuses."""


def plan(fields: list[Field], body: bytes, cleaned: bytes) -> Edits:
    """The edits that make the MTA's copy (`fields`, `body`) equal to `cleaned`, the core's
    output for assemble(fields, body). NotExpressible when an existing field changed."""
    new_fields, new_body = header_fields(cleaned)
    inserts: list[tuple[int, str, bytes]] = []
    i = 0  # next original field to match
    for name, value in new_fields:
        if i < len(fields) and fields[i][0] == name and _crlf(fields[i][1]) == value:
            i += 1
            continue
        inserts.append((i, name, value))
    if i != len(fields):
        raise NotExpressible(f"header field {fields[i][0]!r} changed or removed")
    return Edits(tuple(inserts), None if new_body == body else new_body)
