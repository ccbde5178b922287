"""The relay in front of a real Dovecot LMTP (TCP and unix socket); mail read back over IMAP."""
from __future__ import annotations

import pytest
from relay_harness import (  # noqa: F401 - fixtures
    cleaner_fixture,
    inbox,
    is_cleaned,
    relay_config,
    relay_factory_fixture,
    send,
    tracker_message,
)

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("via", ["tcp", "socket"])
def test_relay_delivers_cleaned_mail_into_dovecot_over_lmtp(dovecot, mailbox, relay_factory, via):
    hop = f"lmtp://127.0.0.1:{dovecot.lmtp_port}" if via == "tcp" else f"lmtp:{dovecot.lmtp_socket}"
    relay = relay_factory(relay_config(hop))
    out = send(relay.port, "news@shop.example", [mailbox.user], tracker_message(to=mailbox.user))
    assert out.data[0] == 250, out
    (stored,) = inbox(dovecot, mailbox.user)
    assert is_cleaned(stored)


def test_unknown_dovecot_user_is_refused_at_rcpt_and_others_delivered(dovecot, mailbox, relay_factory):
    relay = relay_factory(relay_config(f"lmtp://127.0.0.1:{dovecot.lmtp_port}"))
    ghost = "nobody-here@example.org"
    out = send(relay.port, "news@shop.example", [ghost, mailbox.user], tracker_message())
    assert out.rcpt[ghost][0] == 550, out
    assert out.rcpt[mailbox.user][0] == 250 and out.data[0] == 250
    assert len(inbox(dovecot, mailbox.user)) == 1


def test_lmtp_to_lmtp_gives_each_recipient_dovecots_own_answer(dovecot, mailbox, relay_factory):
    """Over quota is decided by Dovecot after DATA, per recipient: the LMTP listener passes it on."""
    full = dovecot.new_user("full", quota="1K")
    relay = relay_factory(
        relay_config(f"lmtp://127.0.0.1:{dovecot.lmtp_port}", extra_relay="  protocol: lmtp\n")
    )
    big = tracker_message(extra="<p>" + "offer " * 400 + "</p>\r\n")
    out = send(relay.port, "news@shop.example", [mailbox.user, full], big, lmtp=True)
    codes = [c for c, _ in out.data_replies]
    assert codes[0] == 250, out
    assert codes[1] in (452, 552) and b"uota" in out.data_replies[1][1], out
    (stored,) = inbox(dovecot, mailbox.user)
    assert is_cleaned(stored)
    assert inbox(dovecot, full) == []


def test_smtp_listener_gives_each_recipient_dovecots_own_answer_in_its_own_transaction(
    dovecot, mailbox, relay_factory
):
    """Over quota is decided after DATA, per recipient; SMTP has one DATA reply, so the SMTP
    listener takes one recipient per transaction (452 4.5.3 for the others, sent anew)."""
    full = dovecot.new_user("full", quota="1K")
    relay = relay_factory(relay_config(f"lmtp://127.0.0.1:{dovecot.lmtp_port}"))
    big = tracker_message(extra="<p>" + "offer " * 400 + "</p>\r\n")
    out = send(relay.port, "news@shop.example", [mailbox.user, full], big)
    assert out.rcpt[mailbox.user][0] == 250
    assert out.rcpt[full][0] == 452 and out.rcpt[full][1].startswith(b"4.5.3 "), out
    assert out.data[0] == 250, out  # the mailbox with room, and only it
    out = send(relay.port, "news@shop.example", [full], big)
    assert out.data[0] in (452, 552) and b"uota" in out.data[1], out  # never 250: it did not get it
    (stored,) = inbox(dovecot, mailbox.user)
    assert is_cleaned(stored)
    assert inbox(dovecot, full) == []
