"""Real peers for the relay tests: a next hop that is a real aiosmtpd server with fault
switches, the relay itself on a background event loop, and plain SMTP clients.

Nothing here sleeps for luck: the relay answers 250 only after the next hop stored the
message, so a test can look at `NextHopServer.received` as soon as its client has the reply;
anything else is awaited with `wait_for(condition, timeout)`.
"""
from __future__ import annotations

import asyncio
import email
import email.policy
import smtplib
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword
from dovecot import listen_port

from pixelguard.config import parse_config
from pixelguard.relay.cleaning import Cleaner
from pixelguard.relay.server import RelayServer
from pixelguard.relay.setup import build_relay

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
TRACKER_URL = "http://127.0.0.1/open?u=1"


def tracker_message(msgid: str = "<m1@shop.example>", to: str = "alice@example.org", extra: str = "") -> bytes:
    """A small newsletter whose text/html part carries one 1x1 open-tracking pixel."""
    return (
        "From: News <news@shop.example>\r\n"
        f"To: {to}\r\n"
        "Subject: This week's offers\r\n"
        f"Message-ID: {msgid}\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: text/html; charset=utf-8\r\n"
        "\r\n"
        "<html><body><p>Hello, here are this week's offers.</p>\r\n"
        f'<img src="{TRACKER_URL}" width="1" height="1" alt="">\r\n'
        f"{extra}</body></html>\r\n"
    ).encode()


def is_cleaned(raw: bytes) -> bool:
    return b"X-PixelGuard" in raw and TRACKER_URL.encode() not in raw


def message_id(raw: bytes) -> str | None:
    msg = email.message_from_bytes(raw, policy=email.policy.compat32)
    return msg["Message-ID"]


def greets(port: int, host: str = "127.0.0.1") -> bool:
    """True when a server on the port answers with an SMTP/LMTP 220 greeting."""
    try:
        with socket.create_connection((host, port), timeout=2) as s:
            return s.recv(100).startswith(b"220")
    except OSError:
        return False


def inbox(dovecot, user: str) -> list[bytes]:
    """Every message in the user's Dovecot INBOX, read over IMAP."""
    client = dovecot.client(user)
    try:
        client.select_folder("INBOX", readonly=True)
        uids = client.search("ALL")
        data = client.fetch(uids, ["BODY.PEEK[]"]) if uids else {}
        return [data[u][b"BODY[]"] for u in uids]
    finally:
        client.logout()


def wait_for(condition, timeout: float = 10.0, what: str = "condition"):
    """Poll `condition()` until truthy (returned) or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)  # polling interval of a bounded wait


# ---------------------------------------------------------------------------- next hop


@dataclass
class Received:
    sender: str
    rcpts: list[str]
    content: bytes
    mail_options: list[str]


class _BigLineSMTP(SMTP):
    line_length_limit = 1 << 20  # a next hop that, like Postfix and Dovecot, takes long lines

    async def smtp_EHLO(self, arg):
        self.event_handler.sessions += 1  # one EHLO per connection from the relay
        await super().smtp_EHLO(arg)

    async def smtp_DATA(self, arg):
        hop = self.event_handler
        if hop.data_command_reply and self.envelope.rcpt_tos:
            await self.push(hop.data_command_reply)  # instead of 354: no content is read
            self.envelope = self._create_envelope()
            return
        if not hop.cut_data_after_lines or not self.envelope.rcpt_tos:
            return await super().smtp_DATA(arg)
        # Take the first lines of the message, then drop the connection in the middle of it.
        await self.push("354 End data with <CR><LF>.<CR><LF>")
        for _ in range(hop.cut_data_after_lines):
            await self._reader.readuntil(b"\r\n")
        self.transport.abort()


class NextHopServer:
    """A real aiosmtpd SMTP server on a loopback port, with switches for the fault cases.

    rcpt_replies: address -> reply line to refuse that RCPT with
    data_reply: reply line to answer DATA with (instead of storing)
    data_command_reply: reply line to answer the DATA command itself with, instead of 354
    close_in_data: drop the connection after DATA instead of replying
    data_delay: seconds to wait before storing and answering 250 (cancelled if the client leaves)
    cut_data_after_lines: drop the connection after reading this many lines of the message
    mail_reply: reply line to refuse MAIL FROM with
    """

    def __init__(self, port: int | None = None, **smtp_kwargs) -> None:
        self.port = port or listen_port()
        self.smtp_kwargs = smtp_kwargs
        self.received: list[Received] = []
        self.rcpt_replies: dict[str, str] = {}
        self.data_reply: str | None = None
        self.data_command_reply: str | None = None
        self.close_in_data = False
        self.data_delay = 0.0
        self.cut_data_after_lines = 0
        self.mail_reply: str | None = None
        self.sessions = 0
        self.url = f"smtp://127.0.0.1:{self.port}"
        self._controller: Controller | None = None

    def heal(self) -> None:
        self.rcpt_replies.clear()
        self.data_reply = None
        self.data_command_reply = None
        self.close_in_data = False
        self.data_delay = 0.0
        self.cut_data_after_lines = 0
        self.mail_reply = None

    # aiosmtpd hooks
    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if self.mail_reply:
            return self.mail_reply
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 2.1.0 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.rcpt_replies:
            return self.rcpt_replies[address]
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.close_in_data:
            server.transport.abort()
            await asyncio.sleep(3600)  # cancelled by connection_lost
        if self.data_reply:
            return self.data_reply
        if self.data_delay:
            await asyncio.sleep(self.data_delay)  # cancelled if the relay gives up and closes
        self.received.append(
            Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content, list(envelope.mail_options))
        )
        return "250 2.0.0 Ok: queued"

    def by_rcpt(self, rcpt: str) -> list[Received]:
        return [r for r in self.received if rcpt in r.rcpts]

    def start(self) -> NextHopServer:
        kwargs = {"enable_SMTPUTF8": True, "decode_data": False}
        kwargs.update(self.smtp_kwargs)
        class _Controller(Controller):
            def factory(self):
                return _BigLineSMTP(self.handler, **self.SMTP_kwargs)

        self._controller = _Controller(self, hostname="127.0.0.1", port=self.port, **kwargs)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


class LMTPNextHopServer:
    """A real aiosmtpd LMTP server on a loopback port that answers DATA per recipient, as
    Dovecot does: `data_replies` maps an address to its reply line after DATA (default 250,
    and then the message counts as delivered to that address)."""

    def __init__(self) -> None:
        self.port = listen_port()
        self.url = f"lmtp://127.0.0.1:{self.port}"
        self.data_replies: dict[str, str] = {}
        self.delivered: list[tuple[str, bytes]] = []  # (recipient, message) per 250 after DATA
        self.transactions: list[list[str]] = []  # the recipients of each DATA, in order
        self._controller: Controller | None = None

    def deliveries(self, rcpt: str) -> list[bytes]:
        return [content for r, content in self.delivered if r == rcpt]

    # aiosmtpd hooks
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        self.transactions.append(list(envelope.rcpt_tos))
        lines = []
        for rcpt in envelope.rcpt_tos:
            line = self.data_replies.get(rcpt, "250 2.0.0 delivered")
            if line.startswith("2"):
                self.delivered.append((rcpt, envelope.original_content))
            lines.append(line)
        for line in lines[:-1]:  # LMTP: one reply per recipient, the last one returned
            await server.push(line)
        return lines[-1]

    def start(self) -> LMTPNextHopServer:
        class _Controller(Controller):
            def factory(self):
                return LMTP(self.handler, **self.SMTP_kwargs)

        self._controller = _Controller(self, hostname="127.0.0.1", port=self.port,
                                       enable_SMTPUTF8=True, decode_data=False)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


class SilentServer:
    """Accepts TCP connections (kernel backlog) and never says a word: a hung next hop."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.url = f"smtp://127.0.0.1:{self.port}"

    def close(self) -> None:
        self.sock.close()


def auth_users(users: dict[str, str]):
    """An aiosmtpd authenticator for a next hop that wants AUTH."""

    def check(server, session, envelope, mechanism, auth_data):
        ok = isinstance(auth_data, LoginPassword) and users.get(auth_data.login.decode()) == auth_data.password.decode()
        return AuthResult(success=ok, handled=False)  # not handled: aiosmtpd answers 535 itself

    return check


def make_cert(directory: Path, name: str = "localhost") -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1/localhost (openssl CLI)."""
    cert, key = directory / f"{name}.crt", directory / f"{name}.key"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost",
            "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


# ---------------------------------------------------------------------------- relay


_shared_loop: asyncio.AbstractEventLoop | None = None
_shared_loop_lock = threading.Lock()


def relay_loop() -> asyncio.AbstractEventLoop:
    """The one event loop, in a thread of its own, that every in-process relay of the test
    session runs on (as a relay process runs on one; they share one worker pool)."""
    global _shared_loop
    with _shared_loop_lock:
        if _shared_loop is None:
            _shared_loop = asyncio.new_event_loop()
            threading.Thread(target=_shared_loop.run_forever, name="pixelguard-relays", daemon=True).start()
        return _shared_loop


class InProcessRelay:
    """A RelayServer started on the session's relay loop (relay_loop)."""

    def __init__(self, build: Callable[[], RelayServer]) -> None:
        self._build = build
        self.server: RelayServer | None = None
        self.loop: asyncio.AbstractEventLoop | None = None

    def start(self, timeout: float = 30.0) -> InProcessRelay:
        async def start() -> RelayServer:
            server = self._build()
            await server.start()
            return server

        loop = relay_loop()
        self.server = asyncio.run_coroutine_threadsafe(start(), loop).result(timeout)
        self.loop = loop
        return self

    @property
    def port(self) -> int:
        assert self.server is not None and self.server.port is not None
        return self.server.port

    def stop(self, grace: float = 10.0) -> bool:
        """Graceful shutdown (as on SIGTERM); returns whether all sessions ended in time."""
        if self.loop is None or self.server is None:
            return True
        future = asyncio.run_coroutine_threadsafe(self.server.shutdown(grace), self.loop)
        self.loop = None  # stopped: a second stop() is a no-op
        return future.result(grace + 30)


def relay_config(next_hop: str, extra_relay: str = "", rest: str = "", timeout: float = 5) -> str:
    return (
        "relay:\n"
        '  listen: "127.0.0.1:0"\n'
        f'  next_hop: "{next_hop}"\n'
        f"  timeout: {timeout}\n"
        f"{extra_relay}"
        f"{rest}"
    )


class RelayFactory:
    def __init__(self, cleaner: Cleaner, tmp_path: Path) -> None:
        self.cleaner = cleaner
        self.tmp_path = tmp_path
        self.running: list[InProcessRelay] = []

    def __call__(self, config_text: str, cleaner: Cleaner | None = None) -> InProcessRelay:
        path = self.tmp_path / f"relay{len(self.running)}.yaml"
        path.write_text(config_text)
        config = parse_config(config_text, str(path))
        thread = InProcessRelay(lambda: build_relay(config, cleaner or self.cleaner)).start()
        self.running.append(thread)
        return thread

    def stop_all(self) -> None:
        for thread in self.running:
            thread.stop(grace=5)


@pytest.fixture(scope="session", name="cleaner")
def cleaner_fixture():
    """The relay's real process pool (2 workers), shared by the in-process relays of the session."""
    c = Cleaner(workers=2)
    c.start()
    yield c
    c.close()


@pytest.fixture(name="relay_factory")
def relay_factory_fixture(cleaner, tmp_path):
    factory = RelayFactory(cleaner, tmp_path)
    yield factory
    factory.stop_all()


@pytest.fixture(name="next_hop")
def next_hop_fixture():
    hop = NextHopServer().start()
    yield hop
    hop.stop()


# ---------------------------------------------------------------------------- clients


@dataclass
class Outcome:
    """What a client saw: each RCPT's reply, and DATA's reply (None when DATA was not sent)."""

    rcpt: dict[str, tuple[int, str]] = field(default_factory=dict)
    data: tuple[int, str] | None = None
    data_replies: list[tuple[int, str]] = field(default_factory=list)  # LMTP: one per recipient


def send(
    port: int,
    sender: str,
    rcpts: list[str],
    content: bytes,
    mail_options: tuple[str, ...] = (),
    lmtp: bool = False,
    timeout: float = 30,
) -> Outcome:
    """One transaction over a real socket with smtplib, keeping every reply."""
    out = Outcome()
    client = smtplib.LMTP("127.0.0.1", port) if lmtp else smtplib.SMTP("127.0.0.1", port, timeout=timeout)
    try:
        client.ehlo_or_helo_if_needed()
        code, msg = client.mail(sender, list(mail_options))
        assert code == 250, (code, msg)
        for rcpt in rcpts:
            out.rcpt[rcpt] = client.rcpt(rcpt)
        accepted = [r for r in rcpts if out.rcpt[r][0] in (250, 251)]
        if accepted:
            try:
                out.data = client.data(content)
            except smtplib.SMTPDataError as exc:
                out.data = (exc.smtp_code, exc.smtp_error)
            if lmtp and out.data[0] != 354:
                out.data_replies = [out.data] + [client.getreply() for _ in accepted[1:]]
        else:
            client.rset()
        client.quit()
    finally:
        client.close()
    return out


def is_too_many_recipients(reply: tuple[int, bytes]) -> bool:
    """The relay's "send this recipient in a new transaction" (RFC 5321 4.5.3.1.10)."""
    return reply[0] == 452 and reply[1].startswith(b"4.5.3 ")


def deliver_like_an_mta(port: int, sender: str, rcpts: list[str], content: bytes) -> dict[str, tuple[int, bytes]]:
    """One delivery attempt as a queueing MTA makes it: recipients answered 452 4.5.3 are sent
    again at once in a new transaction (while the relay accepts any); every other reply is
    final for this attempt. Returns each recipient's outcome: the RCPT reply when it was
    refused (or left at 452 4.5.3), else the DATA reply of its transaction."""
    outcome: dict[str, tuple[int, bytes]] = {}
    todo = list(rcpts)
    while todo:
        out = send(port, sender, todo, content)
        later = [r for r in todo if is_too_many_recipients(out.rcpt[r])]
        accepted = [r for r in todo if out.rcpt[r][0] in (250, 251)]
        for r in todo:
            outcome[r] = out.data if r in accepted else out.rcpt[r]
        todo = later if accepted else []  # none accepted: deferred, for the next attempt
    return outcome


def swaks(port: int, *args: str, data: bytes | None = None, tmp: Path | None = None, timeout: float = 60):
    """Run swaks against the relay; returns the CompletedProcess (stdout has the dialogue)."""
    cmd = ["swaks", "--server", f"127.0.0.1:{port}", "--timeout", "30", *args]
    if data is not None:
        assert tmp is not None
        path = tmp / "swaks-message.eml"
        path.write_bytes(data)
        cmd += ["--data", f"@{path}"]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)

