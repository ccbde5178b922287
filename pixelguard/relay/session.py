"""What the relay keeps per client session: aiosmtpd's `Session`, made by the protocol's
documented `_create_session` factory, with the relay's own state added.

aiosmtpd makes a new Session when a client starts TLS (RFC 3207 4.2 resets the session);
the relay's state carries over to it, so a transaction opened before, the next-hop
connections kept and a shutdown in progress are not forgotten.
"""
from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from aiosmtpd.smtp import Session

if TYPE_CHECKING:
    from pixelguard.relay.handler import MessageState
    from pixelguard.relay.nexthop import NextHop, Transaction

# Next-hop connections one client session keeps between its messages (one per policy group).
SPARE_CONNECTIONS = 2


class RelaySession(Session):
    """One client session: its open transaction, whether the relay is working on its behalf
    (busy: the next hop or the cleaner, not the client, is awaited), whether the relay is
    shutting down, and the next-hop connections it keeps for its next message."""

    def __init__(self, loop: asyncio.AbstractEventLoop, before: RelaySession | None = None) -> None:
        super().__init__(loop)
        self.message: MessageState | None = before.message if before else None
        self.busy = False
        self.closing = before.closing if before else False
        # next-hop connections kept for the next message, with the next hop each goes to
        self.spares: list[tuple[NextHop, Transaction]] = before.spares if before else []
        # LMTP listener, during DATA: how many replies a DATA error owes (one per recipient)
        self.data_recipients = 0

    def keep(self, hop: NextHop, tx: Transaction) -> bool:
        """Keep `tx` (to `hop`) for the next message, if there is room; True if kept."""
        if self.closing or len(self.spares) >= SPARE_CONNECTIONS:
            return False
        self.spares.append((hop, tx))
        return True

    def take(self, hop: NextHop) -> tuple[Transaction | None, list[Transaction]]:
        """A kept connection to `hop`, if any, and those kept for another next hop (the
        configuration was reloaded since), which the caller ends."""
        stale = []
        while self.spares:
            kept_for, tx = self.spares.pop()
            if kept_for is hop:
                return tx, stale
            stale.append(tx)
        return None, stale

    def release(self) -> list[Transaction]:
        """The session ended: every kept connection, for the caller to end."""
        spares, self.spares = self.spares, []
        return [tx for _hop, tx in spares]
