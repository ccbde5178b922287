"""`pixelguard milter` as a real process on a loopback port, for the Postfix tests."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from dovecot import listen_port


def accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


class MilterProcess:
    """`python -m pixelguard milter --config F --listen inet:127.0.0.1:PORT`."""

    def __init__(self, tmp: Path, config: str = "", port: int | None = None) -> None:
        self.port = port or listen_port()
        self.config = tmp / "milter.yaml"
        self.config.write_text(config or "milter: {workers: 1}\n")
        self.log = tmp / f"milter-{self.port}.log"
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 60) -> MilterProcess:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pixelguard", "milter", "--config", str(self.config),
             "--listen", f"inet:127.0.0.1:{self.port}"],
            stdout=subprocess.DEVNULL, stderr=open(self.log, "wb"),  # noqa: SIM115
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while not accepts(self.port):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"milter did not start:\n{self.log_text()}")
            time.sleep(0.05)  # polling interval of a bounded wait
        return self

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def message_lines(self) -> list[str]:
        return [ln for ln in self.log_text().splitlines() if " msg=message " in ln]

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, sig)

    def stop(self) -> None:
        """SIGTERM (after SIGCONT, for a test that stopped it); a milter still running must
        then exit 0."""
        if self.proc is None:
            return
        proc, self.proc = self.proc, None
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGCONT)
            proc.terminate()
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            assert proc.returncode == 0, f"milter exited {proc.returncode} on SIGTERM:\n{self.log_text()}"
