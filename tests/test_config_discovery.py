"""Every command reads ~/.config/pixelguard.yaml ($XDG_CONFIG_HOME/pixelguard.yaml) when no
--config is given, and says which file applies. HOME in a tmp dir; each command runs in this
process with that environment (tests/cli_run.py), the relay as a real server process."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cli_run import run_cli
from support import FIXTURES

SIZE_FIXTURE = str(FIXTURES / "size-attr-1x1.eml")
DENY = "defaults:\n  deny: {hosts: [cdn.shop.example]}\n"  # a content image in that fixture


def _env(home: Path, xdg: str | None = None) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("XDG_CONFIG_HOME", "XDG_DATA_HOME")}
    env["HOME"] = str(home)
    if xdg is not None:
        env["XDG_CONFIG_HOME"] = xdg
    return env


def run(env: dict, *args: str):
    return run_cli(*args, env=env, text=True)


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


def test_clean_reads_the_default_file_and_says_so(home: Path) -> None:
    cfg = _write(home / ".config" / "pixelguard.yaml", DENY)
    proc = run(_env(home), "clean", "-v", SIZE_FIXTURE)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.splitlines()[0] == f"pixelguard: config: {cfg}"
    assert "deny-list" in proc.stderr and "cdn.shop.example/hero.jpg" not in proc.stdout


def test_without_a_file_the_built_in_defaults_apply_and_v_says_so(home: Path) -> None:
    proc = run(_env(home), "clean", "-v", SIZE_FIXTURE)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.splitlines()[0] == (
        f"pixelguard: config: none (built-in defaults; no {home}/.config/pixelguard.yaml)")
    assert "deny-list" not in proc.stderr


def test_xdg_config_home_is_honoured_and_a_relative_one_ignored(home: Path, tmp_path: Path) -> None:
    xdg = tmp_path / "xdg"
    cfg = _write(xdg / "pixelguard.yaml", DENY)
    proc = run(_env(home, str(xdg)), "scan", "-v", "--json", SIZE_FIXTURE)
    assert proc.returncode == 0, proc.stderr
    assert f"config: {cfg}" in proc.stderr and '"deny-list"' in proc.stdout
    # a relative XDG_CONFIG_HOME is invalid (XDG spec): ~/.config is used instead
    home_cfg = _write(home / ".config" / "pixelguard.yaml", "defaults: {action: rewrite}\n")
    proc = run(_env(home, "xdg"), "check-config")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0] == f"config: {home_cfg}"
    assert "action: rewrite" in proc.stdout


def test_config_option_wins_over_the_default_file(home: Path, tmp_path: Path) -> None:
    _write(home / ".config" / "pixelguard.yaml", DENY)
    other = _write(tmp_path / "other.yaml", "defaults: {action: strip}\n")
    proc = run(_env(home), "scan", "-v", "--json", "--config", str(other), SIZE_FIXTURE)
    assert proc.returncode == 0, proc.stderr
    assert f"config: {other}" in proc.stderr and "deny-list" not in proc.stdout


def test_an_error_in_the_default_file_names_it(home: Path) -> None:
    cfg = _write(home / ".config" / "pixelguard.yaml", "defaults:\n  notice: maybe\n")
    proc = run(_env(home), "clean", SIZE_FIXTURE)
    assert proc.returncode == 2
    assert f"{cfg}:2" in proc.stderr and "notice" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_the_directory_form_is_not_read_and_a_warning_says_where_to_put_it(home: Path) -> None:
    other = _write(home / ".config" / "pixelguard" / "config.yaml", DENY)
    proc = run(_env(home), "scan", "--json", SIZE_FIXTURE)
    assert proc.returncode == 0, proc.stderr
    assert "deny-list" not in proc.stdout
    expected = (f"pixelguard: warning: {other} is not read; pixelguard reads "
                f"{home}/.config/pixelguard.yaml (or the file given with --config)")
    assert proc.stderr.splitlines() == [expected]


def test_imap_and_report_read_the_default_file(home: Path) -> None:
    env = _env(home)
    proc = run(env, "imap", "--once")
    assert proc.returncode == 2
    assert f"create {home}/.config/pixelguard.yaml" in proc.stderr

    cfg = _write(home / ".config" / "pixelguard.yaml", DENY)
    proc = run(env, "imap", "--once")
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"pixelguard imap: {cfg}: no imap.accounts configured"

    _write(cfg, "imap:\n  accounts:\n    - {name: mine, host: 127.0.0.1, security: none,"
                " username: u, password_env: PG_UNSET_FOR_TEST}\n")
    proc = run(env, "report", "--imap", "nosuch")
    assert proc.returncode == 2
    assert "no IMAP account named 'nosuch' in the config (accounts: mine)" in proc.stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.e2e  # starts the relay server
def test_relay_reads_the_default_file_and_logs_it(home: Path, tmp_path: Path) -> None:
    port = _free_port()
    box = tmp_path / "box"
    cfg = _write(home / ".config" / "pixelguard.yaml",
                 f'relay: {{listen: "127.0.0.1:{port}", next_hop: "maildir:{box}", workers: 0}}\n')
    proc = subprocess.Popen([sys.executable, "-m", "pixelguard", "relay"], env=_env(home),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while proc.poll() is None and time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
                    if s.recv(100).startswith(b"220"):
                        break
            except OSError:
                time.sleep(0.05)  # polling interval while the relay starts
    finally:
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert f"listening on 127.0.0.1:{port}" in err
    assert f"next hop maildir:{box}" in err and f"config {cfg}" in err


def test_allow_and_restore_read_the_default_file(home: Path) -> None:
    env = _env(home)
    for command in (["allow", "pixel.example"], ["restore", "--uid", "1"]):
        proc = run(env, *command)
        assert proc.returncode == 2, command
        assert f"create {home}/.config/pixelguard.yaml" in proc.stderr, proc.stderr
    cfg = _write(home / ".config" / "pixelguard.yaml", "defaults:\n  action: strip\n")
    proc = run(env, "allow", "images.bank.example")
    assert proc.returncode == 0, proc.stderr
    assert "images.bank.example" in cfg.read_text()
    proc = run(env, "restore", "--uid", "1")
    assert proc.returncode == 2
    assert f"{cfg}: no imap.accounts configured" in proc.stderr, proc.stderr


@pytest.mark.parametrize("args", [["imap", "--once"], ["restore", "--uid", "1"],
                                  ["allow", "cdn.shop.example"]])
def test_commands_that_need_a_file_say_where_it_goes(home: Path, args: list[str]) -> None:
    proc = run(_env(home), *args)
    assert proc.returncode == 2, proc.stderr
    assert f"create {home / '.config' / 'pixelguard.yaml'}" in proc.stderr
    assert "Traceback" not in proc.stderr
