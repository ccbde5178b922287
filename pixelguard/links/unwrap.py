"""The destination a redirector's URL carries, decoded and checked, or None."""
from __future__ import annotations

import base64
import binascii
import json
import re
import zlib
from urllib.parse import SplitResult, unquote, urlsplit

from pixelguard.links.rules import Redirector, query_value

MAX_URL = 8192  # longer destinations are left wrapped
_UNSAFE = re.compile(r"[\x00-\x20\x7f\\]")  # spaces, controls, backslash
_MAX_INFLATED = 64 * 1024  # a compressed token inflates to at most this much (zip bombs)
_HOST = re.compile(r"[\w.\-\[\]:%]+")  # a name (IDN letters too), an IPv6 literal

__all__ = ["destination", "valid_url"]


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
    """Where `url` (matched by `r`) leads, when the URL itself says so."""
    if r.whole is not None:
        m = r.whole.search(url)
        raw = m.group(1) if m and m.groups() else None
        value = unquote(raw) if raw else None
    elif r.dest_query:
        value = query_value(parts.query, r.dest_query)
        if value is not None and r.encoding == "proofpoint-v2":
            value = unquote(value.replace("-", "%").replace("_", "/"))
    elif r.encoding == "proofpoint-v3":
        value = _proofpoint_v3(url)
    elif r.dest_segment is not None:
        segments = parts.path.split("/")[1:]
        try:
            value = segments[r.dest_segment]
        except IndexError:
            return None
        value = _decode(value, r.encoding)
    else:
        return None
    if value is None:
        return None
    value = value.strip()
    return value if valid_url(value) else None


def _decode(value: str, encoding: str) -> str | None:
    if encoding == "percent":
        return unquote(value)
    if encoding == "base64":
        decoded = _b64(value)
        return decoded if isinstance(decoded, str) else None
    if encoding == "jwt-json:e":
        payload = _b64(value.split(".")[0], text=False)
        if payload is None:
            return None
        try:
            found = json.loads(payload).get("e")
        except (ValueError, AttributeError):
            return None
        return found if isinstance(found, str) else None
    if encoding == "zlib-query:l":
        data = _b64(value, text=False)
        if data is None:
            return None
        try:
            query = zlib.decompressobj().decompress(data, _MAX_INFLATED).decode("utf-8")
        except (zlib.error, UnicodeDecodeError):
            return None
        return query_value(query, ("l",))
    return value if encoding == "plain" else None


def _b64(value: str, text: bool = True) -> str | bytes | None:
    """Standard or URL-safe base64, padded or not; None unless it decodes (to UTF-8 text,
    or to bytes when not `text`)."""
    value = unquote(value).strip()
    if not value or len(value) > 4 * MAX_URL:
        return None
    value += "=" * (-len(value.rstrip("=")) % 4 if "=" not in value else 0)
    alt = value.replace("-", "+").replace("_", "/")
    try:
        data = base64.b64decode(alt, validate=True)
    except (binascii.Error, ValueError):
        return None
    if not text:
        return data
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
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
