"""The listening relay: aiosmtpd SMTP/LMTP protocols served by `loop.create_server` (aiosmtpd
documents its SMTP class as the protocol factory for that), an idle timeout that does not
count the time the relay works for the client, and a graceful shutdown.

The parts: relay/admission.py decides who is served, relay/handler.py relays each message
(relay/units.py: what one transaction may carry), relay/session.py holds a client session's
state, relay/nexthop.py speaks to the next hop, relay/cleaning.py cleans.
"""
from __future__ import annotations

import asyncio
import dataclasses
import hmac
import ipaddress
import logging
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

from pixelguard.model import Policy
from pixelguard.relay.admission import SHUTTING_DOWN, Gate, refusal
from pixelguard.relay.cleaning import Cleaner
from pixelguard.relay.handler import RelayHandler, Runtime
from pixelguard.relay.logline import logfmt
from pixelguard.relay.metrics import Metrics
from pixelguard.relay.nexthop import NextHop
from pixelguard.relay.session import RelaySession

log = logging.getLogger("pixelguard.relay")

# Real mail has lines far over RFC 5322's 998 bytes; aiosmtpd's default (1001) would answer
# them with a *permanent* 500. Bounded anyway: a line is buffered whole while it is read.
LINE_LENGTH_LIMIT = 1 << 20
# aiosmtpd's own command timeout, given as a backstop only: IdleTimeout closes an idle
# session, and does not count the time the relay works on the client's behalf.
AIOSMTPD_TIMEOUT = 7 * 24 * 3600.0


@dataclass(frozen=True)
class Settings:
    """What the listening side needs, resolved from RelayConfig by the caller."""

    host: str
    port: int
    protocol: str = "smtp"  # smtp | lmtp
    allow_networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    max_size: int = 50_000_000
    timeout: float = 300.0
    max_connections: int = 100
    tls_context: ssl.SSLContext | None = None
    auth_users: dict[str, str] | None = None  # user -> password
    metrics: tuple[str, int] | None = None  # where to serve Prometheus metrics
    hostname: str = field(default_factory=socket.gethostname)



class IdleTimeout:
    """Closes a client session that sent nothing for `seconds` while the relay was not busy
    for it (waiting on the next hop or the cleaner is not the client's idleness)."""

    def __init__(self, protocol: _Relaying, seconds: float) -> None:
        self.protocol = protocol
        self.seconds = seconds
        self.loop = protocol.loop
        self.last = self.loop.time()
        self.handle = self.loop.call_later(seconds, self.check)

    def heard(self) -> None:
        self.last = self.loop.time()

    def check(self) -> None:
        session = self.protocol.session
        transport = self.protocol.transport
        if transport is None or not isinstance(session, RelaySession):
            return
        if session.busy:
            self.last = self.loop.time()  # the client's time starts again when we answer
        left = self.last + self.seconds - self.loop.time()
        if left > 0:
            self.handle = self.loop.call_later(left, self.check)
            return
        log.info(logfmt(msg="client idle, session closed", peer=(session.peer or ("",))[0]))
        transport.close()

    def cancel(self) -> None:
        self.handle.cancel()


class _Relaying:
    """What the relay adds to aiosmtpd's SMTP and LMTP protocols: its Session, session
    bookkeeping for the shutdown, the idle timeout, and the close after a transaction when
    the relay is stopping. Only documented extension points of aiosmtpd are used
    (`_create_session`, `smtp_<COMMAND>`, `push`, `session`, `envelope`, `transport`) and
    asyncio's protocol interface."""

    line_length_limit = LINE_LENGTH_LIMIT

    def __init__(self, handler: RelayHandler, relay: RelayServer, idle_seconds: float, **kwargs) -> None:
        super().__init__(handler, timeout=AIOSMTPD_TIMEOUT, **kwargs)  # type: ignore[call-arg]
        self.relay = relay
        self.idle_seconds = idle_seconds
        self.idle: IdleTimeout | None = None

    def _create_session(self) -> RelaySession:
        before = self.session  # type: ignore[attr-defined]
        return RelaySession(self.loop, before if isinstance(before, RelaySession) else None)  # type: ignore[attr-defined]

    def connection_made(self, transport) -> None:
        if self.idle is None:  # the connection itself (not TLS started on it)
            self.relay.connections.add(self)
            self.relay.metrics.connections.set(len(self.relay.connections))
            self.idle = IdleTimeout(self, self.idle_seconds)
        super().connection_made(transport)  # type: ignore[misc]

    def data_received(self, data: bytes) -> None:
        if self.idle is not None:
            self.idle.heard()
        super().data_received(data)  # type: ignore[misc]

    def connection_lost(self, error) -> None:
        self.relay.connections.discard(self)
        self.relay.metrics.connections.set(len(self.relay.connections))
        if self.idle is not None:
            self.idle.cancel()
        session = self.session  # type: ignore[attr-defined]
        if isinstance(session, RelaySession):
            self.relay.handler.drop_message(session)
            self.relay.handler.release_spares(session)
        super().connection_lost(error)  # type: ignore[misc]

    async def smtp_DATA(self, arg):
        await super().smtp_DATA(arg)  # type: ignore[misc]
        await self._close_if_stopping()

    async def smtp_RSET(self, arg):
        await super().smtp_RSET(arg)  # type: ignore[misc]
        await self._close_if_stopping()

    async def _close_if_stopping(self) -> None:
        session: RelaySession = self.session  # type: ignore[attr-defined]
        if session.closing and session.message is None and self.transport is not None:  # type: ignore[attr-defined]
            await self.push(SHUTTING_DOWN)  # type: ignore[attr-defined]
            self.transport.close()  # type: ignore[attr-defined]

    def close_when_idle(self) -> None:
        """Shutdown: close now if no transaction is open, else right after it ends."""
        session: RelaySession | None = self.session  # type: ignore[attr-defined]
        if session is None:
            return
        session.closing = True
        transport = self.transport  # type: ignore[attr-defined]
        # A closing TLS transport (QUIT answered, TLS close pending) raises on write: skip it.
        if transport is not None and not transport.is_closing() and session.message is None and not session.busy:
            transport.write(SHUTTING_DOWN.encode("ascii") + b"\r\n")
            transport.close()


class RelaySMTP(_Relaying, SMTP):
    pass


class RelayLMTP(_Relaying, LMTP):
    # aiosmtpd answers these after DATA once; LMTP owes one reply per recipient.
    _DATA_ERRORS = ("552 Error: Too much mail data", "500 Line too long")

    async def smtp_DATA(self, arg):
        session: RelaySession = self.session
        session.data_recipients = len(self.envelope.rcpt_tos) if self.envelope else 0
        try:
            await super().smtp_DATA(arg)
        finally:
            session.data_recipients = 0

    async def push(self, status):
        owed = self.session.data_recipients if isinstance(self.session, RelaySession) else 0
        if owed > 1 and isinstance(status, str) and status.startswith(self._DATA_ERRORS):
            for _ in range(owed - 1):
                await super().push(status)
        await super().push(status)


class RelayServer:
    """The listening relay: start(), then shutdown() (graceful) on the same event loop."""

    def __init__(
        self,
        settings: Settings,
        next_hop: NextHop,
        cleaner: Cleaner,
        policy_for: Callable[[str], Policy],
        metrics: Metrics | None = None,
    ) -> None:
        self.settings = settings  # for sessions starting now (see reconfigure)
        self.metrics = metrics or Metrics()
        self.handler = RelayHandler(settings.protocol == "lmtp", Runtime(next_hop, policy_for, cleaner.auth),
                                    cleaner, self.metrics)
        self.connections: set[_Relaying] = set()
        self.port: int | None = None
        self.metrics_port: int | None = None
        self._server: asyncio.AbstractServer | None = None
        self._accepting = True

    def reconfigure(self, settings: Settings, runtime: Runtime) -> None:
        """Reload: sessions accepted from now on get `settings` (max_size, timeout, TLS, AUTH
        users, allow_networks, max_connections), transactions started from now on `runtime`.
        Sessions and transactions in progress keep what they started with. The listening
        socket, the protocol and the metrics endpoint are bound at start and stay."""
        running = self.settings
        self.settings = dataclasses.replace(
            settings, host=running.host, port=running.port, protocol=running.protocol,
            metrics=running.metrics, hostname=running.hostname,
        )
        self.handler.runtime = runtime

    def admit(self, peer, active: int) -> str | None:
        """None to serve a client at `peer` with `active` sessions open (itself included),
        or the reply that turns it away."""
        s = self.settings
        return refusal(peer, active, self._accepting, s.allow_networks, s.max_connections, self.metrics)

    def _gate(self) -> Gate:
        return Gate(lambda peer: self.admit(peer, len(self.connections) + 1), self._protocol)

    def _protocol(self) -> _Relaying:
        s = self.settings
        cls = RelayLMTP if s.protocol == "lmtp" else RelaySMTP
        kwargs = {}
        if s.auth_users:
            kwargs.update(
                auth_required=True,
                # Plain-text AUTH only when there is no TLS to ask for (a loopback-only relay).
                auth_require_tls=s.tls_context is not None,
                authenticator=self._authenticate,
            )
        return cls(
            self.handler,
            data_size_limit=s.max_size,
            enable_SMTPUTF8=True,
            decode_data=False,
            hostname=s.hostname,
            ident="pixelguard relay",
            tls_context=s.tls_context,
            loop=asyncio.get_running_loop(),
            relay=self,
            idle_seconds=s.timeout,
            **kwargs,
        )

    def _authenticate(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        users = self.settings.auth_users or {}
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        user = auth_data.login.decode("utf-8", "replace")
        expected = users.get(user)
        ok = expected is not None and hmac.compare_digest(expected.encode("utf-8"), auth_data.password)
        if not ok:
            log.warning(logfmt(msg="AUTH failed", user=user, peer=session.peer[0] if session.peer else None))
        return AuthResult(success=ok, handled=False)

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            self._gate, host=self.settings.host, port=self.settings.port, reuse_address=True
        )
        self.port = self._server.sockets[0].getsockname()[1]
        if self.settings.metrics is not None:
            try:
                self.metrics_port = self.metrics.serve(*self.settings.metrics)
            except OSError:
                self._server.close()
                raise

    async def shutdown(self, grace: float = 60.0) -> bool:
        """Stop listening, let transactions in flight finish (up to `grace` s), then close.

        Returns True when every session ended within the grace period.
        """
        self._accepting = False
        if self._server is not None:
            self._server.close()
        for proto in list(self.connections):
            proto.close_when_idle()
        deadline = time.monotonic() + grace
        while self.connections and time.monotonic() < deadline:
            await asyncio.sleep(0.05)  # polling a set of live sessions, bounded by the grace period
        clean = not self.connections
        for proto in list(self.connections):
            if proto.transport is not None:  # type: ignore[attr-defined]
                proto.transport.close()  # type: ignore[attr-defined]
        if self.handler.background:
            await asyncio.wait(list(self.handler.background), timeout=15)
        if self._server is not None:
            await self._server.wait_closed()
        self.metrics.close()
        return clean

