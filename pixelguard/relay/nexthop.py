"""Next hops behind one interface: SMTP (aiosmtplib), LMTP (our client) and Maildir.

A `Transaction` carries one copy of a message to the next hop: `begin` (connect, greet,
MAIL), `rcpt` per recipient, `data` once, then `finish` (QUIT) or `abort` (drop the
connection, so nothing half-sent is delivered). Every method returns the next hop's own
Reply and never raises for a network or protocol failure: those become 451 replies.
"""
from __future__ import annotations

import asyncio
import contextlib
import ssl
from abc import ABC, abstractmethod
from dataclasses import dataclass

import aiosmtplib

from pixelguard.compat import send_data_content
from pixelguard.relay import maildir
from pixelguard.relay.lmtp_client import LMTPClient, LMTPError, dot_stuff
from pixelguard.relay.reply import Reply, temp_failure


@dataclass(frozen=True)
class MailFrom:
    """What the next hop needs from the client's MAIL command."""

    sender: str  # "" for the null sender
    smtputf8: bool = False
    body_8bit: bool = False


def passed_on(code: int, text: str) -> Reply:
    """The next hop's reply as we hand it to our client.

    4xx and 5xx go through unchanged except 421, which would tell *our* client that *we*
    are closing; anything that is not a final 2xx/4xx/5xx reply becomes a 451.
    """
    if code == 421:
        return temp_failure("4.4.2", f"next hop is closing: {text}")
    if 200 <= code < 300 or 400 <= code < 600:
        return Reply(code, text)
    return temp_failure("4.4.2", f"unexpected reply from next hop: {code} {text}")


def _address(addr: str, smtputf8: bool) -> bytes:
    return b"<" + addr.encode("utf-8" if smtputf8 else "ascii") + b">"


def refused_data(code: int, text: str) -> Reply:
    """A reply other than 354 to DATA. A 2xx or 3xx there cannot mean the message was
    taken (none was sent yet): a next hop that says so gets no 250 passed on for it."""
    if code < 400:
        return temp_failure("4.4.2", f"next hop answered DATA with {code} {text}")
    return passed_on(code, text)


def _mail_from_words(mail: MailFrom, next_hop_8bitmime: bool) -> list[bytes]:
    """The words of the MAIL command for the next hop: verb, FROM:<sender>, parameters."""
    words = [b"MAIL", b"FROM:" + _address(mail.sender, mail.smtputf8)]
    if mail.body_8bit and next_hop_8bitmime:
        words.append(b"BODY=8BITMIME")
    if mail.smtputf8:
        words.append(b"SMTPUTF8")
    return words


class Transaction(ABC):
    @abstractmethod
    async def begin(self, mail: MailFrom) -> Reply: ...

    @abstractmethod
    async def rcpt(self, address: str) -> Reply: ...

    async def start_data(self) -> Reply | None:
        """Ask the next hop for the message content ahead of data() (SMTP/LMTP: send DATA
        and wait for its 354), so that round trip overlaps the cleaning. None: ready (or
        nothing to do ahead: data() does it); a Reply: DATA refused, data() must not be
        called and that reply is every recipient's."""
        return None

    @abstractmethod
    async def data(self, content: bytes, recipients: list[str]) -> list[Reply]:
        """One reply per recipient accepted by rcpt(), in the same order."""

    def reusable(self) -> bool:
        """True when data() delivered and the connection can carry the next begin()."""
        return False

    async def finish(self) -> None:
        """End politely (QUIT) after data()."""
        self.abort()

    def abort(self) -> None:
        """Drop the connection without delivering anything not yet confirmed."""


class _SessionTransaction(Transaction):
    """A transaction over a network session (SMTP, LMTP), which a delivered message may leave
    open for the same client's next one."""

    @abstractmethod
    def _live(self) -> bool:
        """True while the session can carry a command."""

    @abstractmethod
    def _drop_stale(self) -> None:
        """Forget a kept session that went stale, so begin() opens a fresh one."""

    @abstractmethod
    async def _mail(self, mail: MailFrom) -> Reply: ...

    async def _mail_on_kept(self, mail: MailFrom) -> Reply | None:
        """MAIL on the session kept from the previous message, or None when there is none or
        it went stale while idle (closed, or 421): then the caller starts over on a fresh one."""
        if not self._live():
            return None
        reply = await self._mail(mail)
        if self._live():
            return reply
        self._drop_stale()
        return None


class NextHop(ABC):
    url: str
    # True when the reply to one DATA can differ per recipient (LMTP: one reply each; Maildir:
    # one write each). Our SMTP listener has one DATA reply for all, so it then takes one
    # recipient per transaction (see RelayHandler).
    per_recipient_data: bool = False

    @abstractmethod
    def transaction(self) -> Transaction: ...


# --------------------------------------------------------------------------- SMTP


@dataclass(frozen=True)
class SMTPSettings:
    host: str
    port: int
    timeout: float
    helo_name: str
    starttls: bool = False
    verify: bool = True
    ca_file: str | None = None
    username: str | None = None
    password: str | None = None


class SMTPNextHop(NextHop):
    def __init__(self, settings: SMTPSettings) -> None:
        self.settings = settings
        self.url = f"smtp://{settings.host}:{settings.port}"

    def transaction(self) -> Transaction:
        return SMTPTransaction(self.settings)


class SMTPTransaction(_SessionTransaction):
    def __init__(self, s: SMTPSettings) -> None:
        self.s = s
        self.smtp: aiosmtplib.SMTP | None = None
        self.smtputf8 = False
        self.delivered = False
        self.data_open = False  # DATA got its 354: the next hop reads content now

    async def begin(self, mail: MailFrom) -> Reply:
        self.smtputf8 = mail.smtputf8
        self.delivered = False
        self.data_open = False
        kept = await self._mail_on_kept(mail)
        if kept is not None:
            return kept
        s = self.s
        self.smtp = aiosmtplib.SMTP(
            hostname=s.host,
            port=s.port,
            timeout=s.timeout,
            local_hostname=s.helo_name,
            start_tls=s.starttls,
            validate_certs=s.verify,
            cert_bundle=s.ca_file,
            username=s.username,
            password=s.password,
        )
        try:
            await self.smtp.connect()  # greeting, and STARTTLS / AUTH when configured
            if self.smtp.is_ehlo_or_helo_needed:
                try:
                    await self.smtp.ehlo()
                except aiosmtplib.SMTPHeloError:
                    await self.smtp.helo()
        except Exception as exc:  # noqa: BLE001 - every way of failing to get a session is a 4xx
            self.abort()
            return self._failure(exc, connecting=True)
        return await self._mail(mail)

    def _live(self) -> bool:
        return self.smtp is not None and self.smtp.is_connected

    def _drop_stale(self) -> None:
        self.smtp = None  # already closed; begin() makes a new one

    async def _mail(self, mail: MailFrom) -> Reply:
        assert self.smtp is not None
        return await self._command(*_mail_from_words(mail, self.smtp.supports_extension("8bitmime")))

    async def rcpt(self, address: str) -> Reply:
        return await self._command(b"RCPT", b"TO:" + _address(address, self.smtputf8))

    async def start_data(self) -> Reply | None:
        if self.smtp is None or not self.smtp.is_connected:
            return None  # data() answers for the lost connection
        try:
            response = await self.smtp.execute_command(b"DATA")
        except Exception as exc:  # noqa: BLE001 - any failure to send DATA is a 4xx, as above
            self.abort()
            return self._failure(exc)
        if response.code == 354:
            self.data_open = True
            return None
        if response.code == 421 or response.code < 400:  # closing, or a state we cannot trust
            self.abort()
        return refused_data(response.code, response.message)

    async def data(self, content: bytes, recipients: list[str]) -> list[Reply]:
        if not self.data_open:
            refused = await self.start_data()
            if refused is not None:
                return [refused] * len(recipients)
        if self.smtp is None or not self.smtp.is_connected:
            return [temp_failure("4.4.2", "next hop connection lost")] * len(recipients)
        self.data_open = False
        try:
            response = await send_data_content(self.smtp, dot_stuff(content), self.s.timeout)
        except Exception as exc:  # noqa: BLE001 - any failure to deliver the content is a 4xx
            self.abort()
            return [self._failure(exc)] * len(recipients)
        if response.code == 421:
            self.abort()
        reply = passed_on(response.code, response.message)
        self.delivered = reply.ok
        return [reply] * len(recipients)

    def reusable(self) -> bool:
        return self.delivered and self.smtp is not None and self.smtp.is_connected

    async def finish(self) -> None:
        if self.smtp is not None and self.smtp.is_connected and not self.data_open:
            with contextlib.suppress(Exception):  # the message is delivered; QUIT is courtesy
                await self.smtp.quit(timeout=min(self.s.timeout, 10))
        self.abort()

    def abort(self) -> None:
        if self.smtp is not None:
            self.smtp.close()

    async def _command(self, *args: bytes) -> Reply:
        if self.smtp is None or not self.smtp.is_connected:
            return temp_failure("4.4.2", "next hop connection lost")
        try:
            response = await self.smtp.execute_command(*args)
        except Exception as exc:  # noqa: BLE001 - any failure of a command is a 4xx, as above
            self.abort()
            return self._failure(exc)
        if response.code == 421:  # the next hop is closing this connection
            self.abort()
        return passed_on(response.code, response.message)

    def _failure(self, exc: Exception, connecting: bool = False) -> Reply:
        where = f"next hop {self.s.host}:{self.s.port}"
        if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
            return temp_failure("4.7.0", f"{where} refused our login: {exc.code} {exc.message}")
        if isinstance(exc, aiosmtplib.SMTPTimeoutError):
            return temp_failure("4.4.2", f"{where} timed out")
        if isinstance(exc, aiosmtplib.SMTPResponseException):
            # A greeting/EHLO/STARTTLS refusal is about the session, not this message.
            return temp_failure("4.4.2", f"{where} refused the session: {exc.code} {exc.message}")
        if isinstance(exc, (ssl.SSLError, aiosmtplib.SMTPNotSupported)):
            return temp_failure("4.7.0", f"{where} TLS failed: {exc}")
        if connecting or isinstance(exc, aiosmtplib.SMTPConnectError):
            return temp_failure("4.4.1", f"{where} unreachable: {exc}")
        if isinstance(exc, (aiosmtplib.SMTPServerDisconnected, ConnectionError)):
            return temp_failure("4.4.2", f"{where} closed the connection")
        if isinstance(exc, UnicodeEncodeError):
            return Reply(553, "5.6.7 non-ASCII address without SMTPUTF8")
        return temp_failure("4.4.2", f"{where} failed: {exc.__class__.__name__}: {exc}")


# --------------------------------------------------------------------------- LMTP


class LMTPNextHop(NextHop):
    per_recipient_data = True

    def __init__(self, host: str | None, port: int | None, path: str | None, timeout: float, helo_name: str):
        self.host, self.port, self.path = host, port, path
        self.timeout = timeout
        self.helo_name = helo_name
        self.url = f"lmtp:{path}" if path else f"lmtp://{host}:{port}"

    def transaction(self) -> Transaction:
        return LMTPTransaction(self)


class LMTPTransaction(_SessionTransaction):
    def __init__(self, hop: LMTPNextHop) -> None:
        self.hop = hop
        self.client = LMTPClient(hop.timeout)
        self.smtputf8 = False
        self.open = False
        self.delivered = False
        self.data_open = False  # DATA got its 354: the server reads content now
        self.dead: Reply | None = None

    async def begin(self, mail: MailFrom) -> Reply:
        self.smtputf8 = mail.smtputf8
        self.delivered = False
        self.data_open = False
        kept = await self._mail_on_kept(mail)
        if kept is not None:
            return kept
        self.open = True
        try:
            greeting = await self.client.connect(self.hop.host, self.hop.port, self.hop.path)
            if not greeting.ok:
                return self._kill(temp_failure("4.4.2", f"next hop refused the session: {greeting.line()}"))
            lhlo = await self.client.lhlo(self.hop.helo_name)
            if not lhlo.ok:
                return self._kill(temp_failure("4.4.2", f"next hop refused LHLO: {lhlo.line()}"))
        except LMTPError as exc:
            return self._kill(temp_failure(exc.status, f"next hop {self.hop.url}: {exc}"))
        return await self._mail(mail)

    def _live(self) -> bool:
        return self.open and self.dead is None

    def _drop_stale(self) -> None:
        self.dead = None
        self.client = LMTPClient(self.hop.timeout)

    async def _mail(self, mail: MailFrom) -> Reply:
        return await self._command(b" ".join(_mail_from_words(mail, "8BITMIME" in self.client.extensions)))

    async def rcpt(self, address: str) -> Reply:
        return await self._command(b"RCPT TO:" + _address(address, self.smtputf8))

    async def start_data(self) -> Reply | None:
        if self.dead is not None:
            return None  # data() answers with why it died
        try:
            reply = await self.client.start_data()
        except LMTPError as exc:
            return self._kill(temp_failure(exc.status, f"next hop {self.hop.url}: {exc}"))
        if reply.code == 354:
            self.data_open = True
            return None
        if reply.code == 421:
            return self._kill(passed_on(reply.code, reply.text))
        if reply.code < 400:  # a state we cannot trust
            return self._kill(refused_data(reply.code, reply.text))
        return refused_data(reply.code, reply.text)

    async def data(self, content: bytes, recipients: list[str]) -> list[Reply]:
        if not self.data_open:
            refused = await self.start_data()
            if refused is not None:
                return [refused] * len(recipients)
        if self.dead is not None:
            return [self.dead] * len(recipients)
        self.data_open = False
        try:
            replies = await self.client.send_data(content, len(recipients))
        except LMTPError as exc:
            return [self._kill(temp_failure(exc.status, f"next hop {self.hop.url}: {exc}"))] * len(recipients)
        self.delivered = all(r.ok for r in replies)
        return [passed_on(r.code, r.text) for r in replies]

    def reusable(self) -> bool:
        return self.delivered and self.dead is None

    async def finish(self) -> None:
        if self.dead is None and not self.data_open:
            await self.client.quit()
        self.client.close()

    def abort(self) -> None:
        self.client.close()

    async def _command(self, line: bytes) -> Reply:
        if self.dead is not None:
            return self.dead
        try:
            reply = await self.client.command(line)
        except LMTPError as exc:
            return self._kill(temp_failure(exc.status, f"next hop {self.hop.url}: {exc}"))
        if reply.code == 421:
            return self._kill(passed_on(reply.code, reply.text))
        return passed_on(reply.code, reply.text)

    def _kill(self, reply: Reply) -> Reply:
        self.dead = reply
        self.client.close()
        return reply


# --------------------------------------------------------------------------- Maildir


class MaildirNextHop(NextHop):
    per_recipient_data = True

    def __init__(self, path: str) -> None:
        self.path = path
        self.url = f"maildir:{path}"

    def transaction(self) -> Transaction:
        return MaildirTransaction(self.path)


class MaildirTransaction(Transaction):
    def __init__(self, path: str) -> None:
        self.path = path
        self.sender = ""

    async def begin(self, mail: MailFrom) -> Reply:
        self.sender = mail.sender
        try:
            await asyncio.to_thread(maildir.ensure_maildir, self.path)
        except OSError as exc:
            return temp_failure("4.3.0", f"cannot use Maildir {self.path}: {exc.strerror or exc}")
        return Reply(250, "2.1.0 OK")

    async def rcpt(self, address: str) -> Reply:
        return Reply(250, "2.1.5 OK")

    def reusable(self) -> bool:
        return True

    async def data(self, content: bytes, recipients: list[str]) -> list[Reply]:
        replies = []
        for rcpt in recipients:
            try:
                name = await asyncio.to_thread(maildir.deliver, self.path, content, rcpt, self.sender)
                replies.append(Reply(250, f"2.0.0 delivered to maildir as {name}"))
            except OSError as exc:
                replies.append(temp_failure("4.3.0", f"cannot write to Maildir {self.path}: {exc.strerror or exc}"))
        return replies
