"""Long-running modes: --idle cleans new mail within seconds, --every keeps going, both
survive a server restart and stop on SIGTERM."""

from __future__ import annotations

import signal
import subprocess

import pytest
from imap_support import Mailbox, fixture_bytes, imap_account, require_dovecot, snapshot, start_imap
from imap_support import wait_until as _wait_until
from test_imap_backlog import KEYWORD, TRACKER_URL, message_id

NEW_MAIL_DEADLINE = 10.0  # seconds; IDLE should take well under one


def wait_until(predicate, timeout: float, what: str):
    """Poll `predicate` until it returns something truthy; fail after `timeout` seconds."""
    return _wait_until(predicate, what, timeout, interval=0.05)


def stop(proc: subprocess.Popen) -> tuple[int, str, str]:
    proc.send_signal(signal.SIGTERM)
    try:
        out, err = proc.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise AssertionError(f"did not stop on SIGTERM\n{err}")
    return proc.returncode, out, err


def cleaned(client, mid: str):
    """The message with Message-ID `mid` in INBOX, once there is exactly one and it is clean."""
    msgs = [m for m in snapshot(client).values() if message_id(m["raw"]) == mid]
    if len(msgs) == 1 and KEYWORD in msgs[0]["flags"] and TRACKER_URL not in msgs[0]["raw"]:
        return msgs[0]
    return None


def test_idle_cleans_a_message_appended_by_another_client_within_seconds(mailbox, imap_config):
    watcher = mailbox.client()
    first = fixture_bytes("imap-tracker-single-part.eml")
    watcher.append("INBOX", first)
    proc = start_imap(imap_config(imap_account(mailbox)), "--idle", "--full-check", "10m")
    try:
        # The initial pass cleans the backlog; after that only IDLE can notice new mail
        # (the next full check is 10 minutes away).
        wait_until(lambda: cleaned(watcher, message_id(first)), 30, "the initial pass")
        other = mailbox.client()
        new = fixture_bytes("imap-tracker-newsletter.eml")
        other.append("INBOX", new, flags=[b"\\Flagged"])
        other.logout()
        msg = wait_until(  # fails past the deadline
            lambda: cleaned(watcher, message_id(new)),
            NEW_MAIL_DEADLINE,
            "IDLE to clean the new message",
        )
        assert b"\\Flagged" in msg["flags"]
    finally:
        code, out, err = stop(proc)
    assert code == 0, err
    assert "2 cleaned" in out, out
    watcher.logout()


def test_every_runs_passes_until_stopped(mailbox, imap_config):
    watcher = mailbox.client()
    first = fixture_bytes("imap-tracker-single-part.eml")
    watcher.append("INBOX", first)
    proc = start_imap(imap_config(imap_account(mailbox)), "--every", "1s")
    try:
        wait_until(lambda: cleaned(watcher, message_id(first)), 30, "the first pass")
        # Mail arriving after the first pass is cleaned by a later one.
        new = fixture_bytes("imap-tracker-newsletter.eml")
        watcher.append("INBOX", new)
        wait_until(lambda: cleaned(watcher, message_id(new)), NEW_MAIL_DEADLINE, "a later pass")
    finally:
        code, out, err = stop(proc)
    assert code == 0, err
    assert "2 cleaned" in out, out
    watcher.logout()


class StderrLog:
    """Collects a running process's stderr lines in a thread, so tests can wait on them."""

    def __init__(self, proc: subprocess.Popen) -> None:
        import threading

        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(proc,), daemon=True)
        self._thread.start()

    def _read(self, proc: subprocess.Popen) -> None:
        for line in proc.stderr:
            self.lines.append(line)

    def text(self) -> str:
        return "".join(self.lines)


@pytest.mark.parametrize(
    "mode",
    [
        ["--every", "1s"],
        ["--idle", "--full-check", "1s"],
        # The full check is far away: a dropped IDLE connection must be noticed by itself.
        ["--idle", "--full-check", "10m"],
    ],
    ids=["every", "idle", "idle-no-full-check"],
)
def test_survives_a_server_restart_and_keeps_cleaning(imap_config, mode):
    from dovecot import Dovecot

    require_dovecot()
    with Dovecot() as server:  # private: this test stops and restarts it
        user = server.new_user("restart")
        mailbox = Mailbox(server, user, server.password(user))
        c = mailbox.client()
        first = fixture_bytes("imap-tracker-single-part.eml")
        c.append("INBOX", first)
        c.logout()
        proc = start_imap(imap_config(imap_account(mailbox)), *mode)
        err = StderrLog(proc)
        try:
            watcher = mailbox.client()
            wait_until(lambda: cleaned(watcher, message_id(first)), 30, "the first pass")
            watcher.logout()

            def while_down():
                wait_until(
                    lambda: "cannot connect" in err.text() or "connection lost" in err.text(),
                    30,
                    "pixelguard to notice the server is gone",
                )

            server.restart(down=while_down)
            other = mailbox.client()
            new = fixture_bytes("imap-tracker-newsletter.eml")
            other.append("INBOX", new)
            wait_until(lambda: cleaned(other, message_id(new)), 30, "a pass after reconnecting")
            other.logout()
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                raise AssertionError("did not stop on SIGTERM")
        assert proc.returncode == 0, err.text()
        assert proc.stdout.read().count("cleaned") == 1  # one summary line


def test_idle_waits_instead_of_spinning_through_passes(mailbox, imap_config):
    watcher = mailbox.client()
    first = fixture_bytes("imap-tracker-single-part.eml")
    watcher.append("INBOX", first)
    proc = start_imap(imap_config(imap_account(mailbox)), "--idle", "--full-check", "10m", "-v")
    err = StderrLog(proc)
    try:
        wait_until(lambda: cleaned(watcher, message_id(first)), 30, "the initial pass")
        new = fixture_bytes("imap-tracker-newsletter.eml")
        watcher.append("INBOX", new)
        wait_until(lambda: cleaned(watcher, message_id(new)), NEW_MAIL_DEADLINE, "IDLE")
        # Each pass logs one "without $PixelGuarded" line (-v); a watcher that re-passed
        # instead of idling would have logged dozens by now.
        passes = err.text().count("without $PixelGuarded")
    finally:
        code, _, _ = stop(proc)
    assert code == 0
    # initial pass, one after our own appends, one for the new mail, one after its copy
    assert passes <= 4, err.text()
    watcher.logout()
