"""One DATA reply for one delivery unit: the SMTP listener never answers one DATA for
recipients whose outcomes could differ.

SMTP has one reply to DATA. Were ok@ delivered and full@ deferred under one 451, the client
would retry both and ok@ would get the message again at every retry (and a 5xx would bounce
it for a recipient who has it). So the SMTP listener takes one delivery unit per transaction
— one recipient for an LMTP or Maildir next hop, one policy group for an SMTP next hop — and
answers `452 4.5.3` to the others, which the client sends in a new transaction.
"""
from __future__ import annotations

import logging
import smtplib

import pytest
from relay_harness import (  # noqa: F401 - fixtures
    TRACKER_URL,
    LMTPNextHopServer,
    cleaner_fixture,
    deliver_like_an_mta,
    is_cleaned,
    is_too_many_recipients,
    next_hop_fixture,
    relay_config,
    relay_factory_fixture,
    send,
    tracker_message,
    wait_for,
)

pytestmark = pytest.mark.e2e

SENDER = "news@shop.example"
OK, FULL = "ok@example.org", "full@example.org"
TWO_POLICIES = """
users:
  bob@example.org:
    allow: {hosts: [127.0.0.1]}
"""


@pytest.fixture(name="lmtp_hop")
def lmtp_hop_fixture():
    hop = LMTPNextHopServer().start()
    yield hop
    hop.stop()


def test_lmtp_next_hop_deferring_one_recipient_delivers_the_other_exactly_once_across_retries(
    lmtp_hop, relay_factory
):
    """The review's reproduction: the next hop answers 250 for ok@ and 452 for full@."""
    lmtp_hop.data_replies[FULL] = "452 4.2.2 mailbox full"
    relay = relay_factory(relay_config(lmtp_hop.url))

    first = send(relay.port, SENDER, [OK, FULL], tracker_message(to=OK))
    assert first.rcpt[OK][0] == 250
    assert is_too_many_recipients(first.rcpt[FULL]), first
    assert first.data[0] == 250, first  # ok@'s own DATA reply: delivered
    assert len(lmtp_hop.deliveries(OK)) == 1

    # the client sends full@ in a new transaction: the next hop's own 452 reaches it
    pending = {FULL}
    for _attempt in range(3):
        outcome = deliver_like_an_mta(relay.port, SENDER, sorted(pending), tracker_message(to=OK))
        assert outcome == {FULL: (452, b"4.2.2 mailbox full")}, outcome
    assert len(lmtp_hop.deliveries(OK)) == 1  # never again: it was answered 250 once
    assert lmtp_hop.deliveries(FULL) == []
    assert lmtp_hop.transactions == [[OK], [FULL], [FULL], [FULL]]

    del lmtp_hop.data_replies[FULL]  # room again: the next retry delivers it, once
    assert deliver_like_an_mta(relay.port, SENDER, [FULL], tracker_message(to=OK))[FULL][0] == 250
    assert len(lmtp_hop.deliveries(OK)) == 1 and len(lmtp_hop.deliveries(FULL)) == 1
    assert all(is_cleaned(c) for _r, c in lmtp_hop.delivered)


def test_a_client_retrying_everything_after_each_attempt_still_gets_each_recipient_once(lmtp_hop, relay_factory):
    """Retries as a queueing MTA makes them, from the start: three attempts for both."""
    lmtp_hop.data_replies[FULL] = "452 4.2.2 mailbox full"
    relay = relay_factory(relay_config(lmtp_hop.url))
    pending = {OK, FULL}
    for _attempt in range(3):
        outcome = deliver_like_an_mta(relay.port, SENDER, sorted(pending), tracker_message(to=OK))
        pending = {r for r, (code, _t) in outcome.items() if 400 <= code < 500}
    assert pending == {FULL}
    assert len(lmtp_hop.deliveries(OK)) == 1
    assert lmtp_hop.deliveries(FULL) == []


def test_lmtp_next_hop_refusing_one_recipient_permanently_bounces_only_that_one(lmtp_hop, relay_factory):
    lmtp_hop.data_replies[FULL] = "552 5.2.2 mailbox full"
    relay = relay_factory(relay_config(lmtp_hop.url))
    outcome = deliver_like_an_mta(relay.port, SENDER, [OK, FULL], tracker_message(to=OK))
    assert outcome[OK][0] == 250  # no bounce for the recipient who has it
    assert outcome[FULL] == (552, b"5.2.2 mailbox full")
    assert len(lmtp_hop.deliveries(OK)) == 1 and lmtp_hop.deliveries(FULL) == []


def test_maildir_next_hop_failing_one_write_delivers_the_others_exactly_once(relay_factory, tmp_path, monkeypatch):
    from pixelguard.relay import maildir

    real = maildir.deliver

    def disk_full_for_full(path, content, recipient, sender):
        if recipient == FULL:
            raise OSError(28, "No space left on device")
        return real(path, content, recipient, sender)

    monkeypatch.setattr(maildir, "deliver", disk_full_for_full)
    box = tmp_path / "Maildir"
    relay = relay_factory(relay_config(f"maildir:{box}"))
    pending = {OK, FULL}
    for _attempt in range(3):
        outcome = deliver_like_an_mta(relay.port, SENDER, sorted(pending), tracker_message(to=OK))
        assert outcome[FULL][0] == 451 and b"No space left" in outcome[FULL][1], outcome
        pending = {r for r, (code, _t) in outcome.items() if 400 <= code < 500}
    files = [p.read_bytes() for p in (box / "new").iterdir()]
    assert [f for f in files if f"Delivered-To: {OK}".encode() in f] == files and len(files) == 1

    monkeypatch.setattr(maildir, "deliver", real)
    assert deliver_like_an_mta(relay.port, SENDER, sorted(pending), tracker_message(to=OK))[FULL][0] == 250
    files = [p.read_bytes() for p in (box / "new").iterdir()]
    assert sorted(f.split(b"\n", 2)[1] for f in files) == [f"Delivered-To: {FULL}".encode(), f"Delivered-To: {OK}".encode()]


def test_policy_groups_through_an_smtp_next_hop_take_one_transaction_each(next_hop, relay_factory):
    """Same policy: one next-hop transaction, one DATA reply for all. A second policy group
    would need a second next-hop transaction whose DATA could fare otherwise: 452 4.5.3."""
    relay = relay_factory(relay_config(next_hop.url, rest=TWO_POLICIES))
    alice, bob, carol = "alice@example.org", "bob@example.org", "carol@example.org"
    with smtplib.SMTP("127.0.0.1", relay.port, timeout=30) as client:
        refused = client.sendmail(SENDER, [alice, bob, carol], tracker_message())
        assert list(refused) == [bob] and is_too_many_recipients(refused[bob]), refused
        assert client.sendmail(SENDER, list(refused), tracker_message()) == {}
    first, second = next_hop.received
    assert first.rcpts == [alice, carol] and is_cleaned(first.content)
    assert second.rcpts == [bob] and second.content == tracker_message()  # bob allows the host
    assert TRACKER_URL.encode() in second.content


def test_each_policy_groups_data_reply_reaches_only_its_recipients(next_hop, relay_factory):
    """The next hop refuses only the cleaned copy: alice gets the 554, bob (his own
    transaction) his 250 — not a 554 that would bounce a delivered copy."""

    async def refuse_cleaned(server, session, envelope):
        if b"X-PixelGuard" in envelope.original_content:
            return "554 5.6.0 cleaned copy refused"
        return await type(next_hop).handle_DATA(next_hop, server, session, envelope)

    next_hop.handle_DATA = refuse_cleaned
    relay = relay_factory(relay_config(next_hop.url, rest=TWO_POLICIES))
    outcome = deliver_like_an_mta(relay.port, SENDER, ["alice@example.org", "bob@example.org"], tracker_message())
    assert outcome["alice@example.org"] == (554, b"5.6.0 cleaned copy refused")
    assert outcome["bob@example.org"][0] == 250
    assert [r.rcpts for r in next_hop.received] == [["bob@example.org"]]


def test_recipient_refused_at_rcpt_does_not_use_up_the_transaction(lmtp_hop, relay_factory, next_hop):
    """Only an accepted recipient makes the delivery unit: after a refused RCPT the next one is taken."""
    relay = relay_factory(relay_config(next_hop.url))
    next_hop.rcpt_replies["ghost@example.org"] = "550 5.1.1 no such user"
    out = send(relay.port, SENDER, ["ghost@example.org", OK], tracker_message())
    assert out.rcpt["ghost@example.org"][0] == 550 and out.rcpt[OK][0] == 250 and out.data[0] == 250
    lmtp_relay = relay_factory(relay_config(lmtp_hop.url))
    out = send(lmtp_relay.port, SENDER, [OK, FULL, "third@example.org"], tracker_message())
    assert out.rcpt[OK][0] == 250 and out.data[0] == 250
    assert is_too_many_recipients(out.rcpt[FULL]) and is_too_many_recipients(out.rcpt["third@example.org"])
    assert lmtp_hop.transactions == [[OK]]


def test_lmtp_listener_takes_every_recipient_in_one_transaction(lmtp_hop, relay_factory):
    """LMTP answers DATA per recipient: no limit there, each gets the next hop's own reply."""
    lmtp_hop.data_replies[FULL] = "452 4.2.2 mailbox full"
    relay = relay_factory(relay_config(lmtp_hop.url, extra_relay="  protocol: lmtp\n", rest=TWO_POLICIES))
    rcpts = [OK, FULL, "bob@example.org"]
    out = send(relay.port, SENDER, rcpts, tracker_message(), lmtp=True)
    assert all(out.rcpt[r][0] == 250 for r in rcpts), out
    assert out.data_replies == [(250, b"2.0.0 delivered"), (452, b"4.2.2 mailbox full"), (250, b"2.0.0 delivered")]
    assert sorted(map(sorted, lmtp_hop.transactions)) == [["bob@example.org"], [FULL, OK]]


def test_log_line_names_the_recipients_left_for_a_new_transaction(lmtp_hop, relay_factory, caplog):
    relay = relay_factory(relay_config(lmtp_hop.url))
    with caplog.at_level(logging.INFO, logger="pixelguard.relay"):
        out = send(relay.port, SENDER, [OK, FULL], tracker_message())
        assert out.data[0] == 250
        line = wait_for(lambda: next((r.getMessage() for r in caplog.records
                                      if r.getMessage().startswith("msg=message ")), None), 10, "the log line")
    assert f"rcpts={OK} " in line and f"later={FULL}" in line and "outcome=delivered" in line, line
    assert "refused=" not in line


def test_a_recipient_that_keeps_failing_first_gives_way_to_the_others(lmtp_hop, relay_factory):
    """A client that retries all deferred recipients later, in the same order (as Postfix does,
    sorted): the failing first one must not hold the others back at every retry."""
    lmtp_hop.data_replies[FULL] = "452 4.2.2 mailbox full"
    relay = relay_factory(relay_config(lmtp_hop.url))
    first, second = FULL, OK  # the failing one sorts first
    out = send(relay.port, SENDER, [first, second], tracker_message())
    assert out.rcpt[first][0] == 250 and is_too_many_recipients(out.rcpt[second])
    assert out.data == (452, b"4.2.2 mailbox full")
    # the client defers both and comes back later with both, in the same order
    out = send(relay.port, SENDER, [first, second], tracker_message())
    assert is_too_many_recipients(out.rcpt[first]), out  # gives way once
    assert out.rcpt[second][0] == 250 and out.data[0] == 250
    out = send(relay.port, SENDER, [first], tracker_message())
    assert out.rcpt[first][0] == 250 and out.data == (452, b"4.2.2 mailbox full")  # tried for real again
    out = send(relay.port, SENDER, [first], tracker_message())
    assert out.rcpt[first][0] == 250  # alone, nobody to give way to: tried every time
    assert len(lmtp_hop.deliveries(OK)) == 1 and lmtp_hop.deliveries(FULL) == []
    assert lmtp_hop.transactions == [[FULL], [OK], [FULL], [FULL]]
