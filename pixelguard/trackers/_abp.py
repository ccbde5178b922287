"""Adblock Plus filter syntax (an EasyPrivacy-style file) → tracker list entries.

Supported: `||host^path`, `|http…|` anchors, `*`, `^`, `/regex/`, `!` comments, `[Adblock …]`
headers, `@@` exceptions and `$` options. Element-hiding and HTML-filtering rules (`##`, `#@#`,
`#?#`, `#$#`, `$$`) hide page elements, which has no meaning for remote loads: ignored.
Rules restricted to non-image request types, to first-party requests or to some sites'
pages (`$script`, `$~third-party`, `$domain=site`) cannot apply to a mail's images: ignored.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass

from pixelguard.trackers._entry import Entry, TrackerListError, check_regex, normalize_host

# ABP's "^": any character but a letter, a digit or one of "_-.%", or the end of the address.
_SEPARATOR = r"(?:[^a-z0-9_.%-]|\Z)"

_ELEMENT_HIDING = re.compile(r"#[@?$%]?#|\$\$|#\+js\(")
_OPTIONS = re.compile(r"^[a-z0-9_~,=.|*:/ -]+$", re.IGNORECASE)
# Request types a mail can make when it is displayed (images, CSS, fonts, media, frames).
_MAIL_TYPES = {"image", "media", "stylesheet", "css", "font", "object", "subdocument", "frame",
               "other", "all", "ping"}
_OTHER_TYPES = {"script", "xmlhttprequest", "xhr", "websocket", "webrtc", "document", "doc",
                "popup", "popunder", "inline-script", "inline-font", "genericblock",
                "generichide", "elemhide", "ehide", "ghide", "shide", "specifichide",
                "webtransport", "object-subrequest", "beacon"}
_HARMLESS = {"third-party", "3p", "strict3p", "important", "match-case", "cname", "empty", "mp4"}
_NOT_FOR_MAIL = {"~third-party", "first-party", "1p", "strict1p", "badfilter", "csp",
                 "rewrite", "redirect", "redirect-rule", "removeparam", "queryprune", "header",
                 "permissions", "replace", "urltransform", "sitekey", "denyallow", "method",
                 "uritransform", "urlskip"}
_HOST_CHARS = re.compile(r"[a-z0-9_.-]+")
# ".host.tld/…", "/host.tld/…", "://host.tld/…", "host.tld^…": a literal host followed by the
# rest of the URL. Such rules are indexed by host instead of being tried on every URL.
_LEADING_HOST = re.compile(
    r"^(?:\.|/|://)?([a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z][a-z0-9-]*[a-z])(?=[/^:])(.*)$"
)
_HOST_ONLY_REST = {"", "^", "/", "*", "^*", "/*", "^|", "/|"}


@dataclass(frozen=True)
class Glob:
    """A compiled ABP pattern without its host: literal parts separated by `*`.

    Each part is a regex with no quantifier, and parts are found leftmost-first one after
    the other, which is exact for `*`-only wildcards and linear in the URL's length.
    """

    parts: tuple[re.Pattern[str], ...]
    last_at_end: re.Pattern[str] | None  # the last part, anchored at the end ("…|")
    left_anchored: bool
    literal: str = ""  # the longest plain run of characters any match contains


    def match(self, subject: str, pos: int = 0) -> bool:
        parts = self.parts
        if not parts:
            return True
        n = len(parts)
        for i, part in enumerate(parts):
            is_last = i == n - 1
            if is_last and self.last_at_end is not None:
                rx = self.last_at_end
                m = rx.match(subject, pos) if (i == 0 and self.left_anchored) else rx.search(
                    subject, pos)
                return m is not None
            m = part.match(subject, pos) if (i == 0 and self.left_anchored) else part.search(
                subject, pos)
            if m is None:
                return False
            pos = m.end()
        return True


def _part_regex(text: str, separators: bool) -> str:
    return "".join(_SEPARATOR if (ch == "^" and separators) else re.escape(ch) for ch in text)


def compile_glob(pattern: str, left_anchored: bool, separators: bool = True) -> Glob:
    """Compile an ABP pattern body (lower-case, "||"/"|" at the start stripped by the caller).

    With separators=False ("wildcard" entries of our JSON format) only "*" is special.
    """
    right_anchored = separators and pattern.endswith("|")
    if right_anchored:
        pattern = pattern[:-1]
    raw_parts = pattern.split("*")
    if raw_parts and raw_parts[0] == "":
        left_anchored = False
    if raw_parts and raw_parts[-1] == "":
        right_anchored = False
    texts = [p for p in raw_parts if p]
    parts = tuple(re.compile(_part_regex(t, separators)) for t in texts)
    last_at_end = (re.compile(_part_regex(texts[-1], separators) + r"\Z")
                   if (right_anchored and texts) else None)
    chunks = [c for t in texts for c in (t.split("^") if separators else [t])]
    literal = max(chunks, key=len) if chunks else ""
    return Glob(parts, last_at_end, left_anchored and bool(texts), literal)


@dataclass(frozen=True)
class AbpRule:
    """An entry plus how to match it.

    Host-indexed rules (entry.host set) test `glob` on the URL after the host (None: host-only).
    Other rules test the whole URL: `regex` (a regex source, combinable with others into one
    search) or `glob`; `label_anchored` rules ("||" with a wildcard host) try `glob` at the
    start of every label of the host.
    """

    entry: Entry
    glob: Glob | None = None
    regex: str | None = None
    label_anchored: bool = False


def _options_apply_to_mail(options: str, where: str) -> bool:
    """False when the options restrict the rule to requests a mail never makes."""
    positive: set[str] = set()
    for raw in options.split(","):
        opt = raw.strip().lower()
        if not opt:
            continue
        name, _, value = opt.partition("=")
        if name in ("domain", "from"):
            if any(not d.startswith("~") for d in value.split("|") if d):
                return False  # only on some sites' pages; a mail is no site
            continue
        if name in _NOT_FOR_MAIL or name in ("to",):
            return False
        if name in _HARMLESS:
            continue
        bare = name.removeprefix("~")
        if bare in _MAIL_TYPES or bare in _OTHER_TYPES:
            if not name.startswith("~"):
                positive.add(bare)
            elif bare == "image":
                return False  # "everything but images": not about mail images
            continue
        raise ValueError(f"unknown filter option {name!r} in {where!r}")
    return not positive or bool(positive & _MAIL_TYPES)


def parse_abp_line(line: str, file: str, lineno: int) -> AbpRule | None:
    """One line of an ABP file → a rule, or None for comments and rules that cannot apply."""
    text = line.strip()
    if not text or text.startswith("!") or (text.startswith("[") and text.endswith("]")):
        return None
    if _ELEMENT_HIDING.search(text):
        return None
    exception = text.startswith("@@")
    body = text[2:] if exception else text
    options = ""
    if not (body.startswith("/") and body.endswith("/") and len(body) > 2):
        dollar = body.rfind("$")
        if dollar >= 0 and _OPTIONS.match(body[dollar + 1:] or "-"):
            body, options = body[:dollar], body[dollar + 1:]
    try:
        if options and not _options_apply_to_mail(options, text):
            return None
    except ValueError as exc:
        raise TrackerListError(file, lineno, str(exc)) from None
    body = body.strip()
    if not body:
        raise TrackerListError(file, lineno, f"empty filter {text!r}")
    listed = f"listed in {os.path.basename(file)}"

    def entry(vendor: str, host: str, path: str, kind: str, precise: bool) -> Entry:
        return Entry(vendor=vendor, host=host, path=path, kind=kind, precise=precise,
                     source=file, pattern=text, exception=exception)

    # /regex/ rules run on the whole URL; only linear (vetted) regexes are accepted.
    if len(body) > 2 and body.startswith("/") and body.endswith("/"):
        rx = body[1:-1]
        problem = check_regex(rx)
        if problem:
            raise TrackerListError(file, lineno, f"{problem}: {text!r}")
        return AbpRule(entry(listed, "", rx, "abp", True), regex=rx)

    lower = body.lower()
    if not lower.strip("*^|"):
        raise TrackerListError(file, lineno, f"filter {text!r} would match every URL")

    if lower.startswith("||"):
        rest = lower[2:]
        m = _HOST_CHARS.match(rest)
        host_text = m.group(0) if m else ""
        after = rest[len(host_text):]
        if not host_text and not rest.startswith("*"):
            raise TrackerListError(file, lineno, f"'||' without a host in {text!r}")
        if not host_text or (after.startswith("*") and "." not in host_text):
            return AbpRule(entry(listed, "", rest, "abp", True), glob=compile_glob(rest, True),
                           label_anchored=True)
        host = normalize_host(host_text)
        if not host:
            raise TrackerListError(file, lineno, f"invalid host {host_text!r} in {text!r}")
        if after.startswith("*"):  # "||ads.example*" : the host may continue; match by label
            return AbpRule(entry(host, "", rest, "abp", True), glob=compile_glob(rest, True),
                           label_anchored=True)
        precise = after not in _HOST_ONLY_REST
        return AbpRule(entry(host, host, after if precise else "", "abp", precise),
                       glob=compile_glob(after, True) if precise else None)

    left_anchored = lower.startswith("|")
    if left_anchored:
        lower = lower[1:]
        if lower.startswith(("http://", "https://")):
            tail = lower.split("://", 1)[1]
            m = _HOST_CHARS.match(tail)
            if m and m.end() < len(tail) and tail[m.end()] in "/^:":
                lower = "://" + tail  # scheme-anchored literal host: index it by host
                left_anchored = False
    m = _LEADING_HOST.match(lower) if not left_anchored else None
    if m and "*" not in m.group(1):
        host = normalize_host(m.group(1))
        after = m.group(2)
        if host:
            precise = after not in _HOST_ONLY_REST
            return AbpRule(entry(host, host, after if precise else "", "abp", precise),
                           glob=compile_glob(after, True) if precise else None)
    if not left_anchored and not any(c in lower for c in "*^|"):
        return AbpRule(entry(listed, "", lower, "abp", True), regex=re.escape(lower))
    return AbpRule(entry(listed, "", lower, "abp", True), glob=compile_glob(lower, left_anchored))


def parse_abp(text: str, file: str) -> list[AbpRule]:
    rules = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        rule = parse_abp_line(line, file, lineno)
        if rule is not None:
            rules.append(rule)
    return rules
