"""TrackerList: entries indexed by host suffix, path-only rules folded into one regex each.

match() costs one dict lookup per label of the URL's host (twice: literal and with digit
runs collapsed to "#"), the few entries stored under those keys, and one combined regex
search per group of path-only rules. No regex has nested quantifiers, so all of it is linear
in the URL's length.
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Callable

from pixelguard.trackers._abp import AbpRule, Glob
from pixelguard.trackers._entry import Entry, TrackerMatch, collapse_digits

_SCHEMES = ("http://", "https://")


@dataclass(frozen=True)
class _Url:
    host: str
    after_host: str  # ":port/path?query", lower-case, no fragment
    path_query: str  # "/path?query", lower-case
    full: str  # the whole URL, lower-case, no fragment


def _split(url: str) -> _Url | None:
    text = url.strip()
    low = text.lower()
    if low.startswith("//"):
        low = "https:" + low
    if not low.startswith(_SCHEMES):
        return None
    low = low.replace("\t", "").replace("\r", "").replace("\n", "")
    low = low.split("#", 1)[0]
    start = low.index("//") + 2
    end = start
    while end < len(low) and low[end] not in "/?\\":
        end += 1
    netloc = low[start:end]
    hostport = netloc.rsplit("@", 1)[-1]
    if hostport.startswith("["):  # IPv6 literal
        close = hostport.find("]")
        host, port = hostport[1:close], hostport[close + 1:]
    else:
        host, _, port = hostport.partition(":")
        port = ":" + port if port else ""
    host = host.rstrip(".")
    if not host:
        return None
    rest = low[end:].replace("\\", "/")  # browsers read "\" as "/" in http URLs
    path_query = rest if rest.startswith("/") else "/" + rest
    return _Url(host=host, after_host=port + rest, path_query=path_query, full=low)


@dataclass(frozen=True)
class _Rule:
    entry: Entry
    test: Callable[[_Url], bool] | None  # None: host-only (the host alone decides)


def _path_test(entry: Entry) -> Callable[[_Url], bool] | None:
    path = entry.path
    if not path:
        return None
    if entry.kind == "prefix":
        return lambda u: u.path_query.startswith(path)
    if entry.kind == "contains":
        return lambda u: path in u.path_query
    rx = re.compile(path, re.IGNORECASE)
    return lambda u: rx.search(u.path_query) is not None


def _regex_source(entry: Entry) -> str:
    if entry.kind == "prefix":
        return r"\A" + re.escape(entry.path)
    if entry.kind == "contains":
        return re.escape(entry.path)
    return entry.path


class _Combined:
    """Many path-only rules searched with one regex; the named group tells which one hit."""

    def __init__(self, rules: list[tuple[Entry, str]], subject: str) -> None:
        self.entries = [e for e, _ in rules]
        self.subject = subject
        self.regex = (re.compile("|".join(f"(?P<r{i}>{src})" for i, (_, src) in enumerate(rules)),
                                 re.IGNORECASE) if rules else None)

    def find(self, url: _Url) -> Entry | None:
        if self.regex is None:
            return None
        m = self.regex.search(getattr(url, self.subject))
        return self.entries[int(m.lastgroup[1:])] if m and m.lastgroup else None


class _Index:
    """One set of rules (the blocking ones, or the "@@" exceptions)."""

    def __init__(self) -> None:
        self.by_host: dict[str, list[_Rule]] = {}
        self.by_digit_host: dict[str, list[_Rule]] = {}
        self._pending: dict[tuple[bool, str], list[tuple[Entry, str]]] = {}
        self.globs: list[tuple[Entry, Glob, bool]] = []  # whole-URL ABP patterns
        self.combined: list[_Combined] = []

    def add_entry(self, entry: Entry) -> None:
        if entry.host:
            self._add_host(_Rule(entry, _path_test(entry)))
        else:
            self._pending.setdefault((entry.precise, "path_query"), []).append(
                (entry, _regex_source(entry)))

    def add_abp(self, rule: AbpRule) -> None:
        entry = rule.entry
        if entry.host:
            glob = rule.glob
            test = None if glob is None else (lambda u, g=glob: g.match(u.after_host))
            self._add_host(_Rule(entry, test))
        elif rule.regex is not None:
            self._pending.setdefault((entry.precise, "full"), []).append((entry, rule.regex))
        elif rule.glob is not None:
            self.globs.append((entry, rule.glob, rule.label_anchored))

    def _add_host(self, rule: _Rule) -> None:
        host = rule.entry.host
        table = self.by_digit_host if "#" in host else self.by_host
        key = collapse_digits(host) if "#" in host else host
        table.setdefault(key, []).append(rule)

    def freeze(self) -> None:
        # Precise groups first: match() stops at the first precise hit.
        order = sorted(self._pending.items(), key=lambda kv: (not kv[0][0], kv[0][1]))
        self.combined = [_Combined(rules, subject) for (_, subject), rules in order]
        self._pending = {}

    def host_rules(self, host: str) -> Iterable[_Rule]:
        """Rules for `host` and each of its parent domains, most specific first."""
        labels = host.split(".")
        use_digits = bool(self.by_digit_host)
        for i in range(len(labels)):
            suffix = ".".join(labels[i:])
            yield from self.by_host.get(suffix, ())
            if use_digits:
                yield from self.by_digit_host.get(collapse_digits(suffix), ())

    def find(self, url: _Url) -> Entry | None:
        """The best entry for `url`: a precise one if any, else a host-only/imprecise one."""
        fallback: Entry | None = None
        for rule in self.host_rules(url.host):
            if rule.test is None or rule.test(url):
                if rule.entry.precise:
                    return rule.entry
                fallback = fallback or rule.entry
        for combined in self.combined:
            found = combined.find(url)
            if found is not None:
                if found.precise:
                    return found
                fallback = fallback or found
        for entry, glob, by_label in self.globs:
            if _glob_hits(glob, by_label, url):
                return entry  # ABP rules are all precise
        return fallback

    def vendor_for_host(self, host: str) -> str | None:
        for rule in self.host_rules(host):
            return rule.entry.vendor
        return None


def _glob_hits(glob: Glob, by_label: bool, url: _Url) -> bool:
    if not by_label:
        return glob.match(url.full)
    subject = url.host + url.after_host
    starts = [0] + [i + 1 for i, ch in enumerate(url.host) if ch == "."]
    return any(glob.match(subject, s) for s in starts)


class TrackerList:
    """A set of tracker entries, ready to match URLs. Build with default_list()/load_lists()."""

    def __init__(self, entries: Iterable[Entry] = (), abp_rules: Iterable[AbpRule] = ()) -> None:
        self.entries: tuple[Entry, ...] = ()
        self._block = _Index()
        self._allow = _Index()
        collected: list[Entry] = []
        for entry in entries:
            self._block.add_entry(entry)
            collected.append(entry)
        for rule in abp_rules:
            (self._allow if rule.entry.exception else self._block).add_abp(rule)
            collected.append(rule.entry)
        self._block.freeze()
        self._allow.freeze()
        self.entries = tuple(collected)
        self._has_exceptions = any(e.exception for e in collected)

    def __len__(self) -> int:
        return len(self.entries)

    def match(self, url: str) -> TrackerMatch | None:
        """The list's verdict on an absolute http(s) URL; a precise match beats a host-only one."""
        parts = _split(url)
        if parts is None:
            return None
        entry = self._block.find(parts)
        if entry is None:
            return None
        if self._has_exceptions and self._allow.find(parts) is not None:
            return None
        return TrackerMatch(vendor=entry.vendor, precise=entry.precise, pattern=entry.pattern,
                            source=entry.source)

    def vendor_for_host(self, host: str) -> str | None:
        """The vendor of the most specific entry whose host covers `host`, for naming."""
        host = host.strip().lower().rstrip(".")
        return self._block.vendor_for_host(host) if host else None
