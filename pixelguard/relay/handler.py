"""The relay's aiosmtpd handler: the MAIL, RCPT, DATA and RSET hooks.

Each recipient is answered with the next hop's own reply. A next-hop transaction is opened
per *policy group* at the first RCPT of that group (so every RCPT gets the next hop's live
answer); at DATA each group's copy is cleaned once with the group's policy and sent on.
Nothing is held in memory after our reply: 250 means the next hop has the message. The SMTP
listener takes one delivery unit per transaction (relay/units.py); the LMTP listener answers
per recipient and takes them all.
"""
from __future__ import annotations

import asyncio
import dataclasses
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from pixelguard.config import AuthConfig
from pixelguard.model import Policy
from pixelguard.relay.cleaning import Cleaned, Cleaner
from pixelguard.relay.logline import logfmt, message_line, vendor_names
from pixelguard.relay.metrics import Metrics
from pixelguard.relay.nexthop import MailFrom, NextHop, Transaction
from pixelguard.relay.reply import Reply, internal_error, temp_failure
from pixelguard.relay.session import RelaySession
from pixelguard.relay.units import TOO_MANY_RECIPIENTS, GiveWay, summarize
from pixelguard.relay.workers import PoolClosed

log = logging.getLogger("pixelguard.relay")


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



def has_control_chars(address: str) -> bool:
    """A CR, NUL or other control character in an address: never passed on in a command line
    (a next hop that ends lines at a bare CR would read the rest as a command of its own)."""
    return any(ord(c) < 0x20 or ord(c) == 0x7F for c in address)



class RelayHandler:
    """aiosmtpd handler: the hooks for MAIL, RCPT, DATA, RSET."""

    def __init__(self, lmtp: bool, runtime: Runtime, cleaner: Cleaner, metrics: Metrics) -> None:
        self.runtime = runtime  # for transactions starting now (RelayServer.reconfigure)
        self.cleaner = cleaner
        self.metrics = metrics
        self.lmtp = lmtp  # the listener speaks LMTP: a reply per recipient after DATA
        self.background: set[asyncio.Task] = set()
        self.give_way = GiveWay()

    # -- hooks ----------------------------------------------------------------------------
    async def handle_MAIL(self, server, session: RelaySession, envelope, address, mail_options):
        if session.closing:
            return "421 4.3.2 pixelguard relay shutting down"
        # aiosmtpd ends a transaction on its own after e.g. a 552 (too big): drop its next hops.
        self.drop_message(session)
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
        session.message = MessageState(
            id=secrets.token_hex(6),
            mail=MailFrom(
                sender=sender,
                smtputf8=envelope.smtp_utf8,
                body_8bit="BODY=8BITMIME" in mail_options,
            ),
            runtime=self.runtime,
        )
        return "250 2.1.0 OK"

    async def handle_RCPT(self, server, session: RelaySession, envelope, address, rcpt_options):
        state = session.message
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
        session.busy = True
        try:
            reply = await self._rcpt(session, state, address)
        except Exception:
            log.exception("RCPT failed id=%s", state.id)
            reply = internal_error(state.id)
        finally:
            session.busy = False
        if reply.ok:
            envelope.rcpt_tos.append(address)
            envelope.rcpt_options.extend(rcpt_options)
        elif reply is TOO_MANY_RECIPIENTS:
            state.later.append(address)  # not refused by the next hop: ours, for a new transaction
        else:
            state.refused.append((address, reply))
            self.metrics.nexthop_errors.labels(stage="rcpt", reply=f"{reply.code // 100}xx").inc()
        return reply.line()

    async def _rcpt(self, session: RelaySession, state: MessageState, address: str) -> Reply:
        key = dataclasses.replace(state.runtime.policy_for(address), recipients=())
        if self._needs_own_transaction(state, key, address):
            return TOO_MANY_RECIPIENTS
        group = state.groups.get(key)
        if group is None:
            tx = self._spare(session, state.runtime.next_hop) or state.runtime.next_hop.transaction()
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

    async def handle_DATA(self, server, session: RelaySession, envelope):
        state = session.message
        assert state is not None  # aiosmtpd asks for DATA only after an accepted RCPT
        session.message = None
        session.busy = True
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
            self._finish(server, session, state)
        finally:
            session.busy = False
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

    async def handle_RSET(self, server, session: RelaySession, envelope):
        self.drop_message(session)
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

    def _finish(self, server, session: RelaySession, state: MessageState) -> None:
        """Keep a next-hop connection that just delivered for this client's next message;
        QUIT the others in the background (our client need not wait for that)."""
        for group in state.groups.values():
            if not (group.tx.reusable() and server.transport is not None
                    and session.keep(state.runtime.next_hop, group.tx)):
                self._spawn(group.tx.finish())

    def _spare(self, session: RelaySession, hop: NextHop) -> Transaction | None:
        """A kept connection to `hop` for a new transaction, if the session has one. Those kept
        for another next hop (the configuration was reloaded since) are QUIT instead."""
        tx, stale = session.take(hop)
        for old in stale:
            self._spawn(old.finish())
        return tx

    def release_spares(self, session: RelaySession) -> None:
        """The client session ended: QUIT the next-hop connections it kept."""
        for tx in session.release():
            self._spawn(tx.finish())

    def _spawn(self, coro) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self.background.add(task)
        task.add_done_callback(self.background.discard)

    def drop_message(self, session: RelaySession) -> None:
        """End a transaction that never reached DATA (RSET, new MAIL, client gone)."""
        state, session.message = session.message, None
        if state is None:
            return
        state.abort()
        if state.refused:  # e.g. the next hop is down: the admin must see it in the log
            outcome = _outcome([r for _a, r in state.refused])
            self.metrics.messages.labels(outcome=outcome).inc()
            log.info(_message_line(state, outcome))

    def _record(self, state, envelope, replies: list[Reply], cleaned: list[Cleaned], elapsed: float) -> None:
        findings = [f for c in cleaned for f in c.findings]
        errors = [c.error for c in cleaned if c.error]
        outcome = _outcome(replies)
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
        log.info(
            _message_line(
                state,
                outcome,
                rcpts=",".join(envelope.rcpt_tos),
                size=len(envelope.original_content or b""),
                copies=len(cleaned),
                trackers=len(findings),
                vendors=vendor_names(findings),
                clean_error="; ".join(errors) or None,
                nexthop=_replies(zip(envelope.rcpt_tos, replies)),
                ms=elapsed * 1000,
            )
        )


def _outcome(replies: list[Reply]) -> str:
    """A message's outcome from the replies its recipients got."""
    if all(r.ok for r in replies):
        return "delivered"
    if not any(r.ok for r in replies):
        return "deferred" if any(r.temporary for r in replies) else "rejected"
    return "partial"


def _replies(pairs) -> str:
    """`a@x: 250 ...; b@y: 451 ...` for (address, Reply) pairs."""
    return "; ".join(f"{a}: {r.line()}" for a, r in pairs)


def _message_line(state, outcome: str, ms: float | None = None, **details) -> str:
    """The one log line of a message: who sent it, what became of it (`details`), the
    recipients the next hop refused at RCPT and those told to send again later."""
    return message_line(state.id, outcome, state.mail.sender, **details,
                        refused=_replies(state.refused) or None,
                        later=",".join(state.later) or None, ms=ms)
