"""The `X-PixelGuard` header: its name, the forms of its value, and reading one back.

    X-PixelGuard: removed=3; vendors="Mailchimp, SendGrid"; rules=known-tracker,size
    X-PixelGuard: removed=1; rules=size; skipped=part 1.2 could not be edited in place
    X-PixelGuard: removed=0; links=unwrapped:2,stripped:3,marked:14; link_vendors="Mailchimp:14, Google:2"
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
            skipped: Iterable[str] = (), links: Iterable[tuple[str, int]] = (),
            link_vendors: Iterable[tuple[str, int]] = ()) -> str:
    """`removed=N; vendors="…"; rules=…` (vendors without quotes or backslashes, at most
    MAX_VENDORS; rules sorted), then for link edits (docs/links.md) `; links=unwrapped:2,…`
    and `; link_vendors="Mailchimp:14, …"` (no rules when only links changed), plus
    `; skipped=…` when parts went unchecked."""
    names = [_quotable(v) for v in vendors][:MAX_VENDORS]
    links = list(links)
    value = f"removed={count}"
    if names:
        value += f'; vendors="{", ".join(names)}"'
    if count or not links:
        value += f"; rules={','.join(sorted(set(rules)))}"
    if links:
        value += "; links=" + ",".join(f"{action}:{n}" for action, n in links)
        told = [f"{_quotable(v).replace(':', '').replace(',', '')}:{n}"
                for v, n in link_vendors][:MAX_VENDORS]
        if told:
            value += f'; link_vendors="{", ".join(told)}"'
    skipped = list(skipped)
    if skipped:
        value += "; skipped=" + ",".join(skipped)
    return value


def _quotable(name: str) -> str:
    return name.replace('"', "").replace("\\", "")


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
    # link edits (`links=unwrapped:2,marked:14`) and the vendors of the tracked links
    # (`link_vendors="Mailchimp:14, Google:2"`)
    links: tuple[tuple[str, int], ...] = ()
    link_vendors: tuple[tuple[str, int], ...] = ()


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
    return Stamp(max(count, 0), vendors, rules, links=_counts(fields.get("links", "")),
                 link_vendors=_counts(fields.get("link_vendors", "")))


def _counts(value: str) -> tuple[tuple[str, int], ...]:
    """'unwrapped:2,marked:14' or 'Mailchimp:14, Google:2' as (name, count) pairs (entries
    that do not read are left out)."""
    out = []
    for item in value.split(","):
        name, _, n = item.rpartition(":")
        if name.strip() and n.strip().isdigit():
            out.append((name.strip(), int(n)))
    return tuple(out)
