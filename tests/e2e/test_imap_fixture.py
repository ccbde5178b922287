"""The throwaway Dovecot itself: fresh mailboxes are empty and isolated, LMTP delivers."""

from __future__ import annotations

import smtplib

import pytest


def test_fresh_mailboxes_are_empty_and_isolated(mailbox, dovecot):
    c = mailbox.client()
    c.append("INBOX", b"Subject: one\r\n\r\nbody\r\n")
    other = dovecot.new_user()
    c2 = dovecot.client(other)
    c2.select_folder("INBOX")
    assert c2.search("ALL") == []
    c.select_folder("INBOX")
    assert len(c.search("ALL")) == 1
    c.logout()
    c2.logout()


def test_lmtp_socket_delivers_to_mailbox(mailbox):
    with smtplib.LMTP(mailbox.server.lmtp_socket) as lmtp:
        refused = lmtp.sendmail("x@example.org", [mailbox.user], b"Subject: via lmtp\r\n\r\nhi\r\n")
    assert refused == {}
    c = mailbox.client()
    c.select_folder("INBOX")
    (uid,) = c.search("ALL")
    assert b"via lmtp" in c.fetch([uid], ["BODY.PEEK[]"])[uid][b"BODY[]"]
    c.logout()


def test_quota_user_refuses_oversized_delivery(dovecot):
    user = dovecot.new_user("quota", quota="1K")
    with (smtplib.LMTP("127.0.0.1", dovecot.lmtp_port) as lmtp,
          pytest.raises(smtplib.SMTPDataError) as err):
        lmtp.sendmail("x@example.org", [user], b"Subject: big\r\n\r\n" + b"x" * 4000 + b"\r\n")
    assert err.value.smtp_code == 552
    assert b"Quota" in err.value.smtp_error
