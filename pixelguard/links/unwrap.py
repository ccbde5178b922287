"""The destination a redirector's URL carries, decoded and checked, or None."""
from __future__ import annotations

import base64
import binascii
import json
import re
import zlib
from urllib.parse import SplitResult, unquote, unquote_to_bytes, urlsplit

from pixelguard.links.rules import Redirector, query_raw, search

MAX_URL = 8192  # longer destinations are left wrapped
_UNSAFE = re.compile(r"[\x00-\x20\x7f\\]")  # spaces, controls, backslash
_MAX_INFLATED = 64 * 1024  # a compressed token inflates to at most this much (zip bombs)
_MAX_SEGMENTS = 64  # paths with more segments are not searched for a base64 token
_HOST = re.compile(r"[\w.\-\[\]:%]+")  # a name (IDN letters too), an IPv6 literal

__all__ = ["ascii_url", "destination", "valid_url"]


def valid_url(url: str) -> bool:
    """An absolute http(s) URL a browser reads as written: a host, no spaces or control
    characters, no backslash, a valid port."""
    if not url or len(url) > MAX_URL or _UNSAFE.search(url) is not None:
        return False
    try:
        parts = urlsplit(url)
        port = parts.port  # raises for a bad port
    except ValueError:
        return False
    host = parts.hostname or ""
    if parts.scheme.lower() not in ("http", "https") or not host or port == 0:
        return False
    if not url[len(parts.scheme):].startswith("://"):
        return False
    return _HOST.fullmatch(host) is not None


def destination(url: str, parts: SplitResult, r: Redirector) -> str | None:
    """Where `url` (matched by `r`) leads, when the URL itself says so, written in ASCII:
    the destination's bytes with a non-ASCII host in its IDNA form and every other
    non-ASCII byte percent-encoded (what a browser requests). None when it is not an
    absolute http(s) URL, or when the encoded destination is not wholly in the URL."""
    data = _carried(url, parts, r)
    return None if data is None else ascii_url(data)


def _carried(url: str, parts: SplitResult, r: Redirector) -> bytes | None:
    """The destination's bytes, decoded as the entry says."""
    if r.whole is not None:
        m = search(r.whole, url)
        return _unquote(m.group(1)) if m and m.groups() and m.group(1) else None
    if r.dest_query:
        raw = query_raw(parts.query, r.dest_query)
        if raw is None:
            return None
        data = _unquote(raw)
        if data is not None and r.encoding == "proofpoint-v2":
            data = unquote_to_bytes(data.replace(b"-", b"%").replace(b"_", b"/"))
        return data
    if r.encoding == "proofpoint-v3":
        inner = _proofpoint_v3(url)
        return inner.encode("ascii") if inner is not None and inner.isascii() else None
    if r.dest_segment is None:
        return None
    segments = parts.path.split("/")[1:]
    if r.encoding == "base64":
        return _b64_span(segments, r.dest_segment)
    try:
        value = segments[r.dest_segment]
    except IndexError:
        return None
    return _decode(value, r.encoding)


def _unquote(raw: str) -> bytes | None:
    """A percent-encoded value as bytes; None for raw non-ASCII (its bytes depend on the
    document's charset)."""
    return unquote_to_bytes(raw) if raw.isascii() else None


def _decode(value: str, encoding: str) -> bytes | None:
    if encoding in ("percent", "plain"):
        return _unquote(value)
    if encoding == "jwt-json:e":
        payload = _b64(value.split(".")[0])
        if payload is None:
            return None
        try:
            found = json.loads(payload).get("e")
            return found.encode("utf-8") if isinstance(found, str) else None
        except (ValueError, AttributeError, UnicodeError):
            return None
    if encoding == "zlib-query:l":
        data = _b64(value)
        if data is None:
            return None
        try:
            query = zlib.decompressobj().decompress(data, _MAX_INFLATED).decode("ascii")
        except (zlib.error, UnicodeDecodeError):
            return None
        raw = query_raw(query, ("l",))
        return None if raw is None else _unquote(raw)
    return None


def _b64_span(segments: list[str], index: int) -> bytes | None:
    """A base64 token that starts at path segment `index` and runs to the end of the path
    (standard base64 holds '/', so a token may span segments). A negative index says where
    the token ends, not where it starts: the longest span ending there that decodes to an
    http(s) URL is taken."""
    if len(segments) > _MAX_SEGMENTS:
        return None
    if index >= 0:
        return _b64_text("/".join(segments[index:])) if index < len(segments) else None
    end = len(segments) + index + 1
    for start in range(end):
        data = _b64_text("/".join(segments[start:end]))
        if data is not None and ascii_url(data) is not None:
            return data
    return None


def _b64_text(value: str) -> bytes | None:
    """A base64 token that decodes to UTF-8 text (a URL an ESP encoded), as its bytes."""
    data = _b64(value)
    try:
        return data if data is not None and data.decode("utf-8") else None
    except UnicodeDecodeError:
        return None


def _b64(value: str) -> bytes | None:
    """Standard or URL-safe base64, padded or not, decoded whole: None unless every
    character of `value` is part of the token (re-encoding gives it back)."""
    value = unquote(value).strip()
    if not value or len(value) > 4 * MAX_URL:
        return None
    alt = value.replace("-", "+").replace("_", "/")
    padded = alt + "=" * (-len(alt.rstrip("=")) % 4 if "=" not in alt else 0)
    try:
        data = base64.b64decode(padded, validate=True)
    except (binascii.Error, ValueError):
        return None
    if base64.b64encode(data).decode("ascii").rstrip("=") != alt.rstrip("="):
        return None  # stray bits or padding inside: not one token
    return data


_NON_ASCII = re.compile(rb"[\x80-\xff]")
_AUTHORITY = re.compile(rb"([A-Za-z][A-Za-z0-9+.\-]*://)([^/?#]*)(.*)", re.DOTALL)
# IDNA 2003 (Python's codec) and browsers' UTS 46 map these differently: left wrapped
_DEVIATIONS = frozenset("\u00df\u03c2\u200c\u200d")


def ascii_url(data: bytes) -> str | None:
    """A destination's bytes as an ASCII URL (see `destination`), or None when it is not a
    valid absolute http(s) URL or its host has no exact IDNA form."""
    data = data.strip(b" \t\r\n\f")
    if not data.isascii():
        m = _AUTHORITY.fullmatch(data)
        if m is None:
            return None
        scheme, authority, rest = m.groups()
        if not authority.isascii():
            authority = _idna_authority(authority)
            if authority is None:
                return None
        data = scheme + authority + _NON_ASCII.sub(lambda b: b"%%%02X" % b.group()[0], rest)
    text = data.decode("ascii")
    return text if valid_url(text) else None


def _idna_authority(authority: bytes) -> bytes | None:
    userinfo, at, hostport = authority.rpartition(b"@")
    host, colon, port = hostport.partition(b":")
    if not (userinfo.isascii() and port.isascii()):
        return None
    try:
        name = host.decode("utf-8")
        if _DEVIATIONS.intersection(name):
            return None
        return userinfo + at + name.encode("idna") + colon + port
    except UnicodeError:
        return None


def _proofpoint_v3(url: str) -> str | None:
    """URL Defense v3 keeps the URL between `/v3/__` and `__;`; characters it replaced by `*`
    need the base64 tail, and such URLs are left wrapped."""
    start = url.find("/v3/__")
    end = url.find("__;", start + 6)
    if start < 0 or end < 0:
        return None
    inner = url[start + 6 : end]
    return None if "*" in inner else inner
