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


@pytest.fixture(scope="session")
def dovecot():
    _require_dovecot()
    server = Dovecot().start()
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


@pytest.fixture
def mailbox(dovecot, request) -> Mailbox:
    """A fresh user with an empty mailbox on the session Dovecot."""
    prefix = "".join(c for c in request.node.name if c.isalnum())[:20] or "user"
    user = dovecot.new_user(prefix)
    return Mailbox(dovecot, user, dovecot.password(user))
