"""TrackerList: entries indexed by host suffix; path-only entries indexed by 3-grams.

match() costs one dict lookup per label of the URL's host (twice: literal and with digit
runs collapsed to "#"), the few entries stored under those keys, one set of the URL's
3-grams, and the few path-only entries filed under 3-grams the URL contains. No regex has
nested quantifiers; wildcards use a leftmost-first matcher; all of it is linear in practice.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import NamedTuple

from pixelguard.trackers._abp import AbpRule, Glob, compile_glob
from pixelguard.trackers._entry import Entry, TrackerMatch, collapse_digits, required_literal

_SCHEMES = ("http://", "https://")
_NETLOC_END = re.compile(r"[/?\\]")
_FEW_GRAMS = 64


class _Url(NamedTuple):  # (a tuple: built once per URL, read by every rule)
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
    if "\t" in low or "\r" in low or "\n" in low:
        low = low.replace("\t", "").replace("\r", "").replace("\n", "")
    if "#" in low:
        low = low[: low.index("#")]
    start = low.index("//") + 2
    end = start
    m = _NETLOC_END.search(low, start)
    end = m.start() if m else len(low)
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


def _path_test(entry: Entry) -> tuple[Callable[[_Url], bool] | None, str]:
    """How to test a JSON entry on a URL, and a literal any matching URL contains."""
    path = entry.path
    if not path:
        return None, ""
    if entry.kind == "prefix":
        return (lambda u: u.path_query.startswith(path)), path
    if entry.kind == "contains":
        return (lambda u: path in u.path_query), path
    if entry.kind == "wildcard":
        glob = compile_glob(path, left_anchored=False, separators=False)
        return (lambda u: glob.match(u.path_query)), glob.literal
    compiled: list[re.Pattern[str]] = []  # compiled on first use: most never run

    def search(u: _Url) -> bool:
        if not compiled:
            compiled.append(re.compile(path, re.IGNORECASE))
        return compiled[0].search(u.path_query) is not None

    # the literal files a path-only rule (see _Index._add); a rule with a host needs none
    return search, ("" if entry.host else required_literal(path))


def _abp_test(rule: AbpRule) -> tuple[Callable[[_Url], bool] | None, str]:
    glob = rule.glob
    if rule.entry.host:
        return (None, "") if glob is None else ((lambda u: glob.match(u.after_host)), "")
    if rule.regex is not None:
        rx = re.compile(rule.regex, re.IGNORECASE)
        return (lambda u: rx.search(u.full) is not None), required_literal(rule.regex)
    assert glob is not None
    if rule.label_anchored:
        return (lambda u: _glob_at_labels(glob, u)), glob.literal
    return (lambda u: glob.match(u.full)), glob.literal


def _glob_at_labels(glob: Glob, url: _Url) -> bool:
    subject = url.host + url.after_host
    starts = [0] + [i + 1 for i, ch in enumerate(url.host) if ch == "."]
    return any(glob.match(subject, s) for s in starts)


_GRAM = 3  # path-only rules are filed under the first 3 characters of a literal they need


class _Index:
    """One set of rules (the blocking ones, or the "@@" exceptions).

    Rules with a host live in dicts keyed by host suffix. Rules without one are filed under
    a 3-character piece of a literal every match must contain; a URL only tries the rules
    filed under 3-grams it actually contains, so most URLs try none.
    """

    def __init__(self) -> None:
        self.by_host: dict[str, list[_Rule]] = {}
        self.by_digit_host: dict[str, list[_Rule]] = {}
        self.by_gram: dict[str, list[_Rule]] = {}
        self.always: list[_Rule] = []  # path-only rules with no usable literal (rare)
        # the longest key of each host table: no longer suffix can be in it
        self.longest = 0
        self.longest_digit = -1  # (-1: no key, so every collapsed suffix is too long)

    def add_entry(self, entry: Entry) -> None:
        self._add(_Rule(entry, None), *_path_test(entry))

    def add_abp(self, rule: AbpRule) -> None:
        self._add(_Rule(rule.entry, None), *_abp_test(rule))

    def _add(self, rule: _Rule, test: Callable[[_Url], bool] | None, literal: str) -> None:
        rule = _Rule(rule.entry, test)
        host = rule.entry.host
        if host:
            table = self.by_digit_host if "#" in host else self.by_host
            key = collapse_digits(host) if "#" in host else host
            table.setdefault(key, []).append(rule)
            if table is self.by_host:
                self.longest = max(self.longest, len(key))
            else:
                self.longest_digit = max(self.longest_digit, len(key))
        elif len(literal) >= _GRAM:
            self.by_gram.setdefault(literal[:_GRAM], []).append(rule)
        else:
            self.always.append(rule)

    def host_rules(self, host: str) -> Iterable[_Rule]:
        """Rules for `host` and each of its parent domains, most specific first. Suffixes
        longer than the longest host in the index are skipped by position, unsliced: a host
        of many labels costs time linear in its length, not in the square of it."""
        by_host = self.by_host
        by_digit_host = self.by_digit_host
        # digit runs never cross a dot: the collapsed suffixes are those of the collapsed host
        collapsed = collapse_digits(host) if by_digit_host else ""
        pos = cpos = 0
        while len(host) - pos > self.longest and len(collapsed) - cpos > self.longest_digit:
            dot = host.find(".", pos)
            if dot < 0:
                return
            pos = dot + 1
            if by_digit_host:
                cpos = collapsed.index(".", cpos) + 1
        suffix = host[pos:]
        collapsed = collapsed[cpos:]
        while True:
            yield from by_host.get(suffix, ())
            if by_digit_host:
                yield from by_digit_host.get(collapsed, ())
                collapsed = collapsed.partition(".")[2]
            dot = suffix.find(".")
            if dot < 0:
                return
            suffix = suffix[dot + 1:]

    def _pathless_rules(self, url: _Url) -> Iterable[_Rule]:
        yield from self.always
        if not self.by_gram:
            return
        full = url.full
        keys = self.by_gram.keys()
        if len(keys) <= _FEW_GRAMS:  # the shipped list: a substring test per key is cheaper
            found = [gram for gram in keys if gram in full]
        else:  # large user lists: the URL's own 3-grams, looked up
            grams = {full[i:i + _GRAM] for i in range(len(full) - _GRAM + 1)}
            found = [gram for gram in keys if gram in grams] if len(keys) < len(grams) \
                else [gram for gram in grams if gram in keys]
        for gram in found:
            yield from self.by_gram[gram]

    def find(self, url: _Url) -> Entry | None:
        """The best entry for `url`: a precise one if any, else a host-only/imprecise one."""
        fallback: Entry | None = None
        for rules in (self.host_rules(url.host), self._pathless_rules(url)):
            for rule in rules:
                if rule.test is None or rule.test(url):
                    if rule.entry.precise:
                        return rule.entry
                    fallback = fallback or rule.entry
        return fallback

    def vendor_for_host(self, host: str) -> str | None:
        for rule in self.host_rules(host):
            return rule.entry.vendor
        return None


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
