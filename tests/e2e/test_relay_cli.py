"""`pixelguard relay` as a user runs it: a real process, real swaks, SIGTERM to stop."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from dovecot import listen_port
from relay_harness import greets, is_cleaned, swaks, tracker_message, wait_for

pytestmark = pytest.mark.e2e

PIXELGUARD = [sys.executable, "-m", "pixelguard"]


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the relay binds
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _start(args: list[str], home: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k != "XDG_DATA_HOME"}
    env["HOME"] = str(home)
    return subprocess.Popen(PIXELGUARD + ["relay", *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _stop(proc: subprocess.Popen) -> tuple[int, str]:
    proc.send_signal(signal.SIGTERM)
    _out, err = proc.communicate(timeout=30)
    return proc.returncode, err


def test_relay_without_config_listens_on_loopback_and_writes_cleaned_mail_to_a_maildir(tmp_path):
    if not _port_free(10025):
        pytest.skip("PORT 10025 IS BUSY on this machine: the no-config default cannot be tested here")
    proc = _start([], tmp_path)
    try:
        wait_for(lambda: greets(10025) or proc.poll() is not None, 60, "the relay to listen on 10025")
        assert proc.poll() is None, proc.stderr.read()
        done = swaks(10025, "--from", "news@shop.example", "--to", "alice@example.org",
                     data=tracker_message(), tmp=tmp_path)
        assert done.returncode == 0, done.stdout
    finally:
        code, err = _stop(proc)
    assert code == 0, err
    maildir = tmp_path / ".local/share/pixelguard/Maildir"
    assert f"next hop maildir:{maildir}" in err
    (stored,) = list((maildir / "new").iterdir())
    raw = stored.read_bytes()
    assert raw.startswith(b"Return-Path: <news@shop.example>\nDelivered-To: alice@example.org\n")
    assert is_cleaned(raw)
    assert "msg=message" in err and "outcome=delivered" in err and "stopped" in err


def test_relay_next_hop_and_listen_options(tmp_path):
    port = listen_port()
    box = tmp_path / "box"
    proc = _start(["--listen", f"127.0.0.1:{port}", "--next-hop", f"maildir:{box}"], tmp_path)
    try:
        wait_for(lambda: greets(port) or proc.poll() is not None, 60, "the relay to listen")
        done = swaks(port, "--from", "<>", "--to", "alice@example.org", data=tracker_message(), tmp=tmp_path)
        assert done.returncode == 0, done.stdout
    finally:
        code, err = _stop(proc)
    assert code == 0, err
    (stored,) = list((box / "new").iterdir())
    assert stored.read_bytes().startswith(b"Return-Path: <>\n")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--listen", "0.0.0.0:0"], "allow_networks"),
        (["--next-hop", "http://example.org"], "--next-hop"),
        (["--listen", "nonsense"], "--listen"),
    ],
)
def test_relay_refuses_unsafe_or_wrong_settings_with_exit_2(tmp_path, args, message):
    done = subprocess.run(PIXELGUARD + ["relay", *args], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "HOME": str(tmp_path)}, check=False)
    assert done.returncode == 2, done.stderr
    assert message in done.stderr


def test_cleaning_workers_that_cannot_start_give_a_clear_error_and_exit_1(tmp_path):
    # every worker process the relay spawns is /bin/false: it exits before it answers
    code = ("import multiprocessing, sys; multiprocessing.set_executable('/bin/false'); "
            "from pixelguard.cli import main; sys.exit(main(sys.argv[1:]))")
    done = subprocess.run([sys.executable, "-c", code, "relay", "--listen", f"127.0.0.1:{listen_port()}",
                           "--next-hop", f"maildir:{tmp_path / 'Maildir'}"],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "HOME": str(tmp_path)}, check=False)
    assert done.returncode == 1, done.stderr
    assert "cannot start the cleaning workers" in done.stderr
    assert "Traceback" not in done.stderr


def test_sigterm_to_the_whole_process_group_lets_the_transaction_in_flight_finish_cleaned(tmp_path):
    """As systemd's default (control-group) kill or a terminal's Ctrl-C does: every process,
    cleaning workers included, gets the signal; the message in flight is still cleaned."""
    import smtplib

    port = listen_port()
    box = tmp_path / "box"
    env = {k: v for k, v in os.environ.items() if k != "XDG_DATA_HOME"}
    proc = subprocess.Popen(PIXELGUARD + ["relay", "--listen", f"127.0.0.1:{port}", "--next-hop", f"maildir:{box}"],
                            env=env, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        wait_for(lambda: greets(port) or proc.poll() is not None, 60, "the relay to listen")
        client = smtplib.SMTP("127.0.0.1", port, timeout=30)
        client.ehlo()
        assert client.mail("news@shop.example")[0] == 250
        assert client.rcpt("alice@example.org")[0] == 250
        os.killpg(proc.pid, signal.SIGTERM)
        wait_for(lambda: not greets(port), 30, "the listener to close")
        assert client.data(tracker_message())[0] == 250
        assert client.getreply()[0] == 421  # then told the relay is going away
        client.close()
        _out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    (stored,) = list((box / "new").iterdir())
    assert is_cleaned(stored.read_bytes()), err
    assert "clean_error" not in err
