"""The pipe-filter commands, run as a user would run them: the command line in this process
(tests/cli_run.py), and a real subprocess where the process itself is the point (stdin to
stdout, Python's -W flags, a full or closed stdout)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
from cli_run import run_cli as run
from support import FIXTURES, fixture

CORPUS = Path(__file__).resolve().parent.parent.parent / "shared" / "corpus"


def run_process(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pixelguard", *args], input=stdin,
                          capture_output=True, timeout=120, check=False)


def test_clean_from_stdin_writes_the_cleaned_message() -> None:
    raw = fixture("size-attr-1x1.eml")
    proc = run_process("clean", "-", stdin=raw)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(b"X-PixelGuard: removed=1;")
    assert b"media.mailer.example/p/a.gif" not in proc.stdout


def test_clean_action_rewrite_and_verbose_report() -> None:
    proc = run("clean", "--action", "rewrite", "-v", str(FIXTURES / "size-attr-1x1.eml"))
    assert proc.returncode == 0
    assert b'src="data:image/gif;base64,' in proc.stdout
    assert b"size" in proc.stderr and b"media.mailer.example/p/a.gif" in proc.stderr


def test_clean_passes_an_unparseable_message_through_with_a_warning() -> None:
    raw = fixture("bad-not-a-message.eml")
    proc = run("clean", stdin=raw)
    assert proc.returncode == 0
    assert proc.stdout == raw
    assert b"warning" in proc.stderr and b"Traceback" not in proc.stderr


def test_clean_missing_file_is_a_clear_error() -> None:
    proc = run("clean", "/nonexistent/mail.eml")
    assert proc.returncode == 2
    assert b"cannot read /nonexistent/mail.eml" in proc.stderr and b"Traceback" not in proc.stderr


def test_scan_json_shape() -> None:
    proc = run("scan", "--json", str(FIXTURES / "leak-sha256.eml"), str(FIXTURES / "negative-content.eml"))
    assert proc.returncode == 0, proc.stderr
    first, second = [json.loads(line) for line in proc.stdout.decode().splitlines()]
    assert first["file"].endswith("leak-sha256.eml")
    (tracker,) = first["trackers"]
    assert set(tracker) == {"url", "rule", "vendor", "where", "part", "reason"}
    assert tracker["rule"] == "recipient-leak"
    assert second["trackers"] == []


def test_scan_uses_the_user_option_for_leaks() -> None:
    # the leak is of bob's address: as carol, the image is a plain content image
    proc = run("scan", "--json", "--user", "carol@example.org", str(FIXTURES / "leak-plain.eml"))
    assert json.loads(proc.stdout)["trackers"] == []


def test_bad_config_names_file_line_and_key(tmp_path: Path) -> None:
    cfg = tmp_path / "pg.yaml"
    cfg.write_text("defaults:\n  action: strip\n  notice: maybe\n")
    proc = run("clean", "--config", str(cfg), str(FIXTURES / "size-attr-1x1.eml"))
    assert proc.returncode == 2
    err = proc.stderr.decode()
    assert f"{cfg}:3" in err and "notice" in err and "Traceback" not in err


def test_check_config_prints_each_users_policy(tmp_path: Path) -> None:
    cfg = tmp_path / "pg.yaml"
    cfg.write_text("users:\n  bob@example.org:\n    deny: {hosts: [creepy.example]}\n")
    proc = run("check-config", str(cfg))
    assert proc.returncode == 0, proc.stderr
    assert b"bob@example.org" in proc.stdout and b"creepy.example" in proc.stdout


def test_deny_and_allow_hosts_from_config(tmp_path: Path) -> None:
    cfg = tmp_path / "pg.yaml"
    cfg.write_text(
        "users:\n  bob@example.org:\n    deny: {hosts: [cdn.shop.example]}\n"
        "    allow: {hosts: [mailer.example]}\n"
    )
    proc = run("scan", "--json", "--config", str(cfg), str(FIXTURES / "size-attr-1x1.eml"))
    trackers = json.loads(proc.stdout)["trackers"]
    assert [(t["rule"], t["url"]) for t in trackers] == [("deny-list", "https://cdn.shop.example/hero.jpg")]


@pytest.mark.e2e  # the whole shared corpus through `pixelguard scan`
def test_scan_over_the_shared_corpus_has_no_traceback() -> None:
    files = sorted(str(p) for p in CORPUS.rglob("*") if p.suffix in (".eml", ".html") or p.parent.name.startswith(("easy-ham", "hard-ham")))
    files = [f for f in files if Path(f).is_file()]
    if not files:
        pytest.skip(f"shared corpus not found at {CORPUS}")
    proc = run_process("scan", "--json", *files)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert b"Traceback" not in proc.stderr
    lines = proc.stdout.decode().splitlines()
    assert len(lines) == len(files)
    assert all("error" not in json.loads(line) or json.loads(line)["error"] for line in lines)


def test_clean_drops_a_forged_result_of_our_own_authserv_id(tmp_path: Path) -> None:
    # An allowed sender whose "pass" claims to come from pixelguard itself: forged, so the
    # mail is cleaned, and the forged header is replaced by pixelguard's own verdict.
    cfg = tmp_path / "pg.yaml"
    cfg.write_text("defaults:\n  allow: {senders: [shop.example]}\n"
                   "auth:\n  authserv_id: pg.example.org\n  trusted_authserv_ids: [mx.example.org]\n")
    raw = fixture("allow-sender-dkim-pass.eml").replace(b"mx.example.org;", b"pg.example.org;")
    proc = run("clean", "--config", str(cfg), stdin=raw)
    assert proc.returncode == 0, proc.stderr
    head = proc.stdout.split(b"\n\n", 1)[0]
    assert head.startswith(b"X-PixelGuard: removed=1;")
    assert b"pg.example.org; dkim=pass" not in head
    assert b"Authentication-Results: pg.example.org" in head


def test_clean_to_a_full_disk_is_one_line_and_a_temporary_failure() -> None:
    with open("/dev/full", "wb") as full:
        proc = subprocess.run([sys.executable, "-m", "pixelguard", "clean", str(FIXTURES / "size-attr-1x1.eml")],
                              stdout=full, stderr=subprocess.PIPE, timeout=60, check=False)
    assert proc.returncode == 75
    assert b"cannot write the message" in proc.stderr and b"Traceback" not in proc.stderr


# Config warnings (an opted-in literal password): one "pixelguard: warning: FILE:LINE: key: what"
# line each on stderr, whatever command loads the config; never Python's
# "path/cli.py:28: ConfigWarning: ..." with the source line after it. Exit codes unchanged.

LITERAL_ACCOUNTS = "".join(
    f"    - name: {name}\n      host: imap.example.org\n      username: u\n"
    f"      password: {secret}\n      allow_literal_password: true\n"
    for name, secret in (("a", "x"), ("b", "Hunter2-Cli-Sentinel"))
)


def _literal_config(tmp_path: Path) -> Path:
    cfg = tmp_path / "pg.yaml"
    cfg.write_text("imap:\n  accounts:\n" + LITERAL_ACCOUNTS)
    cfg.chmod(0o600)
    return cfg


def _warning_lines(cfg: Path, prefix: str = "pixelguard: warning: ") -> list[str]:
    return [
        f"{prefix}{cfg}:{line}: imap.accounts[{i}].password: a literal password in the config "
        "file (allow_literal_password: true); prefer password_command or password_env "
        "(and keep this file private)"
        for i, line in ((0, 6), (1, 11))
    ]


def _assert_clean_stderr(proc) -> str:
    err = proc.stderr.decode()
    assert "ConfigWarning" not in err and ".py:" not in err and "warnings.warn" not in err
    assert "Traceback" not in err and "Hunter2" not in err + proc.stdout.decode(errors="replace")
    return err


@pytest.mark.parametrize(
    "command",
    [
        ["check-config", "{cfg}"],
        ["scan", "--config", "{cfg}", str(FIXTURES / "size-attr-1x1.eml")],
        ["clean", "--config", "{cfg}", str(FIXTURES / "size-attr-1x1.eml")],
    ],
    ids=["check-config", "scan", "clean"],
)
def test_config_warnings_are_one_plain_line_each(tmp_path: Path, command: list[str]) -> None:
    cfg = _literal_config(tmp_path)
    proc = run(*(arg.format(cfg=cfg) for arg in command))
    assert proc.returncode == 0, proc.stderr
    assert _assert_clean_stderr(proc).splitlines() == _warning_lines(cfg)
    assert proc.stdout  # the command's own output is still there


def test_config_warnings_stay_one_line_under_python_warning_filters(tmp_path: Path) -> None:
    # -W error must not turn the warning into a traceback, -W ignore must not hide it.
    # `-W error` in a real process (it applies from the first import on); the filters the
    # other flags install, in this one.
    cfg = _literal_config(tmp_path)
    proc = subprocess.run([sys.executable, "-W", "error", "-m", "pixelguard", "check-config", str(cfg)],
                          capture_output=True, check=False, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert _assert_clean_stderr(proc).splitlines() == _warning_lines(cfg)
    for flag in ("error", "ignore", "default"):
        with warnings.catch_warnings():
            warnings.simplefilter(flag)
            proc = run("check-config", str(cfg))
        assert proc.returncode == 0, (flag, proc.stderr)
        assert _assert_clean_stderr(proc).splitlines() == _warning_lines(cfg), flag


def test_config_warnings_from_relay_report_and_imap_are_one_line_each(tmp_path: Path) -> None:
    # each stops at a usage error after loading the config: the warnings come first, then
    # the command's own error, with its usual exit code
    cfg = _literal_config(tmp_path)

    relay = run("relay", "--config", str(cfg), "--listen", "no-port-here")
    assert relay.returncode == 2
    err = _assert_clean_stderr(relay).splitlines()
    assert err[:2] == _warning_lines(cfg) and "--listen" in err[-1]

    report = run("report", "--imap", "nosuch", "--config", str(cfg))
    assert report.returncode == 2
    assert _assert_clean_stderr(report).splitlines() == _warning_lines(cfg) + [
        "pixelguard report: no IMAP account named 'nosuch' in the config (accounts: a, b)"
    ]

    imap = run("imap", "--config", str(cfg), "--account", "nosuch", "--once")
    assert imap.returncode == 2
    assert _assert_clean_stderr(imap).splitlines() == _warning_lines(cfg, "pixelguard imap: warning: ") + [
        f"pixelguard imap: no account named 'nosuch' in {cfg} (known: a, b)"
    ]


@pytest.mark.parametrize(("command", "code"), [(["scan"], 1), (["clean"], 75)])
def test_a_closed_stdout_is_a_quiet_exit_not_a_traceback(command: list[str], code: int) -> None:
    """`pixelguard scan DIR | head -1`: the reader is gone before we write. The read end of
    the pipe is closed before the process starts, so every write fails with EPIPE. `clean`
    could not hand the message on, so it says so and asks to retry (75, EX_TEMPFAIL)."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "pixelguard", *command, str(FIXTURES / "demo-newsletter.eml")],
            stdout=write_end, stderr=subprocess.PIPE, timeout=60, check=False,
        )
    finally:
        os.close(write_end)
    assert b"Traceback" not in proc.stderr, proc.stderr.decode()
    assert b"BrokenPipe" not in proc.stderr
    assert proc.returncode == code
    assert len(proc.stderr.splitlines()) <= 1
