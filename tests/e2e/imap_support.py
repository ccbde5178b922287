"""Helpers shared by the `pixelguard imap` end-to-end tests (import as `from imap_support import
...`; the fixtures are in conftest.py): a Dovecot for a fixture, a mailbox on it, a config
entry for it, `pixelguard imap` as a subprocess (run to the end or started in the background,
optionally signalling itself at a step of its work, see crash_at.py), a snapshot of a folder
and a bounded condition wait."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from dovecot import Dovecot, dovecot_binary

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "fixtures"
PASSWORD_ENV = "PIXELGUARD_TEST_IMAP_PASSWORD"
CRASH_AT = Path(__file__).resolve().parent / "crash_at.py"


def require_dovecot() -> None:
    """Skip (fail under CI=true) when the dovecot binary is missing."""
    if dovecot_binary() is not None:
        return
    reason = (
        "DOVECOT NOT INSTALLED: end-to-end IMAP/LMTP tests NOT RUN "
        "(apt-get install dovecot-imapd dovecot-lmtpd, or run scripts/test.sh)"
    )
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(reason + " — CI=true, so this is a failure", pytrace=False)
    pytest.skip(reason)


def running_dovecot(**kw):
    """Generator for a fixture: a started Dovecot(**kw), stopped afterwards."""
    require_dovecot()
    server = Dovecot(**kw).start()
    try:
        yield server
    finally:
        server.stop()


@dataclass
class Mailbox:
    server: Dovecot
    user: str
    password: str

    def client(self, **kw):
        return self.server.client(self.user, self.password, **kw)


def imap_account(mailbox: Mailbox, name: str = "test", **overrides) -> dict:
    """A config entry for imap.accounts pointing at `mailbox` (password from PASSWORD_ENV)."""
    entry = {
        "name": name,
        "host": "127.0.0.1",
        "port": mailbox.server.imap_port,
        "security": "none",
        "username": mailbox.user,
        "password_env": PASSWORD_ENV,
        "folders": ["INBOX"],
    }
    entry.update(overrides)
    return entry


def imap_env(password: str, env: dict | None = None) -> dict:
    """The environment of a `pixelguard` subprocess: ours, the account password in
    PASSWORD_ENV, then `env`."""
    return {**os.environ, PASSWORD_ENV: password, **(env or {})}


def pixelguard_command(*args: str, crash_at: str | None = None) -> list[str]:
    """`python -m pixelguard ARGS...`; with `crash_at` (STEP[:term|:stop]), the same through
    crash_at.py, which makes the process signal itself at that step."""
    if crash_at is None:
        return [sys.executable, "-m", "pixelguard", *args]
    return [sys.executable, str(CRASH_AT), crash_at, *args]


def run_imap(
    config: str,
    *args: str,
    password: str = "secret",
    env: dict | None = None,
    timeout: float = 120,
    crash_at: str | None = None,
) -> subprocess.CompletedProcess:
    """`pixelguard imap --config CONFIG ARGS...` as a subprocess, run to its end."""
    return subprocess.run(
        pixelguard_command("imap", "--config", config, *args, crash_at=crash_at),
        check=False,
        capture_output=True,
        text=True,
        env=imap_env(password, env),
        timeout=timeout,
        cwd=ROOT,
    )


def start_imap(
    config: str,
    *args: str,
    password: str = "secret",
    env: dict | None = None,
    crash_at: str | None = None,
) -> subprocess.Popen:
    """`pixelguard imap --config CONFIG ARGS...` started in the background, its stdout and
    stderr piped (text)."""
    return subprocess.Popen(
        pixelguard_command("imap", "--config", config, *args, crash_at=crash_at),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=imap_env(password, env),
        cwd=ROOT,
    )


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def snapshot(client, folder: str = "INBOX", attempts: int = 20) -> dict[int, dict]:
    """UID -> {flags, date, raw} of every message in `folder` (read-only, nothing marked seen).

    While another session (a running `pixelguard imap`) changes the folder, a message can be
    expunged between our SEARCH and FETCH; Dovecot then answers its FETCH with NIL or not at
    all. Such a read is not a picture of the folder, so it is taken again, a bounded number of
    times."""
    if not client.folder_exists(folder):
        return {}
    client.normalise_times = False  # keep INTERNALDATE's own timezone for exact comparisons
    for _ in range(attempts):
        client.select_folder(folder, readonly=True)
        uids = client.search("ALL")
        if not uids:
            return {}
        data = client.fetch(uids, ["FLAGS", "INTERNALDATE", "BODY.PEEK[]"])
        complete = set(data) == set(uids) and all(
            item.get(b"BODY[]") is not None and item.get(b"INTERNALDATE") is not None
            for item in data.values()
        )
        if complete:
            return {
                uid: {
                    "flags": set(item[b"FLAGS"]),
                    "date": item[b"INTERNALDATE"],
                    "raw": item[b"BODY[]"],
                }
                for uid, item in data.items()
            }
    raise AssertionError(f"{folder}: no complete read in {attempts} attempts (messages vanishing)")


def wait_until(predicate: Callable[[], object], what: str, timeout: float, interval: float = 0.02):
    """Poll `predicate` every `interval` seconds until it returns something truthy (returned);
    fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)  # polling interval of the condition wait


def process_state(pid: int) -> str:
    """The state letter of process `pid` from /proc ("T": stopped), or "gone"."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "gone"
