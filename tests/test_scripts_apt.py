"""scripts/apt.sh: `apt_update` waits while another apt-get holds the package lists' lock,
and gives up with apt's own error after APT_LOCK_WAIT seconds. Real apt-get, on a private
lists directory with no sources, so nothing is downloaded and the system's lists are untouched."""
from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(
    shutil.which("apt-get") is None or os.geteuid() != 0,
    reason="needs apt-get, run as root (it locks and writes its cache like a real update)",
)


def _start(tmp_path: Path, wait: int) -> tuple[subprocess.Popen, int]:
    tmp_path.mkdir(exist_ok=True)
    lists = tmp_path / "lists"
    (lists / "partial").mkdir(parents=True)
    (tmp_path / "sources.list").write_text("")
    (tmp_path / "sources.list.d").mkdir()
    fd = os.open(lists / "lock", os.O_RDWR | os.O_CREAT, 0o640)
    fcntl.lockf(fd, fcntl.LOCK_EX)  # as apt-get holds it: a POSIX record lock
    options = (f"-o Dir::State::Lists={lists} -o Dir::Etc::sourcelist={tmp_path}/sources.list "
               f"-o Dir::Etc::sourceparts={tmp_path}/sources.list.d")
    proc = subprocess.Popen(
        ["bash", "-c", f". scripts/apt.sh && apt_update {options} && echo updated"],
        cwd=ROOT, env={**os.environ, "APT_LOCK_WAIT": str(wait)},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return proc, fd


def test_apt_update_waits_for_a_held_lock_and_gives_up_after_the_wait(tmp_path: Path) -> None:
    # Both at once, on two private lists directories: each spends the script's two seconds
    # of sleep before its second try, and those may pass together.
    patient, patient_fd = _start(tmp_path / "patient", 120)
    giving_up, giving_up_fd = _start(tmp_path / "giving-up", 2)
    try:
        try:
            line = patient.stderr.readline()  # the script says it waits: it met the lock
            assert "waiting" in line, line
        finally:
            os.close(patient_fd)  # releases the lock; the next try succeeds
        out, err = patient.communicate(timeout=120)
        assert patient.returncode == 0, err
        assert out.strip().endswith("updated")
        out, err = giving_up.communicate(timeout=120)
    finally:
        os.close(giving_up_fd)
    assert giving_up.returncode == 100
    assert "Could not get lock" in err and "updated" not in out
