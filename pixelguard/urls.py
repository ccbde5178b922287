"""URLs as a mail client would resolve them."""
from __future__ import annotations

import re
from urllib.parse import SplitResult, unquote, urljoin, urlsplit

from pixelguard.hostname import normalise

_STRIP = str.maketrans("", "", "\t\r\n")
_C0_AND_SPACE = " " + "".join(map(chr, range(0x20)))  # stripped from both ends
REMOTE_SCHEMES = ("http", "https")
# What a text must contain to spell a URL that resolve() makes remote: a remote scheme (any
# case), "//" (protocol-relative), or an HTML entity or backslash escape that could spell
# either ("https&colon;host/p", "&sol;&sol;host/p"); resolve() drops tabs and newlines
# anywhere in a URL, as browsers do, so they may come between the characters of a mark.
REMOTE_MARKS = ("//", "&", "\\")
REMOTE_SCHEME_MARK = re.compile("|".join(r"[\t\n\r]*".join(map(re.escape, mark)) for mark in
                                         (*(s + ":" for s in REMOTE_SCHEMES), "//")),
                                re.IGNORECASE)

# Limits on a remote URL (docs/SECURITY.md, "Resource limits"). No client can load a host
# past DNS's limits (RFC 1035: 253 octets in all, 63 per label, counted in the IDNA form), and
# HTTP servers refuse request lines past 8 KiB by default: a URL past any of these is no
# content a reader can see, and judging it in full would let one attribute cost minutes.
MAX_URL_CHARS = 32 * 1024
MAX_HOST_OCTETS = 253
MAX_LABEL_OCTETS = 63


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
    try:
        return normalise(host)
    except ValueError:  # no IDNA form: compared as written (no list entry can match it)
        return host.lower().rstrip(".")


def over_limit(url: str, parts: SplitResult | None = None) -> str | None:
    """Why an absolute http(s) URL (as resolve() gives it) is past a limit no loadable
    resource reaches, or None. Cheap: linear in the URL, and the host is measured as
    written before it is normalised (a host written longer than DNS allows is refused even
    when percent-decoding would shorten it), then in its IDNA form. `parts`: its urlsplit(),
    when the caller has it."""
    if len(url) > MAX_URL_CHARS:
        return f"a URL of {len(url)} characters (the limit is {MAX_URL_CHARS})"
    try:
        parts = parts or urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        return None
    host = host.rstrip(".")
    if len(host) > MAX_HOST_OCTETS:
        return f"a host name of {len(host)} characters (DNS allows {MAX_HOST_OCTETS})"
    longest = max(host.split("."), key=len)
    if len(longest) > MAX_LABEL_OCTETS:
        return f"a host label of {len(longest)} characters (DNS allows {MAX_LABEL_OCTETS})"
    if host.isascii():
        return None
    labels = [label if label.isascii() else "xn--" + _punycode(label)
              for label in host_of(parts).split(".")]
    if sum(map(len, labels)) + len(labels) - 1 > MAX_HOST_OCTETS:
        return f"a host name over {MAX_HOST_OCTETS} octets in its IDNA form"
    if max(map(len, labels)) > MAX_LABEL_OCTETS:
        return f"a host label over {MAX_LABEL_OCTETS} octets in its IDNA form"
    return None


def _punycode(label: str) -> str:
    try:
        return label.encode("punycode").decode("ascii")
    except UnicodeError:
        return label
