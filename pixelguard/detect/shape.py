"""URL shapes: generic open-tracking endpoints and personalised (per-recipient) tokens."""
from __future__ import annotations

import math
import re
from collections import Counter
from typing import NamedTuple
from urllib.parse import SplitResult, parse_qsl, urlsplit

from pixelguard.urls import host_of, over_limit

# A path segment naming an open-tracking endpoint when followed by an opaque token or as a
# file stem (open.gif, pixel.png, open.aspx).
_OPEN_WORDS = frozenset(
    "open opens opened openrate opentrack pixel pixels beacon track tracking trk tracker "
    "imp impression impressions wf trackurl markread readreceipt".split()
)
# Page-view counters: only as a script loaded as an image (pv.asp, pageview.php), never as a
# folder or a picture file ("/pv/…", "pv.png" are ordinary content names).
_COUNTER_STEMS = frozenset("pv pageview".split())
_SCRIPT_EXT = (".aspx", ".php", ".asp", ".jsp", ".cgi")
# Short segments used by ESPs as "/o/<token>" (Mailgun), "/e/o/" (Customer.io), "/tr/op/",
# "/q/<token>" (SparkPost), "/ss/o/" (SendGrid): only with a token after them.
_SHORT_OPEN = frozenset("o op e q t oo ol".split())
_OPEN_QUERY_VALUES = frozenset("open opened email_open emailopen".split())
_OPEN_QUERY_KEYS = frozenset("open opened openrate".split())
_HOST_LABELS = frozenset(
    "open opens pixel pixels track tracking trk tracker beacon opentrack mailtrack".split()
)
_IMAGE_EXT = (".gif", ".png", ".jpg", ".jpeg", ".webp", ".bmp", ".svg", ".aspx", ".php", ".asp", ".jsp")
_SPACER_STEMS = frozenset("spacer blank transparent clear shim space trans spc s".split())


def _segments(path: str) -> list[str]:
    return [s for s in path.lower().split("/") if s]


class Parsed:
    """One URL split once for every shape test (its query pairs parsed on first use)."""

    __slots__ = ("_pairs", "parts")

    def __init__(self, url: str) -> None:
        try:
            self.parts: SplitResult | None = urlsplit(url)
        except ValueError:
            self.parts = None
        self._pairs: list[tuple[str, str]] | None = None

    @property
    def pairs(self) -> list[tuple[str, str]]:
        if self._pairs is None:
            query = self.parts.query if self.parts is not None else ""
            self._pairs = parse_qsl(query, keep_blank_values=True) if query else []
        return self._pairs


def _parsed(url: str | Parsed) -> Parsed:
    return url if isinstance(url, Parsed) else Parsed(url)


_SEPARATORS = re.compile(r"[-_.~+\s]+")  # what joins the words of a name (and whitespace)
_ASCII_DIGIT = re.compile("[0-9]")
_ASCII_LETTER = re.compile("[a-zA-Z]")


_TOKEN_MIN = 16  # characters


def looks_like_token(s: str) -> bool:
    """An opaque, high-entropy run of 16+ characters (a per-message/recipient id); words
    joined by dashes ("dm-sans-v10-latin-regular") are names, not tokens."""
    if len(s) < _TOKEN_MIN:
        return False
    stem = max(_SEPARATORS.split(s), key=len)
    if len(stem) < _TOKEN_MIN:
        return False
    alnum = len(stem) if stem.isalnum() else sum(c.isalnum() for c in stem)
    if alnum < 0.8 * len(stem):
        return False
    if stem.isascii():  # the usual case: one regex search each, not a loop in Python
        if _ASCII_DIGIT.search(stem) is None or _ASCII_LETTER.search(stem) is None:
            return False
    elif not (any(c.isdigit() for c in stem) and any(c.isalpha() for c in stem)):
        return False
    n = len(stem)
    entropy = -sum(k / n * math.log2(k / n) for k in Counter(stem).values())
    return entropy >= 3.3


def path_has_token(url: str | Parsed) -> bool:
    parts = _parsed(url).parts
    # (the length test first: most segments are short, and a call costs more than the test)
    return parts is not None and any(len(seg) >= _TOKEN_MIN and looks_like_token(seg)
                                     for seg in parts.path.split("/"))


def query_has_token(url: str | Parsed) -> bool:
    return any(len(v) >= _TOKEN_MIN and looks_like_token(v) for _, v in _parsed(url).pairs)


def open_shape(url: str | Parsed) -> str | None:
    """Describe the generic open-tracking shape of the URL, or None."""
    parsed = _parsed(url)
    parts = parsed.parts
    if parts is None:
        return None
    host = (parts.hostname or "").lower()
    segs = _segments(parts.path)
    for i, seg in enumerate(segs):
        stem, _, ext = seg.partition(".")
        if seg in _OPEN_WORDS and (i + 1 < len(segs) or parts.query):
            return f"open-tracking path /{seg}/"
        if ext and stem in _OPEN_WORDS and ("." + ext) in _IMAGE_EXT:
            return f"open-tracking file {seg}"
        if ext and stem in _COUNTER_STEMS and ("." + ext) in _SCRIPT_EXT:
            return f"page-view counter script {seg}"
        if seg in _SHORT_OPEN and i + 1 < len(segs) and looks_like_token(segs[i + 1]) \
                and "." not in segs[-1][-6:]:
            return f"open-tracking path /{seg}/<token>"
    for key, value in parsed.pairs:
        if key.lower() in _OPEN_QUERY_KEYS or value.lower() in _OPEN_QUERY_VALUES:
            return f"open-tracking query {key}={value}"[:80]
    first = host.split(".", 1)[0]
    if first in _HOST_LABELS and host.count(".") >= 1:
        return f"open-tracking host {host}"
    return None


def spacer_name(url: str | Parsed) -> bool:
    """The file is named like a layout spacer (spacer.gif, blank.png, clear.gif)."""
    parts = _parsed(url).parts
    if parts is None or parts.query:
        return False
    segs = _segments(parts.path)
    if not segs:
        return False
    stem, _, ext = segs[-1].rpartition(".")
    return bool(ext) and ext in ("gif", "png") and stem in _SPACER_STEMS


class UrlFacts(NamedTuple):
    """What a URL's own text says, the same in every message that loads it."""

    host: str
    shape: str | None  # open_shape()
    token: bool  # a path segment or query value looks like a personalised token
    query_token: bool  # a query value does
    spacer_name: bool
    over_limit: str | None = None  # urls.over_limit(): then nothing else is judged


def url_facts(url: str) -> UrlFacts:
    """The shape tests of one URL, split once."""
    parsed = Parsed(url)
    beyond = over_limit(url, parsed.parts) if parsed.parts is not None else None
    if beyond is not None:
        return UrlFacts("", None, False, False, False, beyond)
    query_token = query_has_token(parsed)
    return UrlFacts(host_of(parsed.parts), open_shape(parsed),
                    query_token or path_has_token(parsed), query_token, spacer_name(parsed))
