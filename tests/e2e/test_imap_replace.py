"""The replace steps in-process against Dovecot, where a subprocess cannot reach the timing."""

from __future__ import annotations

import pytest
from imap_support import PASSWORD_ENV, imap_account
from test_imap_backlog import KEYWORD, fixture_bytes

from pixelguard.config import ImapAccount
from pixelguard.imap.connection import AccountError, RefusedError, connect
from pixelguard.imap.progress import Progress
from pixelguard.imap.replace import Pending, Replacer, digest
from pixelguard.imap.run import Options, clean_folder
from pixelguard.model import Policy

CLEANED = b"Subject: cleaned\r\n\r\nclean\r\n"


def one_message(mailbox, flags=(), uidvalidity_shift=0):
    """(client, raw, uid, Replacer) for a mailbox holding one tracked message in INBOX."""
    c = mailbox.client()
    raw = fixture_bytes("imap-tracker-newsletter.eml")
    c.append("INBOX", raw, flags=list(flags))
    info = c.select_folder("INBOX")
    (uid,) = c.search("ALL")
    uidvalidity = int(info[b"UIDVALIDITY"]) + uidvalidity_shift
    replacer = Replacer(c, "INBOX", uidvalidity, int(info[b"UIDNEXT"]), "delete", "test")
    return c, raw, uid, replacer


def test_flags_changed_by_another_client_during_the_copy_reach_the_copy(mailbox):
    c, raw, uid, replacer = one_message(mailbox, flags=[b"Work"])
    (appended,), failed = replacer.append([Pending(uid, CLEANED, digest(raw), (b"Work",), None)])
    assert failed == []
    (confirmed,) = replacer.confirm([appended])
    reader = mailbox.client()  # the user reads the original meanwhile
    reader.select_folder("INBOX")
    reader.add_flags([uid], [b"\\Seen", b"\\Flagged"])
    reader.logout()

    replacer.sync_flags([confirmed])

    flags = set(c.fetch([confirmed.copy_uid], ["FLAGS"])[confirmed.copy_uid][b"FLAGS"]) - {
        b"\\Recent"
    }
    assert flags == {b"Work", b"\\Seen", b"\\Flagged", KEYWORD}
    c.logout()


def test_confirm_rejects_a_copy_whose_digest_header_does_not_match(mailbox):
    c, raw, uid, replacer = one_message(mailbox)
    (appended,), _ = replacer.append([Pending(uid, CLEANED, digest(raw), (), None)])
    appended.digest = digest(b"some other message")  # what we would expect for another original

    assert replacer.confirm([appended]) == []
    c.logout()


def _session(mailbox, monkeypatch):
    monkeypatch.setenv(PASSWORD_ENV, mailbox.password)
    return connect(ImapAccount(**imap_account(mailbox, name="t")))


def test_folder_without_custom_keywords_is_refused_before_anything_changes(mailbox, monkeypatch):
    c = mailbox.client()
    c.append("INBOX", fixture_bytes("imap-tracker-newsletter.eml"))
    session = _session(mailbox, monkeypatch)
    real_select = session.client.select_folder

    def select_without_keywords(folder, readonly=False):
        info = real_select(folder, readonly)
        info[b"PERMANENTFLAGS"] = tuple(f for f in info[b"PERMANENTFLAGS"] if f != b"\\*")
        return info  # what a server that cannot store custom keywords answers

    monkeypatch.setattr(session.client, "select_folder", select_without_keywords)

    with pytest.raises(RefusedError, match=r"does not allow the \$PixelGuarded keyword"):
        clean_folder(session, "INBOX", Policy(), Options(), Progress(tty=False), "delete")

    c.select_folder("INBOX")
    (uid,) = c.search("ALL")
    assert b"127.0.0.1/open" in c.fetch([uid], ["BODY.PEEK[]"])[uid][b"BODY[]"]
    assert KEYWORD not in c.fetch([uid], ["FLAGS"])[uid][b"FLAGS"]
    session.logout()
    c.logout()


def test_appenduid_from_another_uidvalidity_stops_before_any_original_is_retired(mailbox):
    # A stale UIDVALIDITY: as if the folder had been recreated since our SELECT.
    c, raw, uid, replacer = one_message(mailbox, uidvalidity_shift=-1)

    with pytest.raises(AccountError, match="UIDVALIDITY"):
        replacer.append([Pending(uid, CLEANED, digest(raw), (), None)])

    c.noop()
    bodies = [m[b"BODY[]"] for m in c.fetch(c.search("ALL"), ["BODY.PEEK[]"]).values()]
    assert raw in bodies  # the original is still there (the copy too: the next run retires it)
    c.logout()
