"""Failures a cron job must see: one clear line on stderr, a meaningful exit code, no secrets."""

from __future__ import annotations

import pytest
from dovecot import listen_port
from imap_support import Mailbox, imap_account, run_imap, snapshot
from test_imap_backlog import TRACKER_URL, seed

EXIT_PARTIAL, EXIT_USAGE, EXIT_AUTH, EXIT_TEMPFAIL = 1, 2, 3, 75


def stderr_lines(run) -> list[str]:
    return [line for line in run.stderr.splitlines() if line.strip()]


def test_wrong_password_is_one_line_exit_3_and_never_shows_the_password(mailbox, imap_config):
    wrong = "Wr0ng-Passw0rd-Sentinel"
    config = imap_config(imap_account(mailbox))

    run = run_imap(config, "--once", "--verbose", password=wrong)

    assert run.returncode == EXIT_AUTH
    lines = stderr_lines(run)
    # --verbose first says which config file applies, then the one error line
    assert lines[0] == f"pixelguard imap: config: {config}", run.stderr
    lines = lines[1:]
    assert len(lines) == 1, run.stderr
    assert "login failed" in lines[0] and mailbox.user in lines[0] and "'test'" in lines[0]
    assert wrong not in run.stderr + run.stdout


def test_unreachable_server_is_one_line_and_exit_75(mailbox, imap_config):
    config = imap_config(imap_account(mailbox, port=listen_port()))  # nothing listens there

    run = run_imap(config, "--once")

    assert run.returncode == EXIT_TEMPFAIL
    lines = stderr_lines(run)
    assert len(lines) == 1, run.stderr
    assert "cannot connect" in lines[0] and "127.0.0.1" in lines[0]


def test_failing_password_command_is_reported_without_its_output(mailbox, imap_config):
    account = imap_account(mailbox, password_command="echo Leaked-Sentinel; exit 7")
    del account["password_env"]
    config = imap_config(account)

    run = run_imap(config, "--once")

    assert run.returncode == EXIT_AUTH
    lines = stderr_lines(run)
    assert len(lines) == 1 and "exit status 7" in lines[0], run.stderr
    assert "Leaked-Sentinel" not in run.stderr + run.stdout


def test_password_command_output_is_used(mailbox, imap_config):
    account = imap_account(mailbox, password_command=f"printf '%s\\n' {mailbox.password}")
    del account["password_env"]

    run = run_imap(imap_config(account), "--once", password="not-this-one")

    assert run.returncode == 0, run.stderr


def test_one_failing_account_does_not_stop_the_others(mailbox, imap_config):
    c = mailbox.client()
    seed(c)
    config = imap_config(
        imap_account(mailbox, name="down", port=listen_port()),
        imap_account(mailbox, name="up"),
    )

    run = run_imap(config, "--once")

    assert run.returncode == EXIT_TEMPFAIL
    assert "2 cleaned" in run.stdout, run.stdout
    assert all(TRACKER_URL not in m["raw"] for m in snapshot(c).values())
    c.logout()


def test_unknown_account_is_a_usage_error(mailbox, imap_config):
    run = run_imap(imap_config(imap_account(mailbox)), "--once", "--account", "nope")

    assert run.returncode == EXIT_USAGE
    assert "nope" in run.stderr and "test" in run.stderr


@pytest.mark.parametrize(
    "args",
    [["--every", "soon"], ["--shard", "3/2"], ["--once", "--idle"], ["--jobs", "0"]],
    ids=["bad-duration", "bad-shard", "two-modes", "no-jobs"],
)
def test_bad_arguments_are_usage_errors(mailbox, imap_config, args):
    run = run_imap(imap_config(imap_account(mailbox)), *args)

    assert run.returncode == EXIT_USAGE
    assert "usage:" in run.stderr


def test_server_without_uidplus_or_move_is_refused_and_untouched(dovecot_with, imap_config):
    server = dovecot_with("IMAP4rev1 SASL-IR LITERAL+ IDLE NAMESPACE")
    user = server.new_user("bare")
    mailbox = Mailbox(server, user, server.password(user))
    c = mailbox.client()
    seed(c)
    before = snapshot(c)

    run = run_imap(imap_config(imap_account(mailbox)), "--once")

    assert run.returncode == EXIT_PARTIAL
    lines = stderr_lines(run)
    assert any("lacks UIDPLUS and MOVE" in line for line in lines), run.stderr
    after = snapshot(c)
    assert after.keys() == before.keys()
    assert all(after[uid]["raw"] == before[uid]["raw"] for uid in before)
    c.logout()


def _shard_members(config: str, shard: str) -> set[str]:
    run = run_imap(config, "--once", "--dry-run", "--shard", shard)
    assert run.returncode == 0, run.stderr
    (line,) = [x for x in run.stderr.splitlines() if f"shard {shard}:" in x]
    members = line.split(": ", 3)[-1]
    return set() if members == "none" else set(members.split(", "))


def test_shards_split_accounts_stably_without_overlap(mailbox, imap_config):
    names = {f"acct{i}" for i in range(8)}
    config = imap_config(*(imap_account(mailbox, name=n) for n in sorted(names)))

    shards = [_shard_members(config, s) for s in ("1/3", "2/3", "3/3")]

    assert set().union(*shards) == names
    assert sum(len(s) for s in shards) == len(names)  # no account in two shards
    assert _shard_members(config, "2/3") == shards[1]  # stable from run to run


def test_full_quota_keeps_every_original_and_exits_1(dovecot, imap_config):
    user = dovecot.new_user("full", quota="2K")  # the backlog fits; the cleaned copies do not
    mailbox = Mailbox(dovecot, user, dovecot.password(user))
    c = mailbox.client()
    seed(c)
    before = snapshot(c)

    run = run_imap(imap_config(imap_account(mailbox, originals="delete")), "--once")

    assert run.returncode == EXIT_PARTIAL, run.stderr
    assert "cannot append the cleaned copy (original kept)" in run.stderr
    assert "Quota" in run.stderr or "quota" in run.stderr
    after = snapshot(c)
    assert after.keys() == before.keys()
    assert all(after[uid]["raw"] == before[uid]["raw"] for uid in before)  # nothing replaced
    c.logout()


def test_jobs_clean_several_accounts_at_once(dovecot, imap_config):
    boxes = []
    for i in range(3):
        user = dovecot.new_user(f"jobs{i}")
        box = Mailbox(dovecot, user, dovecot.password(user))
        c = box.client()
        seed(c)
        boxes.append((box, c))
    config = imap_config(*(imap_account(box, name=f"a{i}") for i, (box, _) in enumerate(boxes)))

    run = run_imap(config, "--once", "--jobs", "3")

    assert run.returncode == 0, run.stderr
    assert "3 accounts: 12 scanned, 6 cleaned" in run.stdout, run.stdout
    for box, c in boxes:
        assert all(TRACKER_URL not in m["raw"] for m in snapshot(c).values())
        c.logout()


def test_config_errors_exit_2_with_file_and_key(mailbox, imap_config):
    config = imap_config(
        imap_account(mailbox, host="imap.example.org")
    )  # security none, not loopback

    run = run_imap(config, "--once")

    assert run.returncode == EXIT_USAGE
    assert config in run.stderr and "security" in run.stderr and "loopback" in run.stderr
    assert run.stdout == ""


def test_config_without_accounts_is_a_usage_error(tmp_path):
    config = tmp_path / "empty.yaml"
    config.write_text("defaults: {action: strip}\n")

    run = run_imap(str(config), "--once")

    assert run.returncode == EXIT_USAGE
    assert "no imap.accounts" in run.stderr
