"""`pixelguard imap --once` over a backlog in a real Dovecot: what changes and what must not."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta, timezone

import pytest
from imap_support import Mailbox, fixture_bytes, imap_account, run_imap, snapshot

KEYWORD = b"$PixelGuarded"
RECENT = b"\\Recent"
ORIGINALS = "pixelguard/originals"

# (fixture, flags, INTERNALDATE): seen/unseen, flagged, answered, custom keywords, old dates.
BACKLOG = [
    (
        "imap-tracker-newsletter.eml",
        [b"\\Seen", b"\\Flagged", b"Work"],
        datetime(2015, 3, 3, 9, 15, 0, tzinfo=timezone(timedelta(hours=1))),
    ),
    (
        "imap-tracker-single-part.eml",
        [b"\\Answered", b"$Label1"],
        datetime(2023, 12, 24, 23, 59, 59, tzinfo=timezone(timedelta(hours=1))),
    ),
    ("imap-plain-text.eml", [b"\\Seen"], datetime(2011, 1, 12, 18, 0, 0, tzinfo=UTC)),
    (
        "imap-html-no-tracker.eml",
        [],
        datetime(2018, 6, 1, 7, 30, 0, tzinfo=timezone(timedelta(hours=-7))),
    ),
]
TRACKED = {"<imap-tracker-1@shop.example>", "<imap-tracker-2@mailer.example>"}
TRACKER_URL = b"127.0.0.1/open"


def message_id(raw: bytes) -> str:
    m = re.search(rb"^Message-ID:\s*(\S+)", raw, re.IGNORECASE | re.MULTILINE)
    assert m, raw[:200]
    return m.group(1).decode()


ALL_IDS = {message_id(fixture_bytes(name)) for name, _, _ in BACKLOG}  # the backlog's Message-IDs


def by_message_id(snap: dict[int, dict]) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for uid, msg in snap.items():
        mid = message_id(msg["raw"])
        assert mid not in out, f"duplicate {mid}"
        out[mid] = {**msg, "uid": uid, "flags": msg["flags"] - {RECENT}}
    return out


def seed(client, backlog=BACKLOG) -> None:
    for name, flags, date in backlog:
        client.append("INBOX", fixture_bytes(name), flags=flags, msg_time=date)


def digest_header(raw: bytes) -> str | None:
    m = re.search(rb"^X-PixelGuard-Original:\s*(\S+)", raw, re.IGNORECASE | re.MULTILINE)
    return m.group(1).decode() if m else None


def test_once_cleans_backlog_keeping_flags_dates_and_originals(mailbox, imap_config):
    c = mailbox.client()
    seed(c)
    before = by_message_id(snapshot(c))
    config = imap_config(imap_account(mailbox))

    run = run_imap(config, "--once")

    assert run.returncode == 0, run.stderr
    assert "2 cleaned" in run.stdout and "2 marked unchanged" in run.stdout, run.stdout
    after = by_message_id(snapshot(c))
    assert set(after) == set(before)  # same messages, none lost, none doubled
    for mid, old in before.items():
        new = after[mid]
        assert new["flags"] == old["flags"] | {KEYWORD}, mid
        assert new["date"] == old["date"], mid
        assert new["date"].utcoffset() == old["date"].utcoffset(), mid  # same instant *and* zone
        if mid in TRACKED:
            assert TRACKER_URL in old["raw"]
            assert TRACKER_URL not in new["raw"], mid
            assert b"X-PixelGuard:" in new["raw"]
            assert digest_header(new["raw"]) == "sha256=" + hashlib.sha256(old["raw"]).hexdigest()
        else:
            assert new["raw"] == old["raw"], mid  # nothing to remove: untouched, keyword only
    kept = by_message_id(snapshot(c, ORIGINALS))
    assert set(kept) == TRACKED
    for mid in TRACKED:
        assert kept[mid]["raw"] == before[mid]["raw"]
        # marked as an original, so that one moved back by hand is recognised
        assert kept[mid]["flags"] == before[mid]["flags"] | {b"$PixelGuardOriginal"}
        assert kept[mid]["date"] == before[mid]["date"]
    c.logout()


def test_second_run_changes_nothing(mailbox, imap_config):
    c = mailbox.client()
    seed(c)
    config = imap_config(imap_account(mailbox))
    assert run_imap(config, "--once").returncode == 0
    inbox, kept = snapshot(c), snapshot(c, ORIGINALS)

    again = run_imap(config, "--once")

    assert again.returncode == 0, again.stderr
    assert "0 scanned, 0 cleaned" in again.stdout, again.stdout
    assert snapshot(c) == inbox  # same UIDs, flags and bytes
    assert snapshot(c, ORIGINALS) == kept
    c.logout()


def test_delete_mode_removes_originals_and_nothing_else(mailbox, imap_config):
    c = mailbox.client()
    seed(c)
    # A message the user marked \Deleted but has not expunged must survive our UID EXPUNGE.
    c.append(
        "INBOX",
        b"Message-ID: <user-deleted@example.org>\r\nSubject: keep\r\n\r\nx\r\n",
        flags=[b"\\Deleted"],
    )
    config = imap_config(imap_account(mailbox, originals="delete"))

    run = run_imap(config, "--once")

    assert run.returncode == 0, run.stderr
    after = by_message_id(snapshot(c))
    assert set(after) == {message_id(fixture_bytes(n)) for n, _, _ in BACKLOG} | {
        "<user-deleted@example.org>"
    }
    assert all(TRACKER_URL not in m["raw"] for m in after.values())
    assert b"\\Deleted" in after["<user-deleted@example.org>"]["flags"]
    assert not c.folder_exists(ORIGINALS)
    c.logout()


def test_dry_run_reports_and_changes_nothing(mailbox, imap_config):
    c = mailbox.client()
    seed(c)
    before = snapshot(c)
    config = imap_config(imap_account(mailbox))

    run = run_imap(config, "--once", "--dry-run")

    assert run.returncode == 0, run.stderr
    assert run.stdout.count("would remove") == 2, run.stdout
    assert "127.0.0.1/open" in run.stdout
    # each message says who sent it and what it is about, with a singular for one tracker
    assert '  From: "Shop News" <news@shop.example>\n' in run.stdout, run.stdout
    assert "  Subject: Autumn sale (tracked newsletter)\n" in run.stdout
    assert "  Subject: Single-part HTML with a hidden pixel\n" in run.stdout
    assert "would remove 1 tracker\n" in run.stdout and "tracker(s)" not in run.stdout
    after = snapshot(c)
    assert after.keys() == before.keys()
    for uid in before:
        assert after[uid]["raw"] == before[uid]["raw"]
        assert after[uid]["flags"] - {RECENT} == before[uid]["flags"] - {RECENT}
    assert not c.folder_exists(ORIGINALS)
    c.logout()


def test_originals_folder_follows_the_servers_namespace(dovecot_with, imap_config):
    server = dovecot_with(separator=".", prefix="INBOX.")  # Courier/Cyrus-like layout
    user = server.new_user("ns")
    mailbox = Mailbox(server, user, server.password(user))
    c = mailbox.client()
    seed(c)

    run = run_imap(imap_config(imap_account(mailbox)), "--once")

    assert run.returncode == 0, run.stderr
    assert set(by_message_id(snapshot(c, "INBOX.pixelguard.originals"))) == TRACKED
    assert all(TRACKER_URL not in m["raw"] for m in snapshot(c).values())
    c.logout()


@pytest.mark.parametrize(
    "caps", [None, "IMAP4rev1 SASL-IR LITERAL+ IDLE NAMESPACE MOVE"], ids=["full", "no-uidplus"]
)
def test_identical_messages_are_each_replaced_once(dovecot, dovecot_with, imap_config, caps):
    server = dovecot if caps is None else dovecot_with(caps)
    user = server.new_user("twins")
    mailbox = Mailbox(server, user, server.password(user))
    c = mailbox.client()
    raw = fixture_bytes("imap-tracker-newsletter.eml")
    for _ in range(2):  # the same bytes twice: the same digest
        c.append("INBOX", raw)

    run = run_imap(imap_config(imap_account(mailbox)), "--once")

    assert run.returncode == 0, run.stderr
    inbox = list(snapshot(c).values())
    assert len(inbox) == 2
    assert all(TRACKER_URL not in m["raw"] and KEYWORD in m["flags"] for m in inbox)
    assert [m["raw"] for m in snapshot(c, ORIGINALS).values()] == [raw, raw]
    c.logout()
