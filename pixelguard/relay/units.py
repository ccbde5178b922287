"""Delivery units: which recipients one SMTP transaction may carry, and its one DATA reply.

SMTP has one reply to DATA for all recipients, so the SMTP listener takes at most one
*delivery unit* per transaction: the recipients whose DATA outcome is necessarily the same
(one policy group for an SMTP next hop, one recipient for an LMTP or Maildir next hop). Any
other recipient is answered `452 4.5.3` and the client sends it in a new transaction
(RFC 5321 4.5.3.1.10). Never answering one DATA for outcomes that differ means a retry never
delivers twice and a bounce never names a recipient who got the message.

A client retries in the same order (Postfix sorts recipients), so a first recipient whose
delivery keeps failing would hold the others back at every retry. A recipient deferred after
DATA while others waited for a new transaction therefore *gives way* to them (GiveWay).
"""
from __future__ import annotations

import time
from collections import OrderedDict

from pixelguard.relay.reply import Reply

# SMTP listener, a recipient outside the transaction's one delivery unit: "send me later".
TOO_MANY_RECIPIENTS = Reply(452, "4.5.3 Too many recipients; send this one in a new transaction")
# Recipients that give way once (see GiveWay): senders and recipients remembered, how long.
GIVE_WAY_SENDERS = 10_000
GIVE_WAY_PER_SENDER = 1_000
GIVE_WAY_SECONDS = 24 * 3600.0


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
