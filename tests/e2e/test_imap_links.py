"""The IMAP door against a real Dovecot replaces a message whose only change is its links
(policy.links), and only marks one when links are off."""
from __future__ import annotations

from imap_support import PASSWORD_ENV, imap_account

from pixelguard.config import ImapAccount
from pixelguard.imap.connection import connect
from pixelguard.imap.progress import Progress
from pixelguard.imap.run import Options, clean_folder
from pixelguard.model import LinkOptions, Policy

RAW = (b"From: news@shop.example\r\nTo: bob@example.org\r\nSubject: Links only\r\n"
       b"Message-ID: <links-only@shop.example>\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
       b'<html><body><p>Hi</p><a href="https://shop.example/p?utm_source=nl&amp;id=4">Shop</a>'
       b"</body></html>\r\n")


def _run(mailbox, monkeypatch, policy: Policy) -> list[bytes]:
    c = mailbox.client()
    c.append("INBOX", RAW)
    monkeypatch.setenv(PASSWORD_ENV, mailbox.password)
    session = connect(ImapAccount(**imap_account(mailbox, name="t")))
    try:
        clean_folder(session, "INBOX", policy, Options(), Progress(tty=False), "delete")
    finally:
        session.logout()
    c.select_folder("INBOX")
    uids = c.search("ALL")
    bodies = [v[b"BODY[]"] for v in c.fetch(uids, ["BODY[]"]).values()]
    c.logout()
    return bodies


def test_link_only_change_replaces_the_message(mailbox, monkeypatch):
    (body,) = _run(mailbox, monkeypatch, Policy(links=LinkOptions(strip_params=True)))
    assert b'href="https://shop.example/p?id=4"' in body
    assert b"X-PixelGuard: removed=0; links=stripped:1" in body


def test_links_off_leaves_the_message_as_it_was(mailbox, monkeypatch):
    (body,) = _run(mailbox, monkeypatch, Policy())
    assert body.replace(b"\r\n", b"\n") == RAW.replace(b"\r\n", b"\n")


def test_dry_run_lists_the_link_edits(mailbox, monkeypatch):
    c = mailbox.client()
    c.append("INBOX", RAW)
    c.logout()
    monkeypatch.setenv(PASSWORD_ENV, mailbox.password)
    session = connect(ImapAccount(**imap_account(mailbox, name="t")))
    lines: list[str] = []
    try:
        clean_folder(session, "INBOX", Policy(links=LinkOptions(strip_params=True)),
                     Options(dry_run=True, report=lines.append), Progress(tty=False), "delete")
    finally:
        session.logout()
    (text,) = lines
    assert "would remove 0 trackers and make 1 link edit" in text
    assert "link stripped" in text and "https://shop.example/p?id=4" in text
