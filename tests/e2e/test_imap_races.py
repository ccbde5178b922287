"""Races and config traps: two runs on one mailbox at once (one machine or several), and an
originals folder that is a cleaned folder under another spelling."""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import time

import pytest
from imap_support import (
    Mailbox,
    fixture_bytes,
    imap_account,
    process_state,
    run_imap,
    snapshot,
    start_imap,
    wait_until,
)
from test_imap_backlog import KEYWORD, ORIGINALS, TRACKER_URL, by_message_id, digest_header

from pixelguard.imap.connection import EXIT_AUTH

EXIT_USAGE, EXIT_TEMPFAIL = 2, 75
WAIT = 60.0  # seconds: bound of every condition wait below
NO_UIDPLUS = "IMAP4rev1 SASL-IR LITERAL+ IDLE NAMESPACE MOVE"  # own copies are moved away


def _seed(client, count: int, first: int = 0) -> None:
    raw = fixture_bytes("imap-tracker-newsletter.eml")
    for i in range(first, first + count):
        client.append("INBOX", raw.replace(b"<imap-tracker-1@", f"<{i}-imap-tracker@".encode()))


def _assert_each_cleaned_once(client, count: int, originals: str = ORIGINALS) -> None:
    inbox = by_message_id(snapshot(client))  # raises on a duplicate Message-ID
    assert len(inbox) == count
    for mid, msg in inbox.items():
        assert TRACKER_URL not in msg["raw"] and digest_header(msg["raw"]), mid
        assert KEYWORD in msg["flags"], mid
        assert b"\\Deleted" not in msg["flags"], mid
    assert len(by_message_id(snapshot(client, originals))) == count


def _lock_env(path) -> dict:
    """The environment of a run with its own lock directory: a run on another machine."""
    os.makedirs(path, exist_ok=True)
    return {"XDG_RUNTIME_DIR": str(path)}


# -- 1. originals that are a cleaned folder under another name -------------------------------
@pytest.mark.parametrize("originals", ["Inbox", "inbox", "iNbOx"])
def test_originals_inbox_in_any_case_is_a_config_error(mailbox, imap_config, originals):
    c = mailbox.client()
    c.append("INBOX", fixture_bytes("imap-tracker-newsletter.eml"))
    before = snapshot(c)
    config = imap_config(imap_account(mailbox, originals=originals))

    for _ in range(2):
        run = run_imap(config, "--once", password=mailbox.password)
        assert run.returncode == EXIT_USAGE, run.stderr
        assert "originals" in run.stderr and "cleaned folder" in run.stderr, run.stderr
    assert snapshot(c) == before  # not touched, not doubled
    c.logout()


@pytest.mark.parametrize(
    "separator, prefix, folder",
    [
        (".", "", "pixelguard.originals"),  # '/' in `originals` becomes '.' on this server
        (".", "INBOX.", "INBOX.pixelguard.originals"),  # under the INBOX. namespace prefix
        (".", "INBOX.", "pixelguard.originals"),  # the prefix is added to folders too
    ],
    ids=["dot", "inbox-prefix", "inbox-prefix-bare"],
)
def test_originals_that_is_a_cleaned_folder_on_this_server_refuses_the_account(
    dovecot_with, imap_config, separator, prefix, folder
):
    server = dovecot_with(separator=separator, prefix=prefix)
    user = server.new_user("clash")
    mailbox = Mailbox(server, user, server.password(user))
    c = mailbox.client()
    real = "INBOX.pixelguard.originals" if prefix else "pixelguard.originals"
    c.create_folder(real)
    c.append(real, fixture_bytes("imap-tracker-newsletter.eml"))
    before = snapshot(c, real)
    config = imap_config(imap_account(mailbox, folders=["INBOX", folder]))

    for _ in range(2):
        run = run_imap(config, "--once", password=mailbox.password)
        assert run.returncode == EXIT_USAGE, run.stderr
        lines = [x for x in run.stderr.splitlines() if "error:" in x]
        assert len(lines) == 1, run.stderr
        assert f"on this server it is the folder {real!r}" in lines[0], lines
        assert "1 failure" in run.stdout, run.stdout
    assert snapshot(c, real) == before  # untouched: nothing was done for this account
    c.logout()


def test_originals_check_keeps_inbox_and_originals_apart_on_a_prefix_server(
    dovecot_with, imap_config
):
    server = dovecot_with(separator=".", prefix="INBOX.")
    user = server.new_user("apart")
    mailbox = Mailbox(server, user, server.password(user))
    c = mailbox.client()
    _seed(c, 2)

    run = run_imap(imap_config(imap_account(mailbox)), "--once", password=mailbox.password)

    assert run.returncode == 0, run.stderr
    _assert_each_cleaned_once(c, 2, "INBOX.pixelguard.originals")
    c.logout()


def _finish(procs: list[subprocess.Popen]) -> list[tuple[int, str, str]]:
    """(exit code, stdout, stderr) of each run, their pipes read as they go (a full pipe
    would stall a run); past WAIT seconds all are killed and reaped, and the test fails."""
    deadline = time.monotonic() + WAIT
    results = []
    try:
        for p in procs:
            out, err = p.communicate(timeout=max(0.0, deadline - time.monotonic()))
            results.append((p.returncode, out, err))
    except subprocess.TimeoutExpired:
        for p in procs:
            p.kill()
            p.communicate()
        raise AssertionError(f"the runs did not end within {WAIT} s") from None
    return results


# -- 2. two runs at once ----------------------------------------------------------------------
def test_two_runs_on_one_machine_take_turns(mailbox, imap_config, tmp_path):
    c = mailbox.client()
    _seed(c, 150)
    config = imap_config(imap_account(mailbox))
    env = _lock_env(tmp_path / "run")

    procs = [start_imap(config, "--once", password=mailbox.password, env=env) for _ in range(2)]
    results = _finish(procs)

    for code, _, err in results:
        # The second waits for the first; if that takes too long it gives up, retryable.
        assert code == 0 or (code == EXIT_TEMPFAIL and "another pixelguard process" in err), err
    assert "another pixelguard run" not in "".join(err for _, _, err in results)
    _assert_each_cleaned_once(c, 150)
    c.logout()


def test_a_busy_local_lock_is_a_clear_retryable_failure(mailbox, imap_config, tmp_path):
    c = mailbox.client()
    _seed(c, 1)
    config = imap_config(imap_account(mailbox))
    env = _lock_env(tmp_path / "run")
    assert run_imap(config, "--once", password=mailbox.password, env=env).returncode == 0
    (lock_file,) = (tmp_path / "run" / "pixelguard").iterdir()  # one account, one lock file
    _seed(c, 1, first=1)
    before = snapshot(c)

    with open(lock_file, "r+") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # another process on this machine is at work
        run = run_imap(config, "--once", password=mailbox.password, env=env)

    assert run.returncode == EXIT_TEMPFAIL, run.stderr
    assert "another pixelguard process on this machine" in run.stderr
    assert snapshot(c) == before
    rerun = run_imap(config, "--once", password=mailbox.password, env=env)
    assert rerun.returncode == 0, rerun.stderr
    _assert_each_cleaned_once(c, 2)
    c.logout()


@pytest.mark.parametrize("caps", [None, NO_UIDPLUS], ids=["full", "no-uidplus"])
def test_two_machines_at_once_leave_one_copy_each(
    dovecot, dovecot_with, imap_config, tmp_path, caps
):
    server = dovecot if caps is None else dovecot_with(caps)
    user = server.new_user("twomachines")
    mailbox = Mailbox(server, user, server.password(user))
    c = mailbox.client()
    _seed(c, 150)
    config = imap_config(imap_account(mailbox))

    procs = [
        start_imap(config, "--once", password=mailbox.password, env=_lock_env(tmp_path / str(i)))
        for i in range(2)
    ]
    results = _finish(procs)

    for code, _, err in results:
        assert code == 0, err
    inbox = by_message_id(snapshot(c))  # raises on a duplicate Message-ID
    assert len(inbox) == 150
    assert all(TRACKER_URL not in m["raw"] and KEYWORD in m["flags"] for m in inbox.values())
    kept = snapshot(c, ORIGINALS)
    originals = [m for m in kept.values() if digest_header(m["raw"]) is None]
    assert len(by_message_id({i: m for i, m in enumerate(originals)})) == 150
    if caps is None:
        assert len(kept) == 150  # our duplicate copies were expunged, nothing else
    c.logout()


def _run_paused(config: str, step: str, password: str, env: dict) -> subprocess.Popen:
    """A run that stops itself (SIGSTOP) at `step`; returns once it is stopped there."""
    proc = start_imap(
        config, "--once", password=password, env=env, crash_at=step + ":stop"
    )
    wait_until(
        lambda: process_state(proc.pid) == "T" or proc.poll() is not None,
        f"pixelguard to stop at {step}",
        WAIT,
    )
    assert proc.poll() is None, proc.communicate()
    return proc


def _overtaken_at(step: str, config: str, mailbox, tmp_path, fast_says: str) -> tuple[int, str, str]:
    """Run A stops itself at `step`; run B then does the whole folder (and must say
    `fast_says`); A goes on. A's exit code, stdout and stderr."""
    slow = _run_paused(config, step, mailbox.password, _lock_env(tmp_path / "a"))
    try:
        fast = run_imap(config, "--once", password=mailbox.password, env=_lock_env(tmp_path / "b"))
        assert fast.returncode == 0, fast.stderr
        assert fast_says in fast.stdout, fast.stdout
    finally:
        os.kill(slow.pid, signal.SIGCONT)
    out, err = slow.communicate(timeout=WAIT)
    return slow.returncode, out, err


@pytest.mark.parametrize("caps", [None, NO_UIDPLUS], ids=["full", "no-uidplus"])
def test_a_run_that_lost_the_race_removes_its_own_copies(
    dovecot, dovecot_with, imap_config, tmp_path, caps
):
    server = dovecot if caps is None else dovecot_with(caps)
    user = server.new_user("lostrace")
    mailbox = Mailbox(server, user, server.password(user))
    c = mailbox.client()
    _seed(c, 3)
    config = imap_config(imap_account(mailbox))
    # A has downloaded and cleaned everything and is about to APPEND; B then does it all.
    code, out, err = _overtaken_at("before-append", config, mailbox, tmp_path, "3 cleaned")

    assert code == 0, err
    assert "3 messages were cleaned at the same time by another pixelguard run" in err
    assert "0 cleaned" in out, out
    inbox = by_message_id(snapshot(c))
    assert len(inbox) == 3
    assert all(TRACKER_URL not in m["raw"] and KEYWORD in m["flags"] for m in inbox.values())
    kept = snapshot(c, ORIGINALS)
    assert sum(digest_header(m["raw"]) is None for m in kept.values()) == 3
    if caps is None:
        assert len(kept) == 3  # A's copies were expunged (by UID), not moved
    c.logout()


def test_a_run_whose_copies_were_taken_over_still_finishes_cleanly(mailbox, imap_config, tmp_path):
    c = mailbox.client()
    _seed(c, 3)
    config = imap_config(imap_account(mailbox))
    # A has appended its copies; B sees them, takes them as A's, retires the originals.
    code, _, err = _overtaken_at("after-append", config, mailbox, tmp_path, "3 recovered")

    assert code == 0, err
    _assert_each_cleaned_once(c, 3)
    c.logout()
# -- 3. password masking ----------------------------------------------------------------------
def test_a_short_password_is_masked_in_the_servers_words_only(mailbox, imap_config):
    config = imap_config(imap_account(mailbox))

    run = run_imap(config, "--once", password="e")  # wrong, and a letter of the user name

    assert run.returncode == EXIT_AUTH, run.stderr
    assert f"({mailbox.user} at 127.0.0.1:{mailbox.server.imap_port})" in run.stderr, run.stderr
    assert "login failed" in run.stderr
