"""The lists the links options read: redirectors (destination in the URL), security wrappers,
click trackers (destination not in the URL) and tracking parameters.

The shipped list is `links.json` beside this module (every entry with its source and
licence, see NOTICE.md). Users add lists of the same format, or a ClearURLs rules file
(`data.min.json`: its `redirections`, `rules` and `referralMarketing`), through
`links.lists` in the config. ClearURLs' rules are LGPL-3.0 and not shipped.

The caller reads the user's lists (`load_rules`) and hands them to the core in its Cache
(`pixelguard.cache`); the core reads only the shipped list.
"""
from __future__ import annotations

import functools
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import SplitResult, unquote

from pixelguard.budget import MAX_REGEX_URL

SHIPPED = Path(__file__).with_name("links.json")
MAX_LIST_BYTES = 16 * 1024 * 1024  # ClearURLs' file is about 200 KB
_ENCODINGS = frozenset(("plain", "percent", "base64", "jwt-json:e", "zlib-query:l",
                        "proofpoint-v2", "proofpoint-v3", "none"))
_KINDS = frozenset(("redirect", "security"))

__all__ = ["LinkListError", "LinkRules", "Redirector", "load_rules", "query_raw", "read_list",
           "search", "shipped_rules"]


class LinkListError(Exception):
    """A links list that cannot be read: says which file and which entry."""


@dataclass(frozen=True)
class Redirector:
    """One pattern: a redirector whose destination is in its URL (`dest` names where), a
    security wrapper, or a click tracker (`kind` "tracker", no destination)."""

    id: str
    vendor: str
    kind: str  # redirect | security | tracker
    hosts: tuple[str, ...]
    path: re.Pattern[str]
    query: tuple[str, ...] = ()  # parameters the URL must carry (trackers)
    dest_query: tuple[str, ...] = ()  # the destination is the first of these parameters
    dest_segment: int | None = None  # ... or this path segment (0 first, -1 last)
    encoding: str = "plain"
    source: str = ""
    whole: re.Pattern[str] | None = None  # ClearURLs: a regex over the whole URL, group 1
    # ClearURLs: the provider's urlPattern and exceptions, which gate its redirections
    url_pattern: re.Pattern[str] | None = None
    exceptions: tuple[re.Pattern[str], ...] = ()

    def matches(self, url: str, parts: SplitResult) -> bool:
        if self.whole is not None:
            # a user's regexes may backtrack: they see URLs up to MAX_REGEX_URL only
            if len(url) > MAX_REGEX_URL:
                return False
            if self.url_pattern is not None and search(self.url_pattern, url) is None:
                return False
            if any(search(e, url) for e in self.exceptions):
                return False
            return search(self.whole, url) is not None
        if self.path.fullmatch(parts.path or "/") is None:
            return False
        if self.query:
            names = {p.partition("=")[0] for p in parts.query.split("&")}
            return all(q in names for q in self.query)
        return True


@dataclass(frozen=True)
class ParamRule:
    """Tracking parameters: exact names (lower-case), name prefixes, or ClearURLs regexes
    that apply to URLs their provider's pattern matches."""

    names: frozenset[str] = frozenset()
    prefixes: tuple[str, ...] = ()
    regex: re.Pattern[str] | None = None
    url_pattern: re.Pattern[str] | None = None  # None: every URL
    exceptions: tuple[re.Pattern[str], ...] = ()

    def applies(self, url: str) -> bool:
        if self.regex is not None and len(url) > MAX_REGEX_URL:
            return False  # a user's regexes see URLs up to MAX_REGEX_URL only
        if self.url_pattern is not None and search(self.url_pattern, url) is None:
            return False
        return not any(search(e, url) for e in self.exceptions)

    def strips(self, name: str) -> bool:
        low = name.lower()
        if low in self.names or any(low.startswith(p) for p in self.prefixes):
            return True
        return self.regex is not None and self.regex.fullmatch(name) is not None


@dataclass
class LinkRules:
    """Every list of one policy, indexed by host."""

    exact: dict[str, list[Redirector]] = field(default_factory=dict)
    suffix: dict[str, list[Redirector]] = field(default_factory=dict)  # *.host
    patterned: list[tuple[re.Pattern[str], Redirector]] = field(default_factory=list)
    anywhere: list[Redirector] = field(default_factory=list)  # host "*": a path shape
    params: list[ParamRule] = field(default_factory=list)

    def add(self, r: Redirector) -> None:
        if r.whole is not None:
            self.anywhere.append(r)
            return
        for host in r.hosts:
            if host == "*":
                self.anywhere.append(r)
            elif "*" not in host:
                self.exact.setdefault(host, []).append(r)
            elif host.startswith("*.") and "*" not in host[2:]:
                self.suffix.setdefault(host[2:], []).append(r)
                self.exact.setdefault(host[2:], []).append(r)
            else:
                self.patterned.append((_host_pattern(host), r))

    def find(self, url: str, parts: SplitResult) -> Redirector | None:
        """The first entry that matches `url`: host-specific entries before path shapes."""
        host = (parts.hostname or "").rstrip(".")
        candidates = list(self.exact.get(host, ()))
        labels = host.split(".")
        for i in range(1, len(labels) - 1):
            candidates += self.suffix.get(".".join(labels[i:]), ())
        candidates += [r for pattern, r in self.patterned if pattern.fullmatch(host)]
        candidates += self.anywhere
        for r in candidates:
            if r.matches(url, parts):
                return r
        return None


def search(pattern: re.Pattern[str], text: str) -> re.Match[str] | None:
    """`pattern.search(text)`. A pattern that starts with `.*` and has no `|` outside
    parentheses matches somewhere only if it matches at 0 (the `.*` takes any prefix), so on
    text without line breaks it is matched from 0 alone: the same match, without the
    retries at every offset that make ClearURLs' `.*url=` rules quadratic."""
    if _leading_any(pattern.pattern) and "\n" not in text:
        return pattern.match(text)
    return pattern.search(text)


@functools.lru_cache(maxsize=4096)
def _leading_any(source: str) -> bool:
    if not source.startswith(".*"):
        return False
    depth, i = 0, 0
    while i < len(source):
        c = source[i]
        if c == "\\":
            i += 1  # the escaped character
        elif c == "[":  # a class: up to its closing bracket (a ']' first is literal)
            j = i + 2 if source[i + 1 : i + 2] == "^" else i + 1
            j += 1 if source[j : j + 1] == "]" else 0
            while j < len(source) and source[j] != "]":
                j += 2 if source[j] == "\\" else 1
            i = j
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        elif c == "|" and depth == 0:
            return False
        i += 1
    return True


def _host_pattern(host: str) -> re.Pattern[str]:
    """`google.*` (under .com, a country code, or its com./co.), `protect-*.mimecast.com` (a
    wildcard inside one label), `*.x.example` (x.example and its subdomains)."""
    out = ""
    rest = host
    if rest.startswith("*."):
        out, rest = r"(?:[a-z0-9-]+\.)*", rest[2:]
    tail = ""
    if rest.endswith(".*"):
        # .com, a country code, or its com. or co. second level (google.co.uk)
        rest, tail = rest[:-2], r"\.(?:com|[a-z]{2}|co\.[a-z]{2}|com\.[a-z]{2})"
    out += r"[a-z0-9-]*".join(re.escape(p) for p in rest.split("*")) + tail
    return re.compile(out)


def _path_pattern(path: str) -> re.Pattern[str]:
    """`/url` exactly; `/redirect/*` a prefix; a `*` inside a segment matches within it."""
    prefix = path.endswith("*")
    body = path[:-1] if prefix else path
    out = "[^/]*".join(re.escape(p) for p in body.split("*"))
    return re.compile(out + (".*" if prefix else ""), re.DOTALL)


def read_list(path: str) -> LinkRules:
    """Read one list file (ours or ClearURLs'); LinkListError names the file and entry."""
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_LIST_BYTES + 1)
    except OSError as exc:
        raise LinkListError(f"{path}: {exc.strerror or exc}") from None
    if len(data) > MAX_LIST_BYTES:
        raise LinkListError(f"{path}: larger than {MAX_LIST_BYTES} bytes")
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise LinkListError(f"{path}: not JSON ({exc})") from None
    rules = LinkRules()
    if isinstance(doc, dict) and "providers" in doc:
        _read_clearurls(doc, path, rules)
    elif isinstance(doc, dict) and doc.get("format") == "pixelguard-links/1":
        _read_ours(doc, path, rules)
    else:
        raise LinkListError(f"{path}: neither a pixelguard links list (\"format\": "
                            "\"pixelguard-links/1\") nor a ClearURLs rules file (\"providers\")")
    return rules


def _read_ours(doc: dict[str, Any], path: str, rules: LinkRules) -> None:
    for section, kind_default in (("redirectors", None), ("click_trackers", "tracker")):
        for i, e in enumerate(doc.get(section, [])):
            where = f"{path}: {section}[{i}]"
            try:
                rules.add(_entry(e, kind_default))
            except (KeyError, TypeError, ValueError, re.error) as exc:
                raise LinkListError(f"{where}: {exc}") from None
    names, prefixes = set(), []
    for i, e in enumerate(doc.get("params", [])):
        name = e.get("name") if isinstance(e, dict) else None
        if not isinstance(name, str) or not name.strip("*"):
            raise LinkListError(f"{path}: params[{i}]: a parameter needs a \"name\"")
        if name.endswith("*"):
            prefixes.append(name[:-1].lower())
        else:
            names.add(name.lower())
    if names or prefixes:
        rules.params.append(ParamRule(frozenset(names), tuple(prefixes)))


def _entry(e: Any, kind_default: str | None) -> Redirector:
    if not isinstance(e, dict):
        raise TypeError("an entry is a mapping")
    kind = kind_default or e["kind"]
    if kind_default is None and kind not in _KINDS:
        raise ValueError(f"kind {kind!r} is not one of {', '.join(sorted(_KINDS))}")
    hosts = e["hosts"]
    if not isinstance(hosts, list) or not hosts or not all(isinstance(h, str) and h for h in hosts):
        raise ValueError("hosts must be a list of host patterns")
    dest = e.get("dest", {}) or {}
    encoding = e.get("encoding", "plain" if kind != "tracker" else "none")
    if encoding not in _ENCODINGS:
        raise ValueError(f"encoding {encoding!r} is not one of {', '.join(sorted(_ENCODINGS))}")
    segment = dest.get("segment")
    if segment is not None and not isinstance(segment, int):
        raise ValueError("dest.segment must be a number")
    return Redirector(
        id=str(e.get("id", "")), vendor=str(e["vendor"]), kind=kind,
        hosts=tuple(h.lower() for h in hosts), path=_path_pattern(str(e.get("path", "/*"))),
        query=tuple(e.get("query", ())), dest_query=tuple(dest.get("query", ())),
        dest_segment=segment, encoding=encoding, source=str(e.get("source", "")))


def _read_clearurls(doc: dict[str, Any], path: str, rules: LinkRules) -> None:
    providers = doc["providers"]
    if not isinstance(providers, dict):
        raise LinkListError(f"{path}: \"providers\" must be a mapping")
    for name, p in providers.items():
        where = f"{path}: provider {name!r}"
        try:
            pattern = re.compile(p["urlPattern"], re.IGNORECASE)
            exceptions = tuple(re.compile(x, re.IGNORECASE) for x in p.get("exceptions", ()))
            for redirection in p.get("redirections", ()):
                rules.add(Redirector(
                    id=f"clearurls:{name}", vendor=str(name), kind="redirect", hosts=("*",),
                    path=_path_pattern("/*"), encoding="percent", source=f"{path} (ClearURLs)",
                    whole=re.compile(redirection, re.IGNORECASE), url_pattern=pattern,
                    exceptions=exceptions))
            params = list(p.get("rules", ())) + list(p.get("referralMarketing", ()))
            if params:
                rules.params.append(ParamRule(
                    regex=re.compile("|".join(f"(?:{r})" for r in params), re.IGNORECASE),
                    url_pattern=pattern, exceptions=exceptions))
        except (KeyError, TypeError, re.error) as exc:
            raise LinkListError(f"{where}: {exc}") from None


@functools.cache
def shipped_rules() -> LinkRules:
    """The shipped list (`links.json`, package data), read once per process."""
    return read_list(str(SHIPPED))


def load_rules(paths: Sequence[str]) -> LinkRules:
    """The shipped list and the user's list files at `paths`, merged (user entries after the
    shipped ones): what a caller reads and hands the core in its Cache (pixelguard.cache).
    Raises LinkListError naming the file and entry of a list that cannot be read."""
    shipped = shipped_rules()
    merged = LinkRules({host: list(entries) for host, entries in shipped.exact.items()},
                       {host: list(entries) for host, entries in shipped.suffix.items()},
                       list(shipped.patterned), list(shipped.anywhere), list(shipped.params))
    for path in paths:
        extra = read_list(path)
        for source, target in ((extra.exact, merged.exact), (extra.suffix, merged.suffix)):
            for host, entries in source.items():
                target.setdefault(host, []).extend(entries)
        merged.patterned += extra.patterned
        merged.anywhere += extra.anywhere
        merged.params += extra.params
    return merged


def query_raw(query: str, names: tuple[str, ...]) -> str | None:
    """The value of the first of `names` in a raw query string, as written (not decoded)."""
    for name in names:
        for piece in query.split("&"):
            key, eq, value = piece.partition("=")
            if eq and value and unquote(key) == name:  # an empty value: the next name
                return value
    return None
