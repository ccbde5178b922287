"""The replace steps in-process against Dovecot, where a subprocess cannot reach the timing."""
from __future__ import annotations

from pixelguard.imap.replace import Replacer, digest
from test_imap_backlog import KEYWORD, fixture_bytes


def test_flags_changed_by_another_client_during_the_copy_reach_the_copy(mailbox):
    c = mailbox.client()
    c.normalise_times = False
    raw = fixture_bytes("imap-tracker-newsletter.eml")
    c.append("INBOX", raw, flags=[b"Work"])
    info = c.select_folder("INBOX")
    (uid,) = c.search("ALL")
    replacer = Replacer(c, "INBOX", int(info[b"UIDVALIDITY"]), int(info[b"UIDNEXT"]),
                        "pixelguard/originals", "test")
    appended = replacer.append(uid, b"Subject: cleaned\r\n\r\nclean\r\n", digest(raw), (b"Work",), None)
    (confirmed,) = replacer.confirm([appended])
    reader = mailbox.client()  # the user reads the original meanwhile
    reader.select_folder("INBOX")
    reader.add_flags([uid], [b"\\Seen", b"\\Flagged"])
    reader.logout()

    replacer.sync_flags([confirmed])

    flags = set(c.fetch([confirmed.copy_uid], ["FLAGS"])[confirmed.copy_uid][b"FLAGS"]) - {b"\\Recent"}
    assert flags == {b"Work", b"\\Seen", b"\\Flagged", KEYWORD}
    c.logout()


def test_confirm_rejects_a_copy_whose_digest_header_does_not_match(mailbox):
    c = mailbox.client()
    raw = fixture_bytes("imap-tracker-newsletter.eml")
    c.append("INBOX", raw)
    info = c.select_folder("INBOX")
    (uid,) = c.search("ALL")
    replacer = Replacer(c, "INBOX", int(info[b"UIDVALIDITY"]), int(info[b"UIDNEXT"]), "delete", "test")
    appended = replacer.append(uid, b"Subject: cleaned\r\n\r\nclean\r\n", digest(raw), (), None)
    appended.digest = digest(b"some other message")  # what we would expect for another original

    assert replacer.confirm([appended]) == []
    c.logout()
