"""The `X-PixelGuard` header: its name, the forms of its value, and reading one back.

    X-PixelGuard: removed=3; vendors="Mailchimp, SendGrid"; rules=known-tracker,size
    X-PixelGuard: removed=1; rules=size; skipped=part 1.2 could not be edited in place
    X-PixelGuard: skipped; document larger than 16777216 bytes
    X-PixelGuard: error; message nested too deeply

The core writes the first two (through notice.header_value) and `skipped`; every adapter
that passes a message on uncleaned writes `error` (headers.mark_error, the milter);
`pixelguard report` reads them all back with `parse`.
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

NAME = "X-PixelGuard"
MAX_VENDORS = 20  # vendors named in one header; the count says how many were removed

_FIELD = re.compile(r'\s*([A-Za-z_-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)\s*(?:;|$)')


def removed(count: int, vendors: Iterable[str], rules: Iterable[str],
            skipped: Iterable[str] = ()) -> str:
    """`removed=N; vendors="…"; rules=…` (vendors without quotes or backslashes, at most
    MAX_VENDORS; rules sorted), plus `; skipped=…` when parts went unchecked."""
    names = [v.replace('"', "").replace("\\", "") for v in vendors][:MAX_VENDORS]
    value = f"removed={count}"
    if names:
        value += f'; vendors="{", ".join(names)}"'
    value += f"; rules={','.join(sorted(set(rules)))}"
    skipped = list(skipped)
    if skipped:
        value += "; skipped=" + ",".join(skipped)
    return value


def skipped(reasons: Iterable[str]) -> str:
    """Nothing removed, but not every part could be checked: `skipped; why; why`."""
    return "skipped; " + "; ".join(reasons)


def error(reason: str) -> str:
    """The message passes on uncleaned: `error; why`."""
    return f"error; {reason}"


@dataclass(frozen=True)
class Stamp:
    """What one message's X-PixelGuard header says."""

    removed: int
    vendors: tuple[str, ...]
    rules: tuple[str, ...]
    error: str | None = None
    skipped: str | None = None  # why parts went unchecked, for a `skipped; …` header


def parse(value: str) -> Stamp | None:
    """Read an X-PixelGuard value (folded or not), names as written; None when it is not
    one of ours."""
    text = " ".join(value.split())
    if not text:
        return None
    for kind in ("error", "skipped"):
        if text.lower().startswith(kind) and text[len(kind):len(kind) + 1] in ("", ";", " "):
            why = text[len(kind):].lstrip(" ;") or kind
            return Stamp(0, (), (), **{kind: why})
    fields: dict[str, str] = {}
    pos = 0
    while pos < len(text):
        m = _FIELD.match(text, pos)
        if not m or m.end() == pos:
            break
        raw = m.group(2).strip()
        if raw.startswith('"') and raw.endswith('"') and len(raw) >= 2:
            raw = raw[1:-1].replace('\\"', '"')
        fields[m.group(1).lower()] = raw
        pos = m.end()
    try:
        count = int(fields["removed"])
    except (KeyError, ValueError):
        return None
    vendors = tuple(v for v in fields.get("vendors", "").split(",") if v.strip())
    rules = tuple(r for r in fields.get("rules", "").split(",") if r.strip())
    return Stamp(max(count, 0), vendors, rules)
