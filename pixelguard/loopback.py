"""Whether a host is this machine's loopback: the one check behind every "loopback only" rule
(clear-text IMAP, a relay or milter listening without an allow-list, AUTH without TLS).

Loopback means an IP literal in 127.0.0.0/8 or ::1 (brackets allowed), or a name reserved
for it: `localhost`, `localhost.localdomain` (the Debian and Red Hat /etc/hosts spelling)
and any name under `.localhost` (RFC 6761 section 6.3). Nothing is resolved: a rule that
lets a password travel in clear text must not depend on what DNS or /etc/hosts says today.
"""
from __future__ import annotations

import ipaddress

_NAMES = ("localhost", "localhost.localdomain")


def is_loopback(host: str) -> bool:
    name = host.strip().lower().rstrip(".")
    if name in _NAMES or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name.removeprefix("[").removesuffix("]")).is_loopback
    except ValueError:
        return False
