"""Value types of the tracker list: one Entry per rule, what a match returns, list errors."""
from __future__ import annotations

import re
from dataclasses import dataclass

from pixelguard.hostname import normalise

try:  # the stdlib's own regex parser; used only to vet regexes before we compile them
    import re._parser as _sre_parse  # Python >= 3.11
except ImportError:  # pragma: no cover
    import sre_parse as _sre_parse  # type: ignore[no-redef]

# A host entry may contain "#" for "a run of digits" (createsend#.com covers createsend1.com,
# createsend25.com). Lookups collapse the URL host's digit runs the same way.
_HOST_RE = re.compile(r"^[a-z0-9_#-]+(?:\.[a-z0-9_#-]+)*$")
_DIGITS = re.compile(r"[0-9]+")


@dataclass(frozen=True)
class TrackerMatch:
    """What TrackerList.match() found for a URL."""

    vendor: str
    precise: bool  # True: path-precise entry (fires on any size); False: host-only
    pattern: str  # the entry as written, for reasons/debugging
    source: str  # e.g. "mailtrackerblocker@8a8c43c", "pixelguard", or the user's list file path


class TrackerListError(Exception):
    """A tracker list file could not be read; str(e) is "FILE:LINE: message"."""

    def __init__(self, file: str, line: int, message: str) -> None:
        super().__init__(f"{file}:{line}: {message}")
        self.file = file
        self.line = line
        self.message = message


@dataclass(frozen=True)
class Entry:
    """One rule of a tracker list.

    host: a host suffix ("sendgrid.net" covers "u1.ct.sendgrid.net"), "" for any host;
      "#" stands for a run of digits.
    path: what the rule looks for in the URL's path+query ("" = any path: a host-only entry).
      kind "prefix": path+query starts with it; "contains": occurs anywhere in path+query;
      "wildcard": like contains, "*" standing for any run of characters; "regex": a vetted
      regex searched in path+query; "abp": an Adblock Plus pattern (host-anchored rules: the
      part after the host; others: the whole URL).
    precise: a match alone proves tracking (fires on any image size); False: only tiny/hidden.
    """

    vendor: str
    host: str
    path: str
    kind: str
    precise: bool
    source: str
    pattern: str  # as written in the list, for reasons
    note: str = ""
    exception: bool = False  # an Adblock Plus "@@" rule: never a tracker


def collapse_digits(host: str) -> str:
    return _DIGITS.sub("#", host)


def normalize_host(raw: str) -> str:
    """Lower-case a host entry, drop a leading "*." or "." and a trailing "."; "" if invalid."""
    host = raw.strip().lower().removeprefix("*.").strip(".")
    if not host:
        return ""
    try:
        host = normalise(host)
    except ValueError:
        return ""
    return host if _HOST_RE.match(host) else ""


def display_pattern(host: str, path: str, kind: str) -> str:
    if kind == "regex":
        return f"{host} ~{path}" if host else f"~{path}"
    if kind in ("contains", "wildcard"):
        return f"{host}/…{path}" if host else f"…{path}"
    return f"{host}{path}"


_REPEATS = {_sre_parse.MAX_REPEAT, _sre_parse.MIN_REPEAT}
if hasattr(_sre_parse, "POSSESSIVE_REPEAT"):
    _REPEATS.add(_sre_parse.POSSESSIVE_REPEAT)
_FORBIDDEN = {_sre_parse.GROUPREF, _sre_parse.GROUPREF_EXISTS, _sre_parse.ASSERT,
              _sre_parse.ASSERT_NOT}


def _subpatterns(op, av):  # type: ignore[no-untyped-def]
    """The child sub-patterns of one node of the stdlib regex parse tree."""
    if op in _REPEATS:
        return [av[2]]
    if op == _sre_parse.SUBPATTERN:
        return [av[-1]]
    if op == _sre_parse.BRANCH:
        return list(av[1])
    if hasattr(_sre_parse, "ATOMIC_GROUP") and op == _sre_parse.ATOMIC_GROUP:
        return [av]
    return []


def _vet(tree, inside_repeat: bool) -> str | None:  # type: ignore[no-untyped-def]
    for op, av in tree:
        if op in _FORBIDDEN:
            return "back-references and look-arounds are not allowed"
        repeats = op in _REPEATS and av[1] > 1
        if repeats and inside_repeat:
            return "nested quantifiers are not allowed (they can take exponential time)"
        for sub in _subpatterns(op, av):
            problem = _vet(sub, inside_repeat or repeats)
            if problem:
                return problem
    return None


def required_literal(pattern: str) -> str:
    """The longest run of plain characters every match of `pattern` contains (lower-case)."""
    best = run = ""
    for op, av in _sre_parse.parse(pattern, re.IGNORECASE):
        if op == _sre_parse.LITERAL:
            run += chr(av)
            continue
        best, run = max(best, run, key=len), ""
    return max(best, run, key=len).lower()


def check_regex(pattern: str) -> str | None:
    """None if `pattern` compiles and is safe to run on hostile URLs, else the reason."""
    try:
        tree = _sre_parse.parse(pattern, re.IGNORECASE)
        re.compile(pattern, re.IGNORECASE)
    except (re.error, OverflowError, RecursionError) as exc:
        return f"invalid regex: {exc}"
    return _vet(tree, False)
