"""URLs as a mail client would resolve them."""
from __future__ import annotations

from urllib.parse import SplitResult, unquote, urljoin, urlsplit

_STRIP = str.maketrans("", "", "\t\r\n")
_C0_AND_SPACE = " " + "".join(map(chr, range(0x20)))  # stripped from both ends
REMOTE_SCHEMES = ("http", "https")


def resolve(raw: str, base: str | None = None) -> str | None:
    """The absolute http(s) URL a client would fetch for `raw`, or None when it loads nothing
    remote (cid:, data:, about:, relative without a base, javascript:, ...).

    `raw` has its HTML entities / CSS escapes decoded already. Tab/CR/LF are removed and
    leading/trailing whitespace (and C0 controls) stripped, as browsers do.
    """
    if "\t" in raw or "\n" in raw or "\r" in raw:  # (str.translate is slow: most URLs have none)
        raw = raw.translate(_STRIP)
    url = raw.strip(_C0_AND_SPACE)
    if not url:
        return None
    url = url.replace("\\", "/") if url[:6].lower().startswith(("http:", "https:", "//")) else url
    if url.startswith("//"):
        url = "https:" + url
    scheme = _scheme(url)
    if scheme is None:
        if base is None:
            return None
        base_abs = resolve(base)
        if base_abs is None:
            return None
        try:
            url = urljoin(base_abs, url)
        except ValueError:
            return None
        scheme = _scheme(url)
    if scheme not in REMOTE_SCHEMES:
        return None
    # Browsers read "https:/h/p", "https:h/p", "https:///h/p" and "https:\\h\p" all as
    # https://h/p (WHATWG special schemes): so must we, or such a pixel slips through.
    rest = url[len(scheme) + 1 :].lstrip("/\\")
    url = f"{scheme}://{rest}"
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        return None
    if not host:
        return None
    return url


def _scheme(url: str) -> str | None:
    colon = url.find(":")
    if colon <= 0:
        return None
    scheme = url[:colon]
    if not scheme[0].isalpha() or not all(c.isalnum() or c in "+-." for c in scheme):
        return None
    return scheme.lower()


_IDEOGRAPHIC_DOTS = str.maketrans({"\u3002": ".", "\uff0e": ".", "\uff61": "."})


def host_of(url: str | SplitResult | None) -> str:
    """The host a client would contact, normalised as browsers do: percent-decoded,
    ideographic full stops as dots, lower-case, IDNA (punycode); '' when there is none.
    Takes the URL, or its urlsplit() (None: it did not split)."""
    try:
        host = (urlsplit(url) if isinstance(url, str) else url).hostname or ""
    except (ValueError, AttributeError):
        return ""
    if "%" in host:
        host = unquote(host)
    if not host.isascii():
        host = host.translate(_IDEOGRAPHIC_DOTS)
    host = host.lower().rstrip(".")
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            pass
    return host


def path_and_query(url: str) -> str:
    try:
        parts = urlsplit(url)
    except ValueError:
        return ""
    return parts.path + ("?" + parts.query if parts.query else "")
