"""The listening side: an aiosmtpd SMTP/LMTP server whose handler relays through the cleaner.

Each recipient is answered with the next hop's own reply. A next-hop transaction is opened
per *policy group* at the first RCPT of that group (so every RCPT gets the next hop's live
answer); at DATA each group's copy is cleaned once with the group's policy and sent on.
Nothing is held in memory after our reply: 250 means the next hop has the message.

SMTP has one reply to DATA for all recipients, so the SMTP listener takes at most one
*delivery unit* per transaction — the recipients whose DATA outcome is necessarily the same:
one policy group for an SMTP next hop (one next-hop transaction, one DATA reply), one
recipient for an LMTP or Maildir next hop (a result per recipient). Any other recipient is
answered `452 4.5.3` and the client sends it in a new transaction (RFC 5321 4.5.3.1.10).
Never answering one DATA for outcomes that differ means a retry never delivers twice and a
bounce never names a recipient who got the message. The LMTP listener answers per recipient
and takes them all.

A client retries in the same order (Postfix sorts recipients), so a first recipient whose
delivery keeps failing would hold the others back at every retry. A recipient deferred after
DATA while others waited for a new transaction therefore *gives way* to them (GiveWay).
"""
from __future__ import annotations

import asyncio
import dataclasses
import hmac
import ipaddress
import logging
import secrets
import socket
import ssl
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

from pixelguard.config import AuthConfig
from pixelguard.model import Policy
from pixelguard.relay.cleaning import Cleaned, Cleaner
from pixelguard.relay.logline import logfmt
from pixelguard.relay.metrics import Metrics
from pixelguard.relay.nexthop import MailFrom, NextHop, Transaction
from pixelguard.relay.reply import Reply, internal_error, temp_failure
from pixelguard.relay.workers import PoolClosed

log = logging.getLogger("pixelguard.relay")

# Real mail has lines far over RFC 5322's 998 bytes; aiosmtpd's default (1001) would answer
# them with a *permanent* 500. Bounded anyway: a line is buffered whole while it is read.
LINE_LENGTH_LIMIT = 1 << 20
# Next-hop connections one client session keeps between its messages (one per policy group).
SPARE_CONNECTIONS = 2
# SMTP listener, a recipient outside the transaction's one delivery unit: "send me later".
TOO_MANY_RECIPIENTS = Reply(452, "4.5.3 Too many recipients; send this one in a new transaction")
# Recipients that give way once (see GiveWay): senders and recipients remembered, how long.
GIVE_WAY_SENDERS = 10_000
GIVE_WAY_PER_SENDER = 1_000
GIVE_WAY_SECONDS = 24 * 3600.0


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


@dataclass(frozen=True)
class Runtime:
    """What a transaction is relayed with, from the configuration current at its MAIL.

    A reload (SIGHUP) puts a new Runtime in place for the transactions that start after it;
    one in progress keeps the Runtime it started with (its policies, next hop, DKIM/ARC).
    """

    next_hop: NextHop
    policy_for: Callable[[str], Policy]
    auth: AuthConfig | None = None  # DKIM verification / ARC sealing for the cleaner


@dataclass
class Group:
    """Recipients that share one policy, hence one cleaned copy and one next-hop transaction."""

    policy: Policy  # recipients=() — the grouping key
    tx: Transaction
    opened: Reply
    rcpts: list[str] = field(default_factory=list)


@dataclass
class MessageState:
    id: str
    mail: MailFrom
    runtime: Runtime
    groups: dict[Policy, Group] = field(default_factory=dict)
    accepted: list[tuple[Group, int]] = field(default_factory=list)  # per accepted RCPT, in order
    refused: list[tuple[str, Reply]] = field(default_factory=list)
    later: list[str] = field(default_factory=list)  # answered 452 4.5.3: for a new transaction

    def abort(self) -> None:
        for group in self.groups.values():
            group.tx.abort()


class GiveWay:
    """Recipients that let the others of their message go first.

    When a transaction's recipients are deferred after DATA while others of the message were
    told 452 4.5.3, a client retrying in the same order would offer the failing ones first
    again, and the others would wait behind them for as long as they keep failing. So each
    deferred recipient gives way once: the next transaction from the same sender that starts
    with it answers it 452 4.5.3 too, until those others have had a transaction of their own.
    """

    def __init__(self, senders: int = GIVE_WAY_SENDERS, per_sender: int = GIVE_WAY_PER_SENDER,
                 seconds: float = GIVE_WAY_SECONDS) -> None:
        self.senders, self.per_sender, self.seconds = senders, per_sender, seconds
        # sender -> (until, {deferred recipient: the recipients it gives way to})
        self._marks: OrderedDict[str, tuple[float, dict[str, set[str]]]] = OrderedDict()

    def deferred(self, sender: str, rcpts: list[str], waiting: list[str]) -> None:
        """`rcpts` were deferred after DATA while `waiting` were sent to a new transaction."""
        others = set(waiting) - set(rcpts)
        if not rcpts or not others:
            return
        _until, marks = self._marks.pop(sender, (0.0, {}))
        for rcpt in rcpts:
            marks.pop(rcpt, None)
            marks[rcpt] = set(others)
        while len(marks) > self.per_sender:
            marks.pop(next(iter(marks)))
        self._marks[sender] = (time.monotonic() + self.seconds, marks)
        while len(self._marks) > self.senders:
            self._marks.popitem(last=False)

    def accepted(self, sender: str, rcpt: str) -> None:
        """`rcpt` has a transaction now: nobody need give way to it (or for it) any more."""
        entry = self._marks.get(sender)
        if entry is None:
            return
        marks = entry[1]
        marks.pop(rcpt, None)
        for deferred in list(marks):
            marks[deferred].discard(rcpt)
            if not marks[deferred]:
                del marks[deferred]
        if not marks:
            del self._marks[sender]

    def gives_way(self, sender: str, rcpt: str) -> bool:
        """True (once) when `rcpt`, first in a transaction, is to let the others go first."""
        entry = self._marks.get(sender)
        if entry is None:
            return False
        until, marks = entry
        if until <= time.monotonic():
            del self._marks[sender]
            return False
        if marks.pop(rcpt, None) is None:
            return False
        if not marks:
            del self._marks[sender]
        return True


def has_control_chars(address: str) -> bool:
    """A CR, NUL or other control character in an address: never passed on in a command line
    (a next hop that ends lines at a bare CR would read the rest as a command of its own)."""
    return any(ord(c) < 0x20 or ord(c) == 0x7F for c in address)


def summarize(replies: list[Reply], txid: str) -> Reply:
    """The single DATA reply SMTP allows for several recipients' outcomes.

    The SMTP listener takes one delivery unit per transaction, so the replies are alike and
    this is that reply. Mixed outcomes are a bug: we cannot un-deliver, so a temporary
    failure among them answers 451 (a retry may duplicate, never lose), and otherwise the
    permanent failure is reported — never a 250 for a copy that was not delivered.
    """
    if all(r.ok for r in replies):
        texts = list(dict.fromkeys(r.text for r in replies))
        return Reply(250, f"{texts[0]} (id={txid})" if len(texts) == 1 else f"2.0.0 OK (id={txid})")
    failed = [r for r in replies if not r.ok]
    temporary = [r for r in failed if r.temporary]
    if len(failed) == len(replies):
        return temporary[0] if temporary else failed[0]
    if temporary:
        return Reply(451, f"4.3.0 delivered to only some recipients, retry: {temporary[0].line()} (id={txid})")
    return Reply(
        failed[0].code,
        f"{failed[0].text} (some recipients were delivered; others refused; id={txid})",
    )


class RelayHandler:
    """aiosmtpd handler: the hooks for MAIL, RCPT, DATA, RSET."""

    def __init__(
        self,
        settings: Settings,
        runtime: Runtime,
        cleaner: Cleaner,
        metrics: Metrics,
    ) -> None:
        self.settings = settings
        self.runtime = runtime  # for transactions starting now (RelayServer.reconfigure)
        self.cleaner = cleaner
        self.metrics = metrics
        self.lmtp = settings.protocol == "lmtp"
        self.background: set[asyncio.Task] = set()
        self.give_way = GiveWay()

    # -- hooks ----------------------------------------------------------------------------
    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if server.pg_closing:
            return "421 4.3.2 pixelguard relay shutting down"
        # aiosmtpd ends a transaction on its own after e.g. a 552 (too big): drop its next hops.
        self.drop_message(server)
        sender = "" if address == "<>" else address
        try:
            sender.encode("utf-8")
        except UnicodeEncodeError:
            return "553 5.1.7 sender address is not valid UTF-8"
        if has_control_chars(sender):
            return "553 5.1.7 control characters in the sender address"
        if not envelope.smtp_utf8 and not sender.isascii():
            # it could not be sent on (RFC 6531 3.4); refused for good, as RCPT does
            return "553 5.6.7 non-ASCII address needs SMTPUTF8"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        server.pg_message = MessageState(
            id=secrets.token_hex(6),
            mail=MailFrom(
                sender=sender,
                smtputf8=envelope.smtp_utf8,
                body_8bit="BODY=8BITMIME" in mail_options,
            ),
            runtime=self.runtime,
        )
        return "250 2.1.0 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        state: MessageState | None = server.pg_message
        if state is None:
            return "503 5.5.1 need MAIL first"
        try:
            address.encode("utf-8")
        except UnicodeEncodeError:
            return "553 5.1.3 recipient address is not valid UTF-8"
        if has_control_chars(address):
            return "553 5.1.3 control characters in the recipient address"
        if not state.mail.smtputf8 and not address.isascii():
            return "553 5.6.7 non-ASCII address needs SMTPUTF8"
        server.pg_busy = True
        try:
            reply = await self._rcpt(server, state, address)
        except Exception:
            log.exception("RCPT failed id=%s", state.id)
            reply = internal_error(state.id)
        finally:
            server.pg_busy = False
        if reply.ok:
            envelope.rcpt_tos.append(address)
            envelope.rcpt_options.extend(rcpt_options)
        elif reply is TOO_MANY_RECIPIENTS:
            state.later.append(address)  # not refused by the next hop: ours, for a new transaction
        else:
            state.refused.append((address, reply))
            self.metrics.nexthop_errors.labels(stage="rcpt", reply=f"{reply.code // 100}xx").inc()
        return reply.line()

    async def _rcpt(self, server, state: MessageState, address: str) -> Reply:
        key = dataclasses.replace(state.runtime.policy_for(address), recipients=())
        if self._needs_own_transaction(state, key, address):
            return TOO_MANY_RECIPIENTS
        group = state.groups.get(key)
        if group is None:
            tx = self._spare(server, state.runtime.next_hop) or state.runtime.next_hop.transaction()
            try:
                opened = await tx.begin(state.mail)
            except BaseException:  # cancelled (client gone) or a bug: close what was opened
                tx.abort()
                raise
            group = Group(key, tx, opened)
            state.groups[key] = group
        if not group.opened.ok:
            return group.opened
        reply = await group.tx.rcpt(address)
        if reply.ok:
            state.accepted.append((group, len(group.rcpts)))
            group.rcpts.append(address)
            if not self.lmtp:
                self.give_way.accepted(state.mail.sender, address)
        return reply

    def _needs_own_transaction(self, state: MessageState, key: Policy, address: str) -> bool:
        """SMTP listener: True when a recipient with policy `key` is not in the delivery unit
        already accepted in this transaction (its DATA outcome could differ from the others',
        and SMTP has only one DATA reply for all), or when it gives way to the others.
        The LMTP listener answers per recipient."""
        if self.lmtp:
            return False
        if not state.accepted:
            return self.give_way.gives_way(state.mail.sender, address)
        if state.runtime.next_hop.per_recipient_data:
            return True  # LMTP/Maildir next hop: one result per recipient
        return any(group.rcpts for k, group in state.groups.items() if k != key)

    async def handle_DATA(self, server, session, envelope):
        state: MessageState = server.pg_message
        server.pg_message = None
        server.pg_busy = True
        started = time.monotonic()
        try:
            replies, cleaned = await self._deliver(state, envelope.original_content)
        except asyncio.CancelledError:
            # The client is gone and will retry: drop the next-hop sessions so that a
            # message not yet confirmed by the next hop is not delivered behind its back.
            state.abort()
            log.warning(logfmt(msg="client went away during DATA", id=state.id))
            raise
        except Exception:
            state.abort()
            log.exception("DATA failed id=%s", state.id)
            replies = [internal_error(state.id)] * len(state.accepted)
            cleaned = []
        else:
            self._finish(server, state)
        finally:
            server.pg_busy = False
        elapsed = time.monotonic() - started
        if not self.lmtp:
            deferred = [a for a, r in zip(envelope.rcpt_tos, replies) if r.temporary]
            self.give_way.deferred(state.mail.sender, deferred, state.later)
        try:
            self._record(state, envelope, replies, cleaned, elapsed)
        except Exception:
            log.exception("recording message id=%s failed", state.id)
        if self.lmtp:
            for reply in replies[:-1]:
                await server.push(reply.line())
            return replies[-1].line()
        return summarize(replies, state.id).line()

    async def handle_RSET(self, server, session, envelope):
        self.drop_message(server)
        return "250 2.0.0 OK"

    async def handle_exception(self, error: Exception) -> str:
        log.error("session error: %s: %s", error.__class__.__name__, error)
        return "451 4.3.0 pixelguard internal error; try again later"

    # -- delivery -------------------------------------------------------------------------
    async def _deliver(self, state: MessageState, content: bytes) -> tuple[list[Reply], list[Cleaned]]:
        groups = [g for g in state.groups.values() if g.rcpts]

        async def one(group: Group) -> tuple[list[Reply], Cleaned | None]:
            try:
                policy = dataclasses.replace(group.policy, recipients=tuple(group.rcpts))
                # The next hop's DATA / 354 round trip runs while the message is cleaned.
                # (Nothing is delivered before the content's final dot: if anything fails
                # in between, abort() drops the connection.)
                cleaning = asyncio.ensure_future(self.cleaner.clean(content, policy, state.runtime.auth))
                try:
                    refused = await group.tx.start_data()
                except BaseException:  # cancelled (the session is cut off)
                    cleaning.cancel()
                    raise
                cleaned = await cleaning
                if refused is not None:
                    return [refused] * len(group.rcpts), cleaned
                replies = await group.tx.data(cleaned.raw, group.rcpts)
                if len(replies) != len(group.rcpts):
                    raise RuntimeError(f"next hop gave {len(replies)} replies for {len(group.rcpts)} recipients")
                return replies, cleaned
            except PoolClosed:  # a session still waiting for cleaning when the relay stopped
                log.warning("relay stopping: id=%s deferred", state.id)
                group.tx.abort()
                return [temp_failure("4.3.2", "relay shutting down, try again later")] * len(group.rcpts), None
            except Exception:
                log.exception("delivery failed id=%s", state.id)
                group.tx.abort()
                return [internal_error(state.id)] * len(group.rcpts), None

        results = await asyncio.gather(*(one(g) for g in groups))
        by_group = {id(g): r for g, (r, _c) in zip(groups, results)}
        replies = [by_group[id(group)][i] for group, i in state.accepted]
        return replies, [c for _r, c in results if c is not None]

    def _finish(self, server, state: MessageState) -> None:
        """Keep a next-hop connection that just delivered for this client's next message;
        QUIT the others in the background (our client need not wait for that)."""
        for group in state.groups.values():
            if group.tx.reusable() and self._keeps(server):
                server.pg_spare.append((state.runtime.next_hop, group.tx))
            else:
                self._spawn(group.tx.finish())

    def _spare(self, server, hop: NextHop) -> Transaction | None:
        """A kept connection to `hop` for a new transaction, if the session has one. Those kept
        for another next hop (the configuration was reloaded since) are QUIT instead."""
        while server.pg_spare:
            kept_for, tx = server.pg_spare.pop()
            if kept_for is hop:
                return tx
            self._spawn(tx.finish())
        return None

    @staticmethod
    def _keeps(server) -> bool:
        return server.transport is not None and not server.pg_closing and len(server.pg_spare) < SPARE_CONNECTIONS

    def release_spares(self, server) -> None:
        """The client session ended: QUIT the next-hop connections it kept."""
        spares, server.pg_spare = server.pg_spare, []
        for _hop, tx in spares:
            self._spawn(tx.finish())

    def _spawn(self, coro) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self.background.add(task)
        task.add_done_callback(self.background.discard)

    def drop_message(self, server) -> None:
        """End a transaction that never reached DATA (RSET, new MAIL, client gone)."""
        state: MessageState | None = getattr(server, "pg_message", None)
        server.pg_message = None
        if state is None:
            return
        state.abort()
        if state.refused:  # e.g. the next hop is down: the admin must see it in the log
            outcome = "deferred" if any(r.temporary for _a, r in state.refused) else "rejected"
            self.metrics.messages.labels(outcome=outcome).inc()
            log.info(
                logfmt(
                    msg="message",
                    id=state.id,
                    outcome=outcome,
                    sender=f"<{state.mail.sender}>",
                    refused="; ".join(f"{a}: {r.line()}" for a, r in state.refused),
                    later=",".join(state.later) or None,
                )
            )

    def _record(self, state, envelope, replies: list[Reply], cleaned: list[Cleaned], elapsed: float) -> None:
        findings = [f for c in cleaned for f in c.findings]
        errors = [c.error for c in cleaned if c.error]
        if all(r.ok for r in replies):
            outcome = "delivered"
        elif not any(r.ok for r in replies):
            outcome = "deferred" if any(r.temporary for r in replies) else "rejected"
        else:
            outcome = "partial"
        m = self.metrics
        m.messages.labels(outcome=outcome).inc()
        m.latency.observe(elapsed)
        m.found(findings)
        if errors:
            m.clean_errors.inc()
        for r in replies:
            m.recipients.labels(reply=f"{r.code // 100}xx").inc()
            if not r.ok:
                m.nexthop_errors.labels(stage="data", reply=f"{r.code // 100}xx").inc()
        if not log.isEnabledFor(logging.INFO):
            return  # (--log-level WARNING: no line to build)
        vendors = sorted({f.vendor for f in findings if f.vendor})
        per_rcpt = "; ".join(f"{a}: {r.line()}" for a, r in zip(envelope.rcpt_tos, replies))
        refused = "; ".join(f"{a}: {r.line()}" for a, r in state.refused)
        log.info(
            logfmt(
                msg="message",
                id=state.id,
                outcome=outcome,
                sender=f"<{state.mail.sender}>",
                rcpts=",".join(envelope.rcpt_tos),
                size=len(envelope.original_content or b""),
                copies=len(cleaned),
                trackers=len(findings),
                vendors=",".join(vendors) or None,
                clean_error="; ".join(errors) or None,
                nexthop=per_rcpt,
                refused=refused or None,
                later=",".join(state.later) or None,
                ms=elapsed * 1000,
            )
        )


# ------------------------------------------------------------------------------ protocol


class _RelayProtocolMixin:
    """Admission (networks, connection limit, shutdown), a handler-aware idle timeout,
    and a graceful close once the transaction in progress is done."""

    line_length_limit = LINE_LENGTH_LIMIT
    pg_server: RelayServer

    def _pg_init(self, relay: RelayServer) -> None:
        self.pg_server = relay
        self.pg_message: MessageState | None = None
        self.pg_busy = False
        self.pg_closing = False
        # next-hop connections kept for the next message, with the next hop each goes to
        self.pg_spare: list[tuple[NextHop, Transaction]] = []

    def connection_made(self, transport) -> None:
        if not hasattr(self, "pg_counted"):
            self.pg_counted = True
            self.pg_server.connections.add(self)
            self.pg_server.metrics.connections.set(len(self.pg_server.connections))
        super().connection_made(transport)  # type: ignore[misc]

    def connection_lost(self, error) -> None:
        self.pg_server.connections.discard(self)
        self.pg_server.metrics.connections.set(len(self.pg_server.connections))
        self.pg_server.handler.drop_message(self)
        self.pg_server.handler.release_spares(self)
        super().connection_lost(error)  # type: ignore[misc]

    async def _handle_client(self) -> None:
        refusal = self.pg_server.admit(self.session.peer, len(self.pg_server.connections))  # type: ignore[attr-defined]
        if refusal is not None:
            await self.push(refusal)  # type: ignore[attr-defined]
            self.transport.close()  # type: ignore[attr-defined]
            return
        await super()._handle_client()  # type: ignore[misc]

    def _timeout_cb(self) -> None:
        if self.pg_busy:  # we are waiting on the next hop or the cleaner, not on the client
            self._reset_timeout()  # type: ignore[attr-defined]
            return
        super()._timeout_cb()  # type: ignore[misc]

    async def smtp_DATA(self, arg):
        await super().smtp_DATA(arg)  # type: ignore[misc]
        await self._pg_close_if_shutting_down()

    async def smtp_RSET(self, arg):
        await super().smtp_RSET(arg)  # type: ignore[misc]
        await self._pg_close_if_shutting_down()

    async def _pg_close_if_shutting_down(self) -> None:
        if self.pg_closing and self.pg_message is None and self.transport is not None:  # type: ignore[attr-defined]
            await self.push("421 4.3.2 pixelguard relay shutting down")  # type: ignore[attr-defined]
            self.transport.close()  # type: ignore[attr-defined]

    def close_when_idle(self) -> None:
        """Shutdown: close now if no transaction is open, else right after it ends."""
        self.pg_closing = True
        transport = getattr(self, "transport", None)
        # A closing TLS transport (QUIT answered, TLS close pending) raises on write: skip it.
        if transport is not None and not transport.is_closing() and self.pg_message is None and not self.pg_busy:
            self._writer.write(b"421 4.3.2 pixelguard relay shutting down\r\n")  # type: ignore[attr-defined]
            transport.close()


class RelaySMTP(_RelayProtocolMixin, SMTP):
    pass


class RelayLMTP(_RelayProtocolMixin, LMTP):
    # aiosmtpd answers these after DATA once; LMTP owes one reply per recipient.
    _DATA_ERRORS = ("552 Error: Too much mail data", "500 Line too long")
    pg_data_recipients = 0

    async def smtp_DATA(self, arg):
        self.pg_data_recipients = len(self.envelope.rcpt_tos) if self.envelope else 0
        try:
            await super().smtp_DATA(arg)
        finally:
            self.pg_data_recipients = 0

    async def push(self, status):
        if self.pg_data_recipients > 1 and isinstance(status, str) and status.startswith(self._DATA_ERRORS):
            for _ in range(self.pg_data_recipients - 1):
                await super().push(status)
        await super().push(status)


# ------------------------------------------------------------------------------ server


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
        self.handler = RelayHandler(settings, Runtime(next_hop, policy_for, cleaner.auth), cleaner, self.metrics)
        self.connections: set[_RelayProtocolMixin] = set()
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
        """None to serve this client, or the reply that turns it away."""
        host = peer[0] if isinstance(peer, tuple) else None
        if not self._accepting:
            self.metrics.connections_refused.labels(reason="shutdown").inc()
            return "421 4.3.2 pixelguard relay shutting down"
        try:
            ip = ipaddress.ip_address(host) if host else None
        except ValueError:
            ip = None
        if ip is not None and ip.version == 6 and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        if ip is None or not (ip.is_loopback or any(ip in net for net in self.settings.allow_networks)):
            self.metrics.connections_refused.labels(reason="network").inc()
            log.warning(logfmt(msg="client refused: not in allow_networks", peer=host))
            return "554 5.7.1 pixelguard relay: your address is not allowed to use this relay"
        if active > self.settings.max_connections:
            self.metrics.connections_refused.labels(reason="limit").inc()
            log.warning(logfmt(msg="client refused: connection limit", peer=host, limit=self.settings.max_connections))
            return "421 4.7.0 too many connections, try again later"
        return None

    def _protocol(self):
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
        proto = cls(
            self.handler,
            data_size_limit=s.max_size,
            enable_SMTPUTF8=True,
            decode_data=False,
            hostname=s.hostname,
            ident="pixelguard relay",
            tls_context=s.tls_context,
            timeout=s.timeout,
            loop=asyncio.get_running_loop(),
            **kwargs,
        )
        proto._pg_init(self)
        return proto

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
            self._protocol, host=self.settings.host, port=self.settings.port, reuse_address=True
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


class RelayThread:
    """A RelayServer on its own event loop in a background thread (tests, benchmarks, embedding)."""

    def __init__(self, build: Callable[[], RelayServer]) -> None:
        self._build = build
        self.server: RelayServer | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._stop: asyncio.Event | None = None

    def start(self, timeout: float = 30.0) -> RelayThread:
        self._thread = threading.Thread(target=self._run, name="pixelguard-relay", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise RuntimeError("relay did not start in time")
        if self._error is not None:
            raise self._error
        return self

    @property
    def port(self) -> int:
        assert self.server is not None and self.server.port is not None
        return self.server.port

    def _run(self) -> None:
        async def main() -> None:
            self.loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            try:
                self.server = self._build()
                await self.server.start()
            except BaseException as exc:  # noqa: BLE001 - reported to start()'s caller
                self._error = exc
                self._ready.set()
                return
            self._ready.set()
            await self._stop.wait()

        asyncio.run(main())

    def stop(self, grace: float = 10.0) -> bool:
        """Graceful shutdown (as on SIGTERM); returns whether all sessions ended in time."""
        if self.loop is None or self.server is None or self._stop is None:
            return True
        future = asyncio.run_coroutine_threadsafe(self.server.shutdown(grace), self.loop)
        clean = future.result(grace + 30)
        self.loop.call_soon_threadsafe(self._stop.set)
        assert self._thread is not None
        self._thread.join(30)
        self.loop = None  # stopped: a second stop() is a no-op
        return clean
