"""The notice in an IMAP-cleaned copy says where the original is (the configured originals
folder), against a real Dovecot; with `originals: delete` it names no folder."""

from __future__ import annotations

import email
import email.policy

import pytest
from imap_support import PASSWORD_ENV, imap_account
from test_imap_backlog import fixture_bytes

from pixelguard.config import ImapAccount
from pixelguard.imap.connection import connect
from pixelguard.imap.progress import Progress
from pixelguard.imap.run import Options, clean_folder, originals_folder
from pixelguard.model import Policy


def _texts(raw: bytes) -> dict[str, str]:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    return {p.get_content_type(): p.get_content() for p in msg.walk() if not p.is_multipart()}


@pytest.mark.parametrize("originals", ["pixelguard/originals", "delete"])
def test_the_cleaned_copy_names_the_originals_folder(mailbox, monkeypatch, originals):
    c = mailbox.client()
    c.append("INBOX", fixture_bytes("imap-tracker-newsletter.eml"))
    monkeypatch.setenv(PASSWORD_ENV, mailbox.password)
    session = connect(ImapAccount(**imap_account(mailbox, name="t", originals=originals)))
    clean_folder(session, "INBOX", Policy(), Options(), Progress(tty=False),
                 originals_folder(session))
    session.client.logout()

    c.select_folder("INBOX")
    (uid,) = c.search("ALL")
    texts = _texts(c.fetch([uid], ["BODY.PEEK[]"])[uid][b"BODY[]"])
    c.logout()
    said = 'The unchanged original is kept in the folder "pixelguard/originals".'
    html_said = said.replace('"', "&quot;")
    assert "pixelguard removed" in texts["text/html"] and "pixelguard removed" in texts["text/plain"]
    if originals == "delete":
        assert "original" not in texts["text/html"] + texts["text/plain"]
    else:
        assert html_said in texts["text/html"] and said in texts["text/plain"]
