"""The shipped systemd units agree with the code: the IMAP unit's runtime directory is where
`pixelguard imap` puts its account lock, so the lock works under ProtectSystem=strict; the
milter reloads on SIGHUP (tests/e2e/test_milter_reload.py) and is started again after any
exit; the relay and the milter are Type=notify units, and the real commands tell a real
notify socket READY=1 once they serve, announce each reload and their stop, and survive a
SIGHUP that comes while they start."""
from __future__ import annotations

import configparser
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest

from pixelguard.config import ImapAccount
from pixelguard.imap.lock import lock_dir, lock_path
from pixelguard.sd_notify import notify

UNITS = Path(__file__).resolve().parent.parent / "docs" / "systemd"


def _service(name: str) -> configparser.SectionProxy:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # systemd keys are case-sensitive
    parser.read(UNITS / name)
    return parser["Service"]


def test_the_milter_unit_reloads_it_with_sighup() -> None:
    assert _service("pixelguard-milter.service")["ExecReload"] == "/bin/kill -HUP $MAINPID"


def test_the_milter_unit_restarts_it_after_a_clean_exit_too() -> None:
    """The milter exits 0 when libmilter's listener ends on its own: with Restart=on-failure
    it would stay down and Postfix would apply milter_default_action."""
    assert _service("pixelguard-milter.service")["Restart"] == "always"


def test_imap_unit_has_a_runtime_directory_and_the_lock_goes_there(tmp_path: Path, monkeypatch) -> None:
    service = _service("pixelguard-imap.service")
    runtime = service.get("RuntimeDirectory")
    assert runtime == "pixelguard"
    # systemd creates /run/<RuntimeDirectory> and passes it as $RUNTIME_DIRECTORY
    monkeypatch.setenv("RUNTIME_DIRECTORY", f"/run/{runtime}")
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "session"))
    account = ImapAccount(name="a", host="imap.example.org", username="u", password_env="P")
    assert lock_path(account).parent == Path("/run/pixelguard")
    # the unit may not write anywhere else: the lock's directory must be the writable one
    assert service.get("ProtectSystem") == "strict"


def test_lock_directory_without_systemd_is_the_session_runtime_dir(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("RUNTIME_DIRECTORY", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "run"))
    assert lock_dir() == tmp_path / "run" / "pixelguard"


@pytest.mark.parametrize("unit", sorted(p.name for p in UNITS.glob("*.service")))
def test_units_pass_systemd_analyze_verify(tmp_path: Path, unit: str) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze not installed")
    # the units name /usr/local/bin/pixelguard (docs/install.md links it there); point the
    # copy at this checkout's entry point so that verify checks everything else
    exe = Path(sys.executable).with_name("pixelguard")
    text = (UNITS / unit).read_text().replace("/usr/local/bin/pixelguard", str(exe))
    (tmp_path / unit).write_text(text)
    timer = UNITS / unit.replace(".service", ".timer")
    if timer.exists():
        (tmp_path / timer.name).write_text(timer.read_text())
    proc = subprocess.run([analyze, "verify", str(tmp_path / unit)], capture_output=True,
                          text=True, timeout=60, check=False)
    problems = [line for line in (proc.stderr + proc.stdout).splitlines()
                if unit in line or "Unknown" in line]
    assert proc.returncode == 0 and not problems, proc.stderr + proc.stdout


@pytest.mark.parametrize("unit", ["pixelguard-milter.service", "pixelguard-relay.service"])
def test_the_services_are_notify_units_whose_main_process_notifies(unit: str) -> None:
    """systemd holds `systemctl reload` back until the service's READY=1: a SIGHUP sent while
    it still loads would otherwise find no handler (Type=exec counts it started at exec)."""
    service = _service(unit)
    assert service["Type"] == "notify" and service["NotifyAccess"] == "main"
    assert service["ExecReload"] == "/bin/kill -HUP $MAINPID"


def test_without_a_notify_socket_nothing_is_sent_and_a_dead_one_is_no_error(monkeypatch, tmp_path) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert notify("READY=1") is False
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "nobody"))
    assert notify("READY=1") is False  # logged, not raised


def _sighup_ignored(pid: int) -> bool:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigIgn:"):
            return bool(int(line.split()[1], 16) & (1 << (signal.SIGHUP - 1)))
    return False


def _receive(sock: socket.socket, proc: subprocess.Popen, log: Path) -> list[str]:
    """The next datagram on the notify socket, as its lines (60 s at most)."""
    sock.settimeout(60)
    try:
        return sock.recv(4096).decode().split("\n")
    except TimeoutError:
        raise AssertionError(f"nothing notified (exit code {proc.poll()}):\n{log.read_text()}") from None


def _start_and_reload(command: list[str], address: str, sock: socket.socket, log: Path) -> None:
    """Run `pixelguard COMMAND` with NOTIFY_SOCKET=`address` (`sock` bound there): a SIGHUP
    once it ignores SIGHUP, before READY=1, leaves it running; one after READY=1 reloads it,
    announced; SIGTERM stops it, announced, exit code 0."""
    env = {**os.environ, "NOTIFY_SOCKET": address}
    with log.open("wb") as err:
        proc = subprocess.Popen([sys.executable, "-m", "pixelguard", *command], env=env,
                                stdout=subprocess.DEVNULL, stderr=err, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        # the interpreter's own start (before pixelguard's first line) is not covered:
        # wait for the first moment pixelguard's code can act
        while not _sighup_ignored(proc.pid):
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.001)  # polling interval of a bounded wait
        sock.setblocking(False)
        with pytest.raises(BlockingIOError):
            sock.recv(4096)  # not ready yet: still loading
        proc.send_signal(signal.SIGHUP)
        assert _receive(sock, proc, log) == ["READY=1"]
        assert proc.poll() is None, log.read_text()
        reloads = log.read_text().count('msg="configuration reloaded"')  # 0: the early one was ignored

        proc.send_signal(signal.SIGHUP)
        reloading = _receive(sock, proc, log)
        assert reloading[0] == "RELOADING=1" and reloading[1].startswith("MONOTONIC_USEC="), reloading
        assert _receive(sock, proc, log) == ["READY=1"]
        assert log.read_text().count('msg="configuration reloaded"') == reloads + 1, log.read_text()

        proc.send_signal(signal.SIGTERM)
        assert _receive(sock, proc, log) == ["STOPPING=1"]
        assert proc.wait(60) == 0, log.read_text()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert "Traceback" not in log.read_text(), log.read_text()


def test_the_milter_is_ready_once_serving_and_a_sighup_while_it_starts_does_not_kill_it(tmp_path) -> None:
    pytest.importorskip("Milter")
    from dovecot import listen_port

    name = f"pixelguard-test-{uuid.uuid4().hex}"  # abstract: NOTIFY_SOCKET=@name
    config = tmp_path / "pixelguard.yaml"
    config.write_text("milter: {workers: 1}\n")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        _start_and_reload(["milter", "--config", str(config), "--listen", f"inet:127.0.0.1:{listen_port()}"],
                          "@" + name, sock, tmp_path / "milter.log")


def test_the_relay_is_ready_once_listening_and_a_sighup_while_it_starts_does_not_kill_it(tmp_path) -> None:
    from dovecot import listen_port

    config = tmp_path / "pixelguard.yaml"
    config.write_text("relay: {workers: 1}\n")
    short = Path(tempfile.mkdtemp(prefix="pgnotify"))  # a socket path must be short
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.bind(str(short / "notify"))
            _start_and_reload(["relay", "--config", str(config), "--listen", f"127.0.0.1:{listen_port()}",
                               "--next-hop", f"maildir:{tmp_path / 'Maildir'}"],
                              str(short / "notify"), sock, tmp_path / "relay.log")
    finally:
        shutil.rmtree(short)


def test_the_milter_is_never_ready_on_a_port_another_process_holds(tmp_path) -> None:
    pytest.importorskip("Milter")

    name = f"pixelguard-test-{uuid.uuid4().hex}"
    config = tmp_path / "pixelguard.yaml"
    config.write_text("milter: {workers: 0}\n")
    with socket.socket() as other, socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        other.bind(("127.0.0.1", 0))
        other.listen(16)  # another program's socket: it takes the milter's probes
        sock.bind("\0" + name)
        env = {**os.environ, "NOTIFY_SOCKET": "@" + name}
        done = subprocess.run(
            [sys.executable, "-m", "pixelguard", "milter", "--config", str(config),
             "--listen", f"inet:127.0.0.1:{other.getsockname()[1]}"],
            check=False, env=env, capture_output=True, text=True, timeout=120)
        sock.setblocking(False)
        told = []
        while True:
            try:
                told += sock.recv(4096).decode().split("\n")
            except BlockingIOError:
                break
    assert done.returncode == 1, done.stderr
    assert "cannot listen" in done.stderr
    assert "READY=1" not in told, told
