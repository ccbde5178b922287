"""`pixelguard check-config`: the relay and IMAP sections, and every password source tried
without its secret ever being printed. The command line as an admin runs it, in this process
with the environment given (tests/cli_run.py); the password commands are real processes."""
from __future__ import annotations

import os
from pathlib import Path

from cli_run import run_cli

SECRET = "Sentinel-Secret-7f3a"  # must never appear in any output

CONFIG = f"""\
relay:
  listen: "127.0.0.1:10025"
  next_hop: "lmtp:/run/dovecot/lmtp"
  allow_networks: [192.0.2.0/24]
  auth_users:
    client-a: {{password_env: PG_TEST_RELAY}}
  next_hop_auth: {{username: relay, password_command: "printf '%s\\\\n' {SECRET}"}}
imap:
  accounts:
    - name: personal
      host: imap.example.org
      username: alice@example.org
      password_env: PG_TEST_IMAP
      folders: [INBOX, Newsletters]
    - name: work
      host: 127.0.0.1
      security: none
      username: bob@example.org
      password_command: "exit 3"
      originals: delete
    - name: legacy
      host: imap.example.org
      username: carol@example.org
      password: {SECRET}
      allow_literal_password: true
"""


def check(tmp_path: Path, text: str, **env: str):
    cfg = tmp_path / "pg.yaml"
    cfg.write_text(text)
    cfg.chmod(0o600)
    full = {k: v for k, v in os.environ.items() if not k.startswith("PG_TEST_")}
    full.update(env, HOME=str(tmp_path))
    return run_cli("check-config", str(cfg), env=full, text=True)


def test_relay_and_imap_sections_are_shown(tmp_path: Path) -> None:
    proc = check(tmp_path, CONFIG, PG_TEST_RELAY=SECRET, PG_TEST_IMAP=SECRET)
    out = proc.stdout
    assert "listen: 127.0.0.1:10025 (smtp), clients: loopback and 192.0.2.0/24" in out
    assert "next hop: lmtp:/run/dovecot/lmtp" in out
    assert "imap (pixelguard imap): 3 accounts" in out
    assert "  personal: alice@example.org at imap.example.org:993 (tls)" in out
    assert "    folders: INBOX, Newsletters; originals kept in pixelguard/originals; " \
           "policy of alice@example.org" in out
    assert "  work: bob@example.org at 127.0.0.1:143 (none)" in out
    assert "originals deleted" in out


def test_each_password_source_is_tried_and_no_secret_is_printed(tmp_path: Path) -> None:
    proc = check(tmp_path, CONFIG, PG_TEST_RELAY=SECRET, PG_TEST_IMAP=SECRET)
    assert SECRET not in proc.stdout + proc.stderr
    out = proc.stdout
    assert "relay.auth_users.client-a: password_env PG_TEST_RELAY: ok" in out
    assert "relay.next_hop_auth (relay): password_command: ok" in out
    assert "password: password_env PG_TEST_IMAP: ok" in out
    assert "password: password_command: FAILED: password_command failed with exit status 3" in out
    assert "password: literal password in the file (allow_literal_password): ok" in out
    assert out.rstrip().splitlines()[-1].startswith("1 check failed: imap account work")
    assert proc.returncode == 1


def test_unset_and_empty_variables_fail(tmp_path: Path) -> None:
    proc = check(tmp_path, CONFIG, PG_TEST_IMAP="")
    out = proc.stdout
    assert proc.returncode == 1
    assert ("relay.auth_users.client-a: password_env PG_TEST_RELAY: FAILED: environment "
            "variable PG_TEST_RELAY (password_env) is not set or empty") in out
    assert ("password: password_env PG_TEST_IMAP: FAILED: environment variable PG_TEST_IMAP "
            "(password_env) is not set or empty") in out
    assert "3 checks failed: relay.auth_users.client-a, imap account personal, " \
           "imap account work" in out
    assert SECRET not in out + proc.stderr


def test_a_config_without_secrets_is_ok(tmp_path: Path) -> None:
    proc = check(tmp_path, "relay: {next_hop: 'smtp://127.0.0.1:10026'}\n")
    assert proc.returncode == 0, proc.stderr
    assert "passwords: none used" in proc.stdout
    assert "imap (pixelguard imap): no accounts" in proc.stdout
    assert proc.stdout.rstrip().endswith("config OK")


def test_a_relay_that_would_refuse_to_start_fails_the_check(tmp_path: Path) -> None:
    # not loopback and no allow_networks: an open relay, which `pixelguard relay` refuses
    proc = check(tmp_path, "relay: {listen: '0.0.0.0:10025'}\n")
    assert proc.returncode == 1
    assert "  FAILED: the relay would not start: refusing to listen on 0.0.0.0:10025" in proc.stdout
    assert proc.stdout.rstrip().splitlines()[-1].startswith("1 check failed: relay")


def test_an_unreadable_ca_file_fails_the_check(tmp_path: Path) -> None:
    bad = tmp_path / "ca.pem"
    bad.write_text("not a certificate\n")
    account = ("imap:\n  accounts:\n    - {name: a, host: imap.example.org, username: u,"
               f" password_env: PG_TEST_IMAP, ca_file: {bad}}}\n")
    proc = check(tmp_path, account, PG_TEST_IMAP=SECRET)
    assert proc.returncode == 1
    assert f"    ca_file: {bad}: FAILED: " in proc.stdout
    assert proc.stdout.rstrip().splitlines()[-1].startswith("1 check failed: imap account a")
