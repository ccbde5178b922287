"""The shipped tracker list (trackers.json), user lists, and the URL matcher.

    from pixelguard.trackers import default_list, load_lists
    hit = default_list().match("https://u123.ct.sendgrid.net/wf/open?upn=abc")
    hit.vendor, hit.precise, hit.pattern, hit.source   # "SendGrid", True, …

Precise entries name a path that only ever serves tracking (fire on any image size);
host-only/imprecise entries fire only on tiny or hidden elements (the detector decides).
Sources and licences of the shipped data: NOTICE.md; review decisions: REVIEW.md;
the two formats user lists may use: FORMAT.md.
"""
from __future__ import annotations

import dataclasses
import functools
import os
import re
from collections.abc import Sequence

from pixelguard.trackers._abp import AbpRule, parse_abp
from pixelguard.trackers._entry import Entry, TrackerListError, TrackerMatch
from pixelguard.trackers._index import TrackerList
from pixelguard.trackers._jsonlist import parse_json_list

__all__ = ["TrackerList", "TrackerListError", "TrackerMatch", "default_list", "load_lists"]

SHIPPED_FILE = "trackers.json"


@functools.cache
def _shipped_entries() -> tuple[Entry, ...]:
    # A plain open next to this file: importlib.resources would add ~5 ms of imports to
    # every pipe-filter process (one per message); the package is installed as files.
    with open(os.path.join(os.path.dirname(__file__), SHIPPED_FILE), encoding="utf-8") as fh:
        text = fh.read()
    # vetted: tests/test_cold_start.py checks every shipped regex once, not each process
    return tuple(parse_json_list(text, f"pixelguard/trackers/{SHIPPED_FILE}", vetted=True))


@functools.cache
def default_list() -> TrackerList:
    """The shipped list, loaded once per process."""
    return TrackerList(_shipped_entries())


_ABP_HEADER = re.compile(r"\[[a-z][^\]\n]*\]\s*(?:\n|$)", re.IGNORECASE)  # "[Adblock Plus 2.0]"


def _is_json(path: str, text: str) -> bool:
    if path.lower().endswith(".json"):
        return True
    head = text.lstrip()
    return head.startswith("{") or (head.startswith("[") and not _ABP_HEADER.match(head))


def _read_list(path: str) -> tuple[list[Entry], list[AbpRule]]:
    try:
        with open(path, encoding="utf-8-sig") as fh:
            text = fh.read()
    except OSError as exc:
        raise TrackerListError(path, 0, f"cannot read tracker list: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        line = exc.object[: exc.start].count(b"\n") + 1
        raise TrackerListError(path, line, "not UTF-8 text") from None
    if _is_json(path, text):
        return parse_json_list(text, path), []
    return [], parse_abp(text, path)


def load_lists(paths: Sequence[str]) -> TrackerList:
    """The shipped list plus the user's list files (our JSON format or Adblock Plus syntax).

    Raises TrackerListError ("FILE:LINE: message") for a file that cannot be used.
    """
    shipped = default_list()
    entries: list[Entry] = list(_shipped_entries())
    abp_rules: list[AbpRule] = []
    for path in paths:
        path = os.fspath(path)
        more_entries, more_rules = _read_list(path)
        entries.extend(more_entries)
        for rule in more_rules:
            host = rule.entry.host
            known = shipped.vendor_for_host(host) if host else None
            if known:  # "||ct.sendgrid.net^" is SendGrid, not a bare host name
                rule = dataclasses.replace(rule, entry=dataclasses.replace(rule.entry,
                                                                           vendor=known))
            abp_rules.append(rule)
    return TrackerList(entries, abp_rules)
