"""Fixtures for end-to-end tests against a real, throwaway Dovecot.

- `dovecot` (session): one running instance; attributes `host`, `imap_port`, `lmtp_port`,
  `lmtp_socket`, `root`; methods `add_user(user, password, quota=None)`, `new_user()`,
  `client(user)` (a logged-in IMAPClient).
- `mailbox` (function): a fresh user with an empty mailbox, so tests never share state;
  `mailbox.user`, `mailbox.password`, `mailbox.client()`.

When the dovecot binary is missing the tests are skipped with a loud reason, except under
CI=true, where a missing server is a failure (CI must run them).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: e.g. dkim_keys
sys.path.insert(0, str(Path(__file__).resolve().parent))
from dovecot import Dovecot, dovecot_binary  # noqa: E402


def _require_dovecot() -> None:
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
    _require_dovecot()
    server = Dovecot(**kw).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def dovecot():
    yield from running_dovecot()


@dataclass
class Mailbox:
    server: Dovecot
    user: str
    password: str

    def client(self, **kw):
        return self.server.client(self.user, self.password, **kw)


@pytest.fixture
def mailbox(dovecot, request) -> Mailbox:
    """A fresh user with an empty mailbox on the session Dovecot."""
    prefix = "".join(c for c in request.node.name if c.isalnum())[:20] or "user"
    user = dovecot.new_user(prefix)
    return Mailbox(dovecot, user, dovecot.password(user))


# -- pixelguard imap helpers -------------------------------------------------------------------
ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "fixtures"
PASSWORD_ENV = "PIXELGUARD_TEST_IMAP_PASSWORD"


@pytest.fixture(scope="session")
def dovecot_with():
    """Factory: a Dovecot with other settings (one per set, cached for the session).

    e.g. dovecot_with("IMAP4rev1 SASL-IR LITERAL+ IDLE UIDPLUS") is a server without MOVE;
    dovecot_with(separator=".", prefix="INBOX.") has a Courier/Cyrus-like namespace.
    """
    _require_dovecot()
    servers: dict[str, Dovecot] = {}

    def make(capabilities: str | None = None, **kw) -> Dovecot:
        key = repr((capabilities, sorted(kw.items())))
        if key not in servers:
            servers[key] = Dovecot(capabilities=capabilities, **kw).start()
        return servers[key]

    try:
        yield make
    finally:
        for server in servers.values():
            server.stop()


@pytest.fixture(scope="session")
def tls_dovecot():
    """A Dovecot with a self-signed certificate: implicit TLS on `imaps_port`, STARTTLS on
    `imap_port`; trust it with `ca_file`."""
    yield from running_dovecot(tls=True)


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


@pytest.fixture
def imap_config(tmp_path):
    """Callable: write a config file with the given imap.accounts entries; returns its path."""
    import yaml

    def write(*accounts: dict, name: str = "pixelguard.yaml") -> str:
        path = tmp_path / name
        path.write_text(yaml.safe_dump({"imap": {"accounts": list(accounts)}}))
        return str(path)

    return write


def imap_env(password: str, env: dict | None = None) -> dict:
    """The environment of a `pixelguard imap` subprocess: ours without a crash hook, the
    account password in PASSWORD_ENV, then `env`."""
    full_env = {k: v for k, v in os.environ.items() if k != "PIXELGUARD_TEST_CRASH_AT"}
    full_env.update({PASSWORD_ENV: password, **(env or {})})
    return full_env


def run_imap(
    config: str, *args: str, password: str = "secret", env: dict | None = None, timeout: float = 120
):
    """`python -m pixelguard imap --config CONFIG ARGS...` as a subprocess; CompletedProcess."""
    import subprocess

    return subprocess.run(
        [sys.executable, "-m", "pixelguard", "imap", "--config", config, *args],
        capture_output=True,
        text=True,
        env=imap_env(password, env),
        timeout=timeout,
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
