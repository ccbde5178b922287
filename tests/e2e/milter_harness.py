"""`pixelguard milter` as a real process on a loopback port, and a minimal MTA side of the
milter protocol (what Postfix's milter8 client sends) to speak to it directly."""
from __future__ import annotations

import os
import signal
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

from dovecot import listen_port
from reload_support import sighup_and_wait_for


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

    def write(self, config: str) -> None:
        """Replace the config file (the milter reads it again on SIGHUP)."""
        self.config.write_text(config)

    def sighup_and_wait_for(self, text: str) -> str:
        """Send SIGHUP and wait for the next log line containing `text`; that line."""
        assert self.proc is not None
        return sighup_and_wait_for(self.proc, self.log_text, text)

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


ADDHDRS, CHGBODY = 0x01, 0x02
NO = {"C": 0x01, "M": 0x04, "R": 0x08, "L": 0x20, "N": 0x40, "B": 0x10}
NR = {"C": 0x1000, "M": 0x4000, "R": 0x8000, "L": 0x80, "N": 0x40000, "B": 0x80000}
ALL_PROTOCOL = 0x1FFFFF


class MTA:
    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.file = self.sock.makefile("rb")

    def send(self, cmd: bytes, data: bytes = b"") -> None:
        self.sock.sendall(struct.pack("!I", len(data) + 1) + cmd + data)

    def read(self) -> tuple[bytes, bytes]:
        (n,) = struct.unpack("!I", self.file.read(4))
        packet = self.file.read(n)
        return packet[:1], packet[1:]

    def negotiate(self, actions: int, offered: int = ALL_PROTOCOL) -> tuple[int, int]:
        self.send(b"O", struct.pack("!III", 6, actions, offered))
        cmd, data = self.read()
        assert cmd == b"O"
        _version, granted, protocol = struct.unpack("!III", data[:12])
        return granted, protocol

    def step(self, protocol: int, cmd: str, data: bytes) -> None:
        if protocol & NO[cmd]:
            return
        self.send(cmd.encode(), data)
        if not protocol & NR[cmd]:
            assert self.read()[0] == b"c"

    def message(self, protocol: int, raw: bytes) -> list[tuple[bytes, bytes]]:
        """Send one message; the end-of-message answers (edits, then the verdict)."""
        self.connect(protocol)
        self.envelope(protocol)
        return self.content(protocol, raw)

    def connect(self, protocol: int) -> None:
        """The SMTP client's connection (once per milter connection)."""
        self.step(protocol, "C", b"mx.example\x004" + struct.pack("!H", 25) + b"127.0.0.1\x00")

    def envelope(self, protocol: int, rcpt: bytes = b"alice@example.org") -> None:
        """A message's MAIL FROM and RCPT TO."""
        self.step(protocol, "M", b"<news@shop.example>\x00")
        self.step(protocol, "R", b"<" + rcpt + b">\x00")

    def content(self, protocol: int, raw: bytes) -> list[tuple[bytes, bytes]]:
        """A message's header fields, body and end; the end-of-message answers."""
        head, body = raw.split(b"\r\n\r\n", 1)
        for line in head.split(b"\r\n"):
            name, _, value = line.partition(b":")
            self.step(protocol, "L", name + b"\x00" + value + b"\x00")
        self.step(protocol, "N", b"")
        self.step(protocol, "B", body)
        self.send(b"E")
        answers = []
        while True:
            cmd, data = self.read()
            answers.append((cmd, data))
            if cmd in (b"c", b"a", b"t", b"r"):
                return answers

    def close(self) -> None:
        self.send(b"Q")
        self.sock.close()
