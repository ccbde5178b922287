"""Host names in one normal form: lower-case, no trailing dot, IDNA (punycode) ASCII.

The config's host lists, the tracker lists and the hosts of URLs in mail are all compared
in this form, so each of them goes through `normalise`; `check_hostname` and `host_entry`
add the checks of a name written in a config file, with messages for people.
"""
from __future__ import annotations

import ipaddress
import re
from typing import Any

_LABEL = re.compile(r"[a-z0-9_-]+")  # one label, no nested quantifiers


def normalise(host: str) -> str:
    """`host` lower-case, without a trailing dot, non-ASCII labels in IDNA (xn--) form.
    Raises ValueError when a non-ASCII name has no IDNA form."""
    host = host.lower().rstrip(".")
    if host.isascii():
        return host
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError:
        raise ValueError(f"{host!r} has no IDNA form") from None


def check_hostname(value: str, what: str = "host") -> str:
    """A DNS name or IP literal, lower-case, without a trailing dot (an IP literal in its
    canonical text, brackets removed; a name as written, its IDNA form checked)."""
    host = value.strip().lower().rstrip(".")
    if not host:
        raise ValueError(f"empty {what}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    try:
        ascii_host = normalise(host)
    except ValueError:
        raise ValueError(f"{value!r} is not a valid {what} name") from None
    labels = ascii_host.split(".")
    if any(not label or len(label) > 63 or not _LABEL.fullmatch(label) for label in labels):
        raise ValueError(f"{value!r} is not a valid {what} name")
    return host


def host_entry(value: Any) -> str:
    """A host list entry: a bare host name in normal form; '*.x' and '.x' mean x (an entry
    always covers its subdomains)."""
    if not isinstance(value, str):
        raise ValueError(f"a host entry must be text, not {type(value).__name__}")  # noqa: TRY004 - pydantic reports ValueErrors
    raw = value.strip()
    if "://" in raw or "/" in raw:
        raise ValueError(
            f"{value!r} looks like a URL or path; give only the host name "
            "(e.g. 'tracker.example.com'), which also covers its subdomains"
        )
    if any(c.isspace() for c in raw):
        raise ValueError(f"{value!r} contains spaces; give one host name per entry")
    if raw.startswith("*."):
        raw = raw[2:]
    elif raw.startswith("."):
        raw = raw[1:]
    if "*" in raw:
        raise ValueError(
            f"{value!r}: only a leading '*.' is understood (and not needed: "
            "an entry always covers its subdomains)"
        )
    if ":" in raw and not raw.startswith("["):
        try:
            ipaddress.IPv6Address(raw)
        except ValueError:
            raise ValueError(f"{value!r}: give the host without a port") from None
    return normalise(check_hostname(raw))  # compared with URL hosts (urls.host_of)
