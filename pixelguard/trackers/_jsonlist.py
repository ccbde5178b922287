"""pixelguard's own JSON list format: read (with line numbers for errors) and write.

    {"format": "pixelguard-trackers", "version": 1,
     "entries": [
       {"vendor": "SendGrid", "host": "sendgrid.net", "path": "/wf/open", "match": "prefix",
        "precise": true, "source": "pixelguard", "note": "open pixel endpoint"},
       ...]}

A file may also be a bare JSON array of entries. Keys of an entry:
  vendor (required) · host ("" = any host; a suffix, "#" = a run of digits) · path ("" = host-only)
  · match: "prefix" (default; path+query starts with path) | "contains" (anywhere in it)
    | "wildcard" (contains, "*" = any run of characters) | "regex" (searched in path+query;
    no nested quantifiers, back-references or look-arounds)
  · precise (default: true when path is set) · source (default: the file's path)
  · note, upstream (free text: why the entry exists, the upstream rule it came from).
"""
from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from pixelguard.trackers._entry import (
    Entry,
    TrackerListError,
    check_regex,
    display_pattern,
    normalize_host,
)

FORMAT = "pixelguard-trackers"
_KEYS = {"vendor", "host", "path", "match", "precise", "source", "note", "upstream"}
_DECODER = json.JSONDecoder()
_WS = " \t\r\n"


def _skip(text: str, i: int, also: str = "") -> int:
    while i < len(text) and (text[i] in _WS or text[i] in also):
        i += 1
    return i


def _entries_with_offsets(text: str, file: str) -> list[tuple[Any, int]]:
    """The raw entry objects and where each starts, walking the top level by hand."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise TrackerListError(file, exc.lineno, f"invalid JSON: {exc.msg}") from None
    i = _skip(text, 0)
    if isinstance(doc, dict):
        if doc.get("format", FORMAT) != FORMAT:
            raise TrackerListError(file, 1, f"unknown format {doc.get('format')!r}")
        if not isinstance(doc.get("entries"), list):
            raise TrackerListError(file, 1, 'expected an "entries" array')
        i += 1  # past "{"
        while True:
            i = _skip(text, i, ",")
            key, i = _DECODER.raw_decode(text, i)
            i = _skip(text, i, ":")
            if key == "entries":
                break
            _, i = _DECODER.raw_decode(text, i)
    elif not isinstance(doc, list):
        raise TrackerListError(file, 1, 'expected an object with "entries" or an array')
    i += 1  # past "["
    found = []
    while True:
        i = _skip(text, i, ",")
        if text[i] == "]":
            return found
        value, end = _DECODER.raw_decode(text, i)
        found.append((value, i))
        i = end


def entry_from_dict(
    raw: Any, file: str, line: int, default_source: str, vetted: bool = False
) -> Entry:
    """Validate one JSON entry; errors are TrackerListError at `file:line`.

    `vetted`: the regexes are known safe (the shipped list, whose every regex the test
    suite runs through check_regex), so the per-process check is skipped."""

    def fail(message: str) -> TrackerListError:
        return TrackerListError(file, line, message)

    if not isinstance(raw, dict):
        raise fail("an entry must be an object")
    unknown = sorted(set(raw) - _KEYS)
    if unknown:
        raise fail(f"unknown key {unknown[0]!r} (known: {', '.join(sorted(_KEYS))})")
    for key in ("vendor", "host", "path", "match", "source", "note", "upstream"):
        if key in raw and not isinstance(raw[key], str):
            raise fail(f"{key!r} must be a string")
    vendor = raw.get("vendor", "").strip()
    if not vendor:
        raise fail("missing 'vendor'")
    host_raw = raw.get("host", "")
    host = normalize_host(host_raw) if host_raw.strip() else ""
    if host_raw.strip() and not host:
        raise fail(f"invalid host {host_raw!r}")
    kind = raw.get("match", "prefix")
    if kind not in ("prefix", "contains", "wildcard", "regex"):
        raise fail(f"'match' must be prefix, contains, wildcard or regex, not {kind!r}")
    path = raw.get("path", "")
    if kind == "regex" and path and not vetted:
        problem = check_regex(path)
        if problem:
            raise fail(f"{problem}: {path!r}")
    else:
        path = path.lower()
    if kind == "prefix" and path and not path.startswith("/"):
        raise fail(f"a prefix path must start with '/': {path!r}")
    if not host and not path.strip("*"):
        raise fail("an entry needs a host, a path or both")
    precise = raw.get("precise", bool(path))
    if not isinstance(precise, bool):
        raise fail("'precise' must be true or false")
    source = raw.get("source", "").strip() or default_source
    return Entry(vendor=vendor, host=host, path=path, kind=kind, precise=precise, source=source,
                 pattern=display_pattern(host, path, kind), note=raw.get("note", ""))


def parse_json_list(
    text: str, file: str, default_source: str | None = None, vetted: bool = False
) -> list[Entry]:
    entries = []
    line, counted = 1, 0  # entries come in file order: count each newline once
    for raw, offset in _entries_with_offsets(text, file):
        line += text.count("\n", counted, offset)
        counted = offset
        entries.append(entry_from_dict(raw, file, line, default_source or file, vetted))
    return entries


def entry_to_dict(entry: Entry) -> dict[str, Any]:
    out: dict[str, Any] = {"vendor": entry.vendor, "host": entry.host, "path": entry.path,
                           "match": entry.kind, "precise": entry.precise, "source": entry.source}
    if entry.note:
        out["note"] = entry.note
    return out


def dump_json_list(entries: Iterable[Entry | dict[str, Any]], header: dict[str, Any]) -> str:
    """Our format, one entry per line (diffs of the shipped list stay readable)."""
    rows = [e if isinstance(e, dict) else entry_to_dict(e) for e in entries]
    head = {"format": FORMAT, "version": 1, **header}
    lines = ["{"]
    for key, value in head.items():
        lines.append(f"  {json.dumps(key)}: {json.dumps(value, ensure_ascii=False)},")
    lines.append('  "entries": [')
    body = [f"    {json.dumps(r, ensure_ascii=False)}" for r in rows]
    lines.append(",\n".join(body))
    lines.append("  ]")
    lines.append("}")
    return "\n".join(lines) + "\n"
