"""TLS and STARTTLS to the IMAP server: verified against a CA file, refused when untrusted."""

from __future__ import annotations

import pytest
from imap_support import Mailbox, imap_account, run_imap, snapshot
from test_imap_backlog import TRACKER_URL, seed

EXIT_AUTH = 3


@pytest.fixture
def tls_mailbox(tls_dovecot) -> Mailbox:
    user = tls_dovecot.new_user("tls")
    return Mailbox(tls_dovecot, user, tls_dovecot.password(user))


@pytest.mark.parametrize("security", ["tls", "starttls"])
def test_cleans_over_verified_tls(tls_mailbox, imap_config, security):
    server = tls_mailbox.server
    c = tls_mailbox.client()
    seed(c)
    port = server.imaps_port if security == "tls" else server.imap_port
    config = imap_config(
        imap_account(tls_mailbox, security=security, port=port, ca_file=server.ca_file)
    )

    run = run_imap(config, "--once")

    assert run.returncode == 0, run.stderr
    assert "2 cleaned" in run.stdout
    assert all(TRACKER_URL not in m["raw"] for m in snapshot(c).values())
    c.logout()


@pytest.mark.parametrize("security", ["tls", "starttls"])
def test_untrusted_certificate_is_refused_in_one_line(tls_mailbox, imap_config, security):
    server = tls_mailbox.server
    c = tls_mailbox.client()
    seed(c)
    before = snapshot(c)
    port = server.imaps_port if security == "tls" else server.imap_port
    config = imap_config(imap_account(tls_mailbox, security=security, port=port))  # no ca_file

    run = run_imap(config, "--once")

    assert run.returncode == EXIT_AUTH
    lines = [x for x in run.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and "certificate" in lines[0], run.stderr
    assert snapshot(c).keys() == before.keys()
    c.logout()


def test_verify_tls_false_connects_to_an_untrusted_server(tls_mailbox, imap_config):
    server = tls_mailbox.server
    config = imap_config(
        imap_account(tls_mailbox, security="tls", port=server.imaps_port, verify_tls=False)
    )

    run = run_imap(config, "--once")

    assert run.returncode == 0, run.stderr


def test_starttls_required_but_not_offered_is_refused_before_login(mailbox, imap_config):
    # The plain session Dovecot has ssl = no: no STARTTLS in its capabilities.
    config = imap_config(imap_account(mailbox, security="starttls"))

    run = run_imap(config, "--once")

    assert run.returncode == EXIT_AUTH
    lines = [x for x in run.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and "does not offer STARTTLS" in lines[0], run.stderr
