"""Which clients the relay serves: allowed networks, the connection limit, not while stopping.

Every accepted connection first meets a `Gate`: it answers a refused client and closes, or
hands the connection to a fresh SMTP/LMTP protocol (asyncio's `transport.set_protocol`), so
a refused client never reaches aiosmtpd and an admitted one talks to it directly.
"""
from __future__ import annotations

import asyncio
import ipaddress
import logging
from collections.abc import Callable

from pixelguard.relay.logline import logfmt
from pixelguard.relay.metrics import Metrics

log = logging.getLogger("pixelguard.relay")

SHUTTING_DOWN = "421 4.3.2 pixelguard relay shutting down"


def refusal(peer, active: int, accepting: bool, networks, max_connections: int,
            metrics: Metrics) -> str | None:
    """None to serve a client at `peer` with `active` sessions open (itself included), or
    the reply that turns it away."""
    host = peer[0] if isinstance(peer, tuple) else None
    if not accepting:
        metrics.connections_refused.labels(reason="shutdown").inc()
        return SHUTTING_DOWN
    try:
        ip = ipaddress.ip_address(host) if host else None
    except ValueError:
        ip = None
    if ip is not None and ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip is None or not (ip.is_loopback or any(ip in net for net in networks)):
        metrics.connections_refused.labels(reason="network").inc()
        log.warning(logfmt(msg="client refused: not in allow_networks", peer=host))
        return "554 5.7.1 pixelguard relay: your address is not allowed to use this relay"
    if active > max_connections:
        metrics.connections_refused.labels(reason="limit").inc()
        log.warning(logfmt(msg="client refused: connection limit", peer=host, limit=max_connections))
        return "421 4.7.0 too many connections, try again later"
    return None


class Gate(asyncio.Protocol):
    """The protocol of a connection until it is admitted (see the module's docstring)."""

    def __init__(self, admit: Callable[[object], str | None], serve: Callable[[], asyncio.Protocol]) -> None:
        self._admit = admit
        self._serve = serve

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        refused = self._admit(transport.get_extra_info("peername"))
        if refused is not None:
            transport.write(refused.encode("ascii") + b"\r\n")  # type: ignore[attr-defined]
            transport.close()  # after the reply is written
            return
        protocol = self._serve()
        transport.set_protocol(protocol)
        protocol.connection_made(transport)
