"""A message that stays unmarked pass after pass (its cleaning keeps failing, its APPEND keeps
being refused) must not make every later pass re-read the cleaned copies above it: the
crash-recovery lookup (pixelguard/imap/replace.py copy_index) only asks, per download batch,
for the digests of the originals in hand."""

from __future__ import annotations

import re

import pytest
from imap_support import PASSWORD_ENV, imap_account, snapshot
from test_imap_backlog import KEYWORD, fixture_bytes


def _tracked(n: int) -> bytes:
    raw = fixture_bytes("imap-tracker-newsletter.eml")
    return re.sub(rb"(?im)^Message-ID:\s*\S+", f"Message-ID: <stuck-{n}@t.example>".encode(), raw)


@pytest.fixture
def one_pass(mailbox, monkeypatch):
    """Runs one in-process pass over INBOX (originals deleted) and returns its Stats."""
    from pixelguard.config import ImapAccount
    from pixelguard.imap.connection import connect
    from pixelguard.imap.progress import Progress
    from pixelguard.imap.run import Options, clean_folder
    from pixelguard.model import Policy

    monkeypatch.setenv(PASSWORD_ENV, mailbox.password)
    account = ImapAccount(**imap_account(mailbox, name="t"))

    def run_once():
        session = connect(account)
        try:
            return clean_folder(
                session, "INBOX", Policy(), Options(), Progress(tty=False), "delete"
            )
        finally:
            session.logout()

    return run_once


def test_a_stuck_message_does_not_make_the_next_pass_reread_the_copies_above_it(
    mailbox, monkeypatch, one_pass
):
    from pixelguard.imap import replace, run

    c = mailbox.client()
    for n in range(6):  # UID 1 is the stuck one; 2..6 get cleaned copies above it
        c.append("INBOX", _tracked(n), flags=[b"\\Seen"])

    real_clean = run.clean_with_trust

    def failing_for_stuck(raw, *a, **k):
        if b"<stuck-0@" in raw:
            raise RuntimeError("this message always fails")
        return real_clean(raw, *a, **k)

    monkeypatch.setattr(run, "clean_with_trust", failing_for_stuck)
    read: list[int] = []  # UIDs whose digest header pixelguard fetched
    real_header_digests = replace._header_digests

    def counting(client, uids):
        read.extend(uids)
        return real_header_digests(client, uids)

    monkeypatch.setattr(replace, "_header_digests", counting)

    first = one_pass()
    assert first.errors == 1 and first.cleaned == 5, first
    snap = snapshot(c)
    stuck = [m for m in snap.values() if b"<stuck-0@" in m["raw"]]
    assert len(stuck) == 1 and KEYWORD not in stuck[0]["flags"]
    assert sum(b"X-PixelGuard-Original:" in m["raw"] for m in snap.values()) == 5

    read.clear()
    second = one_pass()
    assert second.errors == 1 and second.cleaned == 0 and second.recovered == 0, second
    assert read == [], f"the second pass re-read the digest headers of UIDs {read}"
    assert snapshot(c) == snap  # nothing else changed
    c.logout()


def test_byte_identical_originals_in_different_batches_each_get_their_own_copy(
    mailbox, monkeypatch, one_pass
):
    """The copy lookup runs per download batch: a copy this pass appended for the first
    original must not pass for a crashed run's copy of its byte-identical twin."""
    from pixelguard.imap import run

    monkeypatch.setattr(run, "body_batches", lambda cands: ([x] for x in cands))
    c = mailbox.client()
    for _ in range(2):
        c.append("INBOX", _tracked(0))
    stats = one_pass()
    assert stats.cleaned == 2 and stats.recovered == 0, stats
    snap = snapshot(c)
    assert len(snap) == 2
    assert all(b"X-PixelGuard-Original:" in m["raw"] for m in snap.values())
    c.logout()


def test_a_message_expunged_between_search_and_fetch_is_skipped(mailbox, monkeypatch, one_pass):
    # Another client (or a second pixelguard run) may expunge a message after our SEARCH:
    # its body comes back as None. The per-batch copy lookup must skip it, not hash None
    # (found as a flaky "object supporting the buffer API required" in the two-machines test).
    from pixelguard.imap import run

    c = mailbox.client()
    for n in range(3):
        c.append("INBOX", _tracked(n), flags=[b"\\Seen"])
    real_fetch = run.fetch_bodies

    def one_gone(client, group):
        bodies = real_fetch(client, group)
        first = min(bodies)
        bodies[first] = None  # as if expunged between SEARCH and FETCH
        return bodies

    monkeypatch.setattr(run, "fetch_bodies", one_gone)
    stats = one_pass()
    assert stats.errors == 0, stats
    assert stats.cleaned == 2, stats


def test_digest_lookup_of_a_copy_expunged_after_our_search_finds_none(mailbox):
    # The same race at the cleaned copies: a second run (or the user) expunges a copy after our
    # SEARCH named it, and Dovecot answers its header FETCH with NIL. The lookup must say "no
    # digest" (so nothing counts as confirmed by a copy that is gone), not raise.
    from pixelguard.imap.replace import DIGEST_HEADER, _header_digests

    digest = "sha256=" + "ab" * 32
    ours, other = mailbox.client(), mailbox.client()
    for value in (digest, "sha256=" + "cd" * 32):
        ours.append("INBOX", f"{DIGEST_HEADER}: {value}\r\nSubject: copy\r\n\r\nbody\r\n".encode())
    ours.select_folder("INBOX")
    gone, kept = ours.search("ALL")
    other.select_folder("INBOX")
    other.delete_messages([gone])
    other.expunge()

    found = _header_digests(ours, [gone, kept])

    assert found.get(gone, []) == []
    assert found[kept] == ["sha256=" + "cd" * 32]
