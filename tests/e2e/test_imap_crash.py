"""Crash safety: SIGKILL at each step of the replace, rerun, and nothing is lost or doubled.

The pixelguard process is started through crash_at.py, which makes it SIGKILL itself at
that step of the replace (pixelguard/imap/replace.py).
"""

from __future__ import annotations

import signal

import pytest
from imap_support import Mailbox, imap_account, run_imap, snapshot
from test_imap_backlog import (
    ALL_IDS,
    KEYWORD,
    ORIGINALS,
    TRACKED,
    TRACKER_URL,
    by_message_id,
    fixture_bytes,
    message_id,
    seed,
)

BASE_CAPS = "IMAP4rev1 SASL-IR LITERAL+ ENABLE IDLE NAMESPACE UNSELECT"
SERVERS = {
    "full": None,  # Dovecot's own list: UIDPLUS and MOVE
    "no-move": BASE_CAPS + " UIDPLUS",  # retire by UID COPY + \Deleted + UID EXPUNGE
    "no-uidplus": BASE_CAPS + " MOVE",  # confirm by SEARCH on the digest header
}


@pytest.fixture
def server_mailbox(request, dovecot, dovecot_with):
    caps = SERVERS[request.param]
    server = dovecot if caps is None else dovecot_with(caps)
    user = server.new_user("crash")
    return Mailbox(server, user, server.password(user))


def _all_messages(client) -> list[bytes]:
    return [m["raw"] for m in snapshot(client).values()] + [
        m["raw"] for m in snapshot(client, ORIGINALS).values()
    ]


@pytest.mark.parametrize(
    "server_mailbox, step, originals, leftovers",
    [
        # leftovers: originals the rerun must recognise as already replaced (by digest header)
        ("full", "after-append", ORIGINALS, 2),  # killed after one MULTIAPPEND of both copies
        ("full", "after-append", "delete", 2),
        ("full", "after-move", ORIGINALS, 0),  # MOVE is atomic: the batch was complete
        ("full", "before-expunge", "delete", 2),  # both marked \Deleted, none expunged
        ("no-move", "after-append", ORIGINALS, 1),  # no MULTIAPPEND: killed after the first APPEND
        ("no-move", "after-move", ORIGINALS, 2),  # copied to originals, not yet deleted
        ("no-move", "before-expunge", ORIGINALS, 2),
        ("no-uidplus", "after-append", ORIGINALS, 1),
        ("no-uidplus", "after-move", ORIGINALS, 0),
    ],
    indirect=["server_mailbox"],
)
def test_kill_during_replace_then_rerun_loses_and_doubles_nothing(
    server_mailbox, step, originals, leftovers, imap_config
):
    c = server_mailbox.client()
    seed(c)
    before = by_message_id(snapshot(c))
    config = imap_config(imap_account(server_mailbox, originals=originals))

    crashed = run_imap(config, "--once", crash_at=step)

    assert crashed.returncode == -signal.SIGKILL, (crashed.returncode, crashed.stderr)
    # Right after the kill: every message still exists somewhere, as original or clean copy.
    present = {message_id(raw) for raw in _all_messages(c)}
    assert present == ALL_IDS

    rerun = run_imap(config, "--once")

    assert rerun.returncode == 0, rerun.stderr
    assert f"{leftovers} recovered" in rerun.stdout, rerun.stdout
    inbox = by_message_id(snapshot(c))  # raises on a duplicate Message-ID
    assert set(inbox) == ALL_IDS
    for mid, msg in inbox.items():
        assert TRACKER_URL not in msg["raw"], mid
        assert msg["flags"] == before[mid]["flags"] | {KEYWORD}, mid
        assert msg["date"] == before[mid]["date"], mid
    kept = by_message_id(snapshot(c, ORIGINALS))
    if originals == "delete":
        assert kept == {}
    else:
        assert set(kept) == TRACKED
        for mid in TRACKED:
            assert kept[mid]["raw"] == before[mid]["raw"]
    c.logout()


def test_sigterm_finishes_the_batch_in_hand_and_exits_75(mailbox, imap_config):
    from test_imap_backlog import digest_header

    c = mailbox.client()
    raw = fixture_bytes("imap-tracker-newsletter.eml")
    count = 150  # more than one download batch (100)
    c.multiappend(
        "INBOX",
        [raw.replace(b"<imap-tracker-1@", f"<{i}-imap-tracker@".encode()) for i in range(count)],
    )
    config = imap_config(imap_account(mailbox))

    stopped = run_imap(config, "--once", crash_at="after-append:term")

    assert stopped.returncode == 75, stopped.stderr
    assert "stopped by a signal" in stopped.stderr
    inbox = by_message_id(snapshot(c))  # no duplicates
    assert len(inbox) == count
    done = [m for m in inbox.values() if KEYWORD in m["flags"]]
    assert len(done) == 100  # the first batch, completed: copies in, originals out
    assert all(TRACKER_URL not in m["raw"] and digest_header(m["raw"]) for m in done)
    assert all(TRACKER_URL in m["raw"] for m in inbox.values() if KEYWORD not in m["flags"])
    assert len(snapshot(c, ORIGINALS)) == 100

    rerun = run_imap(config, "--once")

    assert rerun.returncode == 0, rerun.stderr
    assert "50 cleaned" in rerun.stdout and "0 recovered" in rerun.stdout
    assert len(by_message_id(snapshot(c))) == count
    c.logout()
