"""What a person sees: a progress bar on a terminal, plain log lines otherwise, warnings."""

from __future__ import annotations

import fcntl
import os
import pty
import struct
import subprocess
import sys
import termios

from imap_support import PASSWORD_ENV, ROOT, Mailbox, imap_account, run_imap
from test_imap_backlog import seed


def test_progress_bar_on_a_terminal(mailbox, imap_config):
    c = mailbox.client()
    seed(c)
    c.logout()
    config = imap_config(imap_account(mailbox))
    leader, follower = pty.openpty()
    fcntl.ioctl(
        follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0)
    )  # a 120x24 terminal
    env = {**os.environ, PASSWORD_ENV: mailbox.password}
    proc = subprocess.Popen(
        [sys.executable, "-m", "pixelguard", "imap", "--config", config, "--once"],
        stdout=subprocess.PIPE,
        stderr=follower,
        env=env,
        cwd=ROOT,
        text=True,
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(leader, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    out, _ = proc.communicate(timeout=60)
    os.close(leader)
    terminal = b"".join(chunks).decode("utf-8", "replace")

    assert proc.returncode == 0, terminal
    assert "test/INBOX" in terminal and "msg" in terminal and "\r" in terminal, (
        terminal
    )  # a redrawn bar
    assert "cleaned=" in terminal and "trackers=" in terminal, terminal
    assert "2 cleaned" in out


def test_plain_logs_when_not_a_terminal(mailbox, imap_config):
    c = mailbox.client()
    seed(c)
    c.logout()

    run = run_imap(imap_config(imap_account(mailbox)), "--once")

    assert run.returncode == 0, run.stderr
    assert "\r" not in run.stderr
    assert "test/INBOX: 4 messages to look at" in run.stderr
    assert "test/INBOX: 4 scanned, 2 cleaned, 2 trackers removed" in run.stderr
    assert run.stdout.startswith("pixelguard imap: 1 account: 4 scanned, 2 cleaned")


def _literal_account(dovecot, secret: str, **overrides) -> dict:

    user = dovecot.add_user(f"literal-{os.getpid()}-{len(overrides)}@example.org", secret)
    account = imap_account(Mailbox(dovecot, user, secret), password=secret, **overrides)
    del account["password_env"]
    return account


def test_literal_password_with_the_opt_in_logs_in_with_a_warning_that_does_not_show_it(
    dovecot, imap_config
):
    secret = "Lit3ral-Passw0rd-Sentinel"
    config = imap_config(_literal_account(dovecot, secret, allow_literal_password=True))

    os.chmod(config, 0o600)
    # PASSWORD_ENV holds a wrong password: only the literal one can log in
    run = run_imap(config, "--once", "--verbose", password="unused")
    assert run.returncode == 0, run.stderr
    assert "literal password" in run.stderr and "keep this file private" in run.stderr
    assert "chmod" not in run.stderr
    assert secret not in run.stderr + run.stdout

    os.chmod(config, 0o644)
    run = run_imap(config, "--once", "--verbose", password="unused")
    assert run.returncode == 0, run.stderr
    assert "readable by group and others (mode 0644): chmod 600" in run.stderr
    assert secret not in run.stderr + run.stdout


def test_literal_password_without_the_opt_in_is_refused_before_any_login(dovecot, imap_config):
    secret = "Lit3ral-Refused-Sentinel"
    config = imap_config(_literal_account(dovecot, secret))

    run = run_imap(config, "--once", "--verbose", password="unused")

    assert run.returncode == 2, run.stderr
    assert f"{config}:" in run.stderr and "imap.accounts[0].password:" in run.stderr
    assert "allow_literal_password: true" in run.stderr and "password_env" in run.stderr
    assert "Traceback" not in run.stderr and "login" not in run.stderr.lower()
    assert secret not in run.stderr + run.stdout
