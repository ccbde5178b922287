"""The shipped systemd units agree with the code: the IMAP unit's runtime directory is where
`pixelguard imap` puts its account lock, so the lock works under ProtectSystem=strict; the
milter reloads on SIGHUP (tests/e2e/test_milter_reload.py) and is started again after any
exit."""
from __future__ import annotations

import configparser
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pixelguard.config import ImapAccount
from pixelguard.imap.lock import lock_dir, lock_path

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
