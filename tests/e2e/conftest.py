"""Fixtures for end-to-end tests against a real, throwaway Dovecot.

- `dovecot` (session): one running instance; attributes `host`, `imap_port`, `lmtp_port`,
  `lmtp_socket`, `root`; methods `add_user(user, password, quota=None)`, `new_user()`,
  `client(user)` (a logged-in IMAPClient).
- `mailbox` (function): a fresh user with an empty mailbox, so tests never share state;
  `mailbox.user`, `mailbox.password`, `mailbox.client()`.
- `dovecot_with` (session): a factory of Dovecots with other capabilities or namespaces.
- `tls_dovecot` (session): a Dovecot with a self-signed certificate.
- `imap_config` (function): writes a config file with imap.accounts entries.

The helpers that are not fixtures (Mailbox, imap_account, run_imap, snapshot, …) are in
imap_support.py. When the dovecot binary is missing the tests are skipped with a loud reason,
except under CI=true, where a missing server is a failure (CI must run them).
"""

from __future__ import annotations

import pytest
from dovecot import Dovecot
from imap_support import Mailbox, require_dovecot, running_dovecot


@pytest.fixture(scope="session")
def dovecot():
    yield from running_dovecot()


@pytest.fixture
def mailbox(dovecot, request) -> Mailbox:
    """A fresh user with an empty mailbox on the session Dovecot."""
    prefix = "".join(c for c in request.node.name if c.isalnum())[:20] or "user"
    user = dovecot.new_user(prefix)
    return Mailbox(dovecot, user, dovecot.password(user))


@pytest.fixture(scope="session")
def dovecot_with():
    """Factory: a Dovecot with other settings (one per set, cached for the session).

    e.g. dovecot_with("IMAP4rev1 SASL-IR LITERAL+ IDLE UIDPLUS") is a server without MOVE;
    dovecot_with(separator=".", prefix="INBOX.") has a Courier/Cyrus-like namespace.
    """
    require_dovecot()
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


@pytest.fixture
def imap_config(tmp_path):
    """Callable: write a config file with the given imap.accounts entries; returns its path."""
    import yaml

    def write(*accounts: dict, name: str = "pixelguard.yaml") -> str:
        path = tmp_path / name
        path.write_text(yaml.safe_dump({"imap": {"accounts": list(accounts)}}))
        return str(path)

    return write
