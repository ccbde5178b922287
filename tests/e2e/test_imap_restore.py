"""False positives undone: `pixelguard restore`, and an original moved back by hand.

Either way, after two more `--once` runs: exactly one copy of the message (the original) in
its folder, its bytes and INTERNALDATE as before cleaning, the cleaned copy's flags (what the
user did since, here: read or flagged it) plus pixelguard's keywords, nothing left in the
originals folder for it; the other cleaned message is untouched.
"""

from __future__ import annotations

import signal
import subprocess

import pytest
from imap_support import (
    ROOT,
    Mailbox,
    fixture_bytes,
    imap_account,
    imap_env,
    pixelguard_command,
    run_imap,
    snapshot,
)
from test_imap_backlog import (
    ALL_IDS,
    KEYWORD,
    ORIGINALS,
    TRACKER_URL,
    by_message_id,
    digest_header,
    seed,
)

KEEP = b"$PixelGuardKeep"
ORIGINAL = b"$PixelGuardOriginal"
RESTORED = "<imap-tracker-1@shop.example>"  # \Seen \Flagged Work, 2015
OTHER = "<imap-tracker-2@mailer.example>"  # \Answered $Label1, 2023: stays cleaned


def run_restore(config: str, *args: str, password: str, crash_at: str | None = None):
    return subprocess.run(
        pixelguard_command("restore", "--config", config, *args, crash_at=crash_at),
        check=False,
        capture_output=True,
        text=True,
        env=imap_env(password),
        timeout=120,
        cwd=ROOT,
    )


@pytest.fixture
def cleaned(mailbox, imap_config):
    """(client, config, the INBOX before cleaning by Message-ID): the backlog cleaned once,
    then the user unflags and answers the cleaned copy of RESTORED."""
    c = mailbox.client()
    seed(c)
    before = by_message_id(snapshot(c))
    config = imap_config(imap_account(mailbox))
    run = run_imap(config, "--once", password=mailbox.password)
    assert run.returncode == 0 and "2 cleaned" in run.stdout, (run.stdout, run.stderr)
    copy = by_message_id(snapshot(c))[RESTORED]
    c.select_folder("INBOX")
    c.remove_flags([copy["uid"]], [b"\\Flagged"])
    c.add_flags([copy["uid"]], [b"\\Answered"])
    yield c, config, before
    c.logout()


USER_FLAGS = {b"\\Seen", b"Work", b"\\Answered"}  # the copy's flags after the user's changes


def assert_restored_once(c, config, before, password, flags=USER_FLAGS | {KEYWORD, KEEP}):
    """Two more passes, then: RESTORED is its original, once; OTHER is still cleaned."""
    for _ in range(2):
        again = run_imap(config, "--once", password=password)
        assert again.returncode == 0, again.stderr
        assert " 0 cleaned" in again.stdout, again.stdout
    inbox = by_message_id(snapshot(c))  # raises on a duplicate Message-ID
    assert set(inbox) == ALL_IDS
    mine = inbox[RESTORED]
    assert mine["raw"] == before[RESTORED]["raw"]
    assert mine["date"] == before[RESTORED]["date"]
    assert mine["date"].utcoffset() == before[RESTORED]["date"].utcoffset()
    assert mine["flags"] == flags
    assert TRACKER_URL not in inbox[OTHER]["raw"] and digest_header(inbox[OTHER]["raw"])
    kept = by_message_id(snapshot(c, ORIGINALS))
    assert set(kept) == {OTHER}
    return inbox


@pytest.mark.parametrize("how", ["uid", "message-id", "digest"])
def test_restore_brings_the_original_back_in_place_of_its_copy(cleaned, mailbox, how):
    c, config, before = cleaned
    copy = by_message_id(snapshot(c))[RESTORED]
    args = {
        "uid": ["--uid", str(copy["uid"]), "--folder", "INBOX"],
        "message-id": ["--message-id", RESTORED.strip("<>")],
        "digest": ["--digest", digest_header(copy["raw"])[: len("sha256=") + 12]],
    }[how]

    restored = run_restore(config, *args, password=mailbox.password)

    assert restored.returncode == 0, restored.stderr
    assert f"its cleaned copy UID {copy['uid']} removed" in restored.stdout, restored.stdout
    assert_restored_once(c, config, before, mailbox.password)


def test_original_moved_back_by_hand_is_kept_and_its_copy_removed(cleaned, mailbox):
    c, config, before = cleaned
    c.select_folder(ORIGINALS)
    (uid,) = [u for u, m in snapshot(c, ORIGINALS).items() if RESTORED.encode() in m["raw"]]
    c.select_folder(ORIGINALS)
    c.move([uid], "INBOX")  # what a mail client does when the user drags it back

    dry = run_imap(config, "--once", "--dry-run", password=mailbox.password)
    assert "would keep it as it is and remove its cleaned copy UID" in dry.stdout, dry.stdout
    assert_restored_once(c, config, before, mailbox.password)


def test_original_moved_back_by_a_client_that_drops_keywords_is_kept(cleaned, mailbox):
    c, config, before = cleaned
    ((uid, msg),) = [
        (u, m) for u, m in snapshot(c, ORIGINALS).items() if RESTORED.encode() in m["raw"]
    ]
    # A client that moves by APPEND + delete, carrying system flags only: only the cleaned
    # copy below it tells pixelguard that this is an original put back.
    system = [f for f in msg["flags"] if f.startswith(b"\\") and f != b"\\Recent"]
    c.append("INBOX", msg["raw"], flags=system, msg_time=msg["date"])
    c.select_folder(ORIGINALS)
    c.add_flags([uid], [b"\\Deleted"])
    c.uid_expunge([uid])

    assert_restored_once(c, config, before, mailbox.password)


def test_original_moved_back_after_its_copy_was_deleted_is_not_cleaned_again(cleaned, mailbox):
    c, config, before = cleaned
    copy = by_message_id(snapshot(c))[RESTORED]
    c.select_folder("INBOX")
    c.add_flags([copy["uid"]], [b"\\Deleted"])
    c.uid_expunge([copy["uid"]])
    (uid,) = [u for u, m in snapshot(c, ORIGINALS).items() if RESTORED.encode() in m["raw"]]
    c.select_folder(ORIGINALS)
    c.move([uid], "INBOX")

    # No copy is left to take flags from: the original keeps its own ($PixelGuardOriginal
    # told pixelguard what it is, and makes way for $PixelGuardKeep).
    assert_restored_once(
        c, config, before, mailbox.password, before[RESTORED]["flags"] | {KEYWORD, KEEP}
    )


def test_original_moved_back_and_marked_deleted_keeps_its_copy(cleaned, mailbox):
    """The user puts the original back, then deletes it in a client that only marks
    messages \\Deleted and expunges later: its cleaned copy may soon be the only one, so
    it stays, and the original is not cleaned again."""
    c, config, before = cleaned
    copy = by_message_id(snapshot(c))[RESTORED]
    (uid,) = [u for u, m in snapshot(c, ORIGINALS).items() if RESTORED.encode() in m["raw"]]
    c.select_folder(ORIGINALS)
    c.move([uid], "INBOX")
    (back,) = [u for u, m in snapshot(c).items() if m["raw"] == before[RESTORED]["raw"]]
    c.select_folder("INBOX")  # read-write: snapshot() leaves it selected read-only
    c.add_flags([back], [b"\\Deleted"])
    assert b"\\Deleted" in snapshot(c)[back]["flags"]

    for _ in range(2):
        again = run_imap(config, "--once", password=mailbox.password)
        assert again.returncode == 0 and " 0 cleaned" in again.stdout, again.stdout
    c.select_folder("INBOX")
    c.expunge()  # the client's expunge
    inbox = snapshot(c)
    assert copy["uid"] in inbox and inbox[copy["uid"]]["raw"] == copy["raw"]
    assert back not in inbox


@pytest.mark.parametrize("step", ["restore-after-move", "before-keep-remove"])
def test_restore_killed_midway_leaves_the_original_and_the_next_run_finishes(
    cleaned, mailbox, step
):
    c, config, before = cleaned
    copy = by_message_id(snapshot(c))[RESTORED]

    killed = run_restore(
        config,
        "--uid",
        str(copy["uid"]),
        password=mailbox.password,
        crash_at=step,
    )

    assert killed.returncode == -signal.SIGKILL, (killed.returncode, killed.stderr)
    inbox = snapshot(c)  # the original back and its copy still there, nothing lost
    mine = [m for m in inbox.values() if RESTORED.encode() in m["raw"]]
    assert sorted(TRACKER_URL in m["raw"] for m in mine) == [False, True]
    assert_restored_once(c, config, before, mailbox.password)


def test_a_pass_killed_while_keeping_a_hand_moved_original_is_finished_by_the_next(
    cleaned, mailbox
):
    c, config, before = cleaned
    (uid,) = [u for u, m in snapshot(c, ORIGINALS).items() if RESTORED.encode() in m["raw"]]
    c.select_folder(ORIGINALS)
    c.move([uid], "INBOX")

    killed = run_imap(
        config,
        "--once",
        password=mailbox.password,
        crash_at="before-keep-remove",
    )

    assert killed.returncode == -signal.SIGKILL, (killed.returncode, killed.stderr)
    assert_restored_once(c, config, before, mailbox.password)


def test_restore_of_a_message_that_is_no_cleaned_copy_changes_nothing(cleaned, mailbox):
    c, config, _ = cleaned
    plain = by_message_id(snapshot(c))["<imap-plain-1@example.org>"]
    inbox, kept = snapshot(c), snapshot(c, ORIGINALS)

    refused = run_restore(config, "--uid", str(plain["uid"]), password=mailbox.password)
    missing = run_restore(config, "--message-id", "<nobody@example.org>", password=mailbox.password)

    assert refused.returncode == 1 and "not a cleaned copy" in refused.stderr, refused.stderr
    assert missing.returncode == 1 and "no cleaned copy" in missing.stderr, missing.stderr
    assert "Traceback" not in refused.stderr + missing.stderr
    assert snapshot(c) == inbox and snapshot(c, ORIGINALS) == kept


def test_originals_folder_is_created_subscribed(mailbox, imap_config):
    c = mailbox.client()
    seed(c)
    config = imap_config(imap_account(mailbox))
    assert ORIGINALS not in [f[2] for f in c.list_folders()]

    assert run_imap(config, "--once", password=mailbox.password).returncode == 0

    assert ORIGINALS in [f[2] for f in c.list_sub_folders()]
    c.logout()


NO_MOVE = "IMAP4rev1 SASL-IR LITERAL+ ENABLE IDLE NAMESPACE UNSELECT UIDPLUS"


@pytest.fixture
def cleaned_without_move(dovecot_with, imap_config):
    """Like `cleaned`, on a server without MOVE (originals retired and restored by UID COPY
    + \\Deleted + UID EXPUNGE)."""
    server = dovecot_with(NO_MOVE)
    user = server.new_user("nomove")
    box = Mailbox(server, user, server.password(user))
    c = box.client()
    seed(c)
    before = by_message_id(snapshot(c))
    config = imap_config(imap_account(box))
    assert run_imap(config, "--once", password=box.password).returncode == 0
    copy = by_message_id(snapshot(c))[RESTORED]
    c.select_folder("INBOX")
    c.remove_flags([copy["uid"]], [b"\\Flagged"])
    c.add_flags([copy["uid"]], [b"\\Answered"])
    yield c, config, before, box.password, copy["uid"]
    c.logout()


def test_restore_without_move_copies_the_original_back(cleaned_without_move):
    c, config, before, password, copy_uid = cleaned_without_move

    restored = run_restore(config, "--uid", str(copy_uid), password=password)

    assert restored.returncode == 0, restored.stderr
    assert_restored_once(c, config, before, password)


def test_restore_without_move_killed_after_the_copy_loses_nothing(cleaned_without_move):
    c, config, before, password, copy_uid = cleaned_without_move

    killed = run_restore(
        config,
        "--uid",
        str(copy_uid),
        password=password,
        crash_at="restore-after-copy",
    )

    assert killed.returncode == -signal.SIGKILL, (killed.returncode, killed.stderr)
    # The original is in both folders now; the next passes keep the one in INBOX. The one
    # still in the originals folder is a second, harmless copy there (see docs/imap.md).
    for _ in range(2):
        again = run_imap(config, "--once", password=password)
        assert again.returncode == 0 and " 0 cleaned" in again.stdout, again.stdout
    inbox = by_message_id(snapshot(c))
    assert inbox[RESTORED]["raw"] == before[RESTORED]["raw"]
    assert inbox[RESTORED]["flags"] == USER_FLAGS | {KEYWORD, KEEP}
    assert set(by_message_id(snapshot(c, ORIGINALS))) == {RESTORED, OTHER}


def test_restore_names_every_match_and_changes_nothing_when_several_match(mailbox, imap_config):

    c = mailbox.client()
    raw = fixture_bytes("imap-tracker-newsletter.eml")
    c.append("INBOX", raw)
    c.append("INBOX", raw.replace(b"Subject:", b"X-Resent: yes\r\nSubject:"))  # same Message-ID
    config = imap_config(imap_account(mailbox))
    assert run_imap(config, "--once", password=mailbox.password).returncode == 0
    inbox, kept = snapshot(c), snapshot(c, ORIGINALS)

    both = run_restore(config, "--message-id", RESTORED, password=mailbox.password)

    assert both.returncode == 1, both.stderr
    assert "2 cleaned copies match" in both.stderr
    assert all(f"INBOX UID {uid}" in both.stderr for uid in inbox)
    assert snapshot(c) == inbox and snapshot(c, ORIGINALS) == kept
    c.logout()
