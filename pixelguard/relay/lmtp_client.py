"""A small async LMTP client (RFC 2033): LHLO, MAIL, RCPT, and one reply per recipient after DATA.

aiosmtplib cannot read LMTP's per-recipient replies after DATA, so this speaks the few
commands the relay needs over a TCP or unix-socket stream. Every read and write is bounded
by `timeout`; a failure raises LMTPError (closed, timed out) — replies are returned, not raised.
"""
from __future__ import annotations

import asyncio
import re

from pixelguard.relay.reply import Reply

# Bare LF and bare CR both become CRLF (for SMTP and LMTP next hops alike): RFC 5321 2.3.8
# allows CR and LF only together, and a next hop that ends lines at a bare CR would otherwise
# read "\r.\r\n" in a message as the end of DATA (SMTP smuggling).
_BARE_EOL = re.compile(rb"\r(?!\n)|(?<!\r)\n")


class LMTPError(Exception):
    """The connection failed, closed or timed out; `status` is the enhanced code to report."""

    def __init__(self, message: str, status: str = "4.4.2") -> None:
        super().__init__(message)
        self.status = status


def dot_stuff(content: bytes) -> bytes:
    """The DATA payload: CRLF line endings only, leading dots doubled, ending in CRLF.CRLF."""
    body = content
    # CRLF only (as SMTP delivers it) is the usual case, and needs no regex over the message
    if not content.count(b"\r") == content.count(b"\n") == content.count(b"\r\n"):
        body = _BARE_EOL.sub(b"\r\n", content)
    if body and not body.endswith(b"\r\n"):
        body += b"\r\n"
    body = body.replace(b"\n.", b"\n..")  # with CRLF only, every line starts after a LF
    return (b"." + body if body.startswith(b".") else body) + b".\r\n"


class LMTPClient:
    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.extensions: set[str] = set()
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def connect(self, host: str | None, port: int | None, path: str | None) -> Reply:
        """Open the stream and read the greeting."""
        try:
            if path is not None:
                opener = asyncio.open_unix_connection(path, limit=2**20)
            else:
                opener = asyncio.open_connection(host, port, limit=2**20)
            self._reader, self._writer = await asyncio.wait_for(opener, self.timeout)
        except TimeoutError:
            raise LMTPError("connect timed out") from None
        except OSError as exc:
            raise LMTPError(f"cannot connect: {exc.strerror or exc}", "4.4.1") from None
        return await self.read_reply()

    async def lhlo(self, name: str) -> Reply:
        reply = await self.command(f"LHLO {name}".encode("ascii"))
        if reply.ok:
            self.extensions = {ln.split()[0].upper() for ln in reply.text.splitlines()[1:] if ln.split()}
        return reply

    async def command(self, line: bytes) -> Reply:
        await self._send(line + b"\r\n")
        return await self.read_reply()

    async def start_data(self) -> Reply:
        """Send DATA: 354 when the server waits for the content (send_data)."""
        return await self.command(b"DATA")

    async def send_data(self, content: bytes, recipients: int) -> list[Reply]:
        """After a 354 to DATA: the content, then one reply per accepted recipient."""
        await self._send(dot_stuff(content))
        return [await self.read_reply() for _ in range(recipients)]

    async def read_reply(self) -> Reply:
        assert self._reader is not None
        lines: list[str] = []
        while True:
            try:
                raw = await asyncio.wait_for(self._reader.readline(), self.timeout)
            except TimeoutError:
                raise LMTPError("timed out waiting for a reply") from None
            except (OSError, asyncio.LimitOverrunError, ValueError) as exc:
                raise LMTPError(f"read failed: {exc}") from None
            if not raw.endswith(b"\n"):
                raise LMTPError("connection closed by the LMTP server")
            text = raw.decode("utf-8", "replace").rstrip("\r\n")
            if len(text) < 3 or not text[:3].isdigit():
                raise LMTPError(f"malformed reply {text[:80]!r}")
            lines.append(text[4:])
            if text[3:4] != "-":
                return Reply(int(text[:3]), "\n".join(lines))

    async def _send(self, data: bytes) -> None:
        assert self._writer is not None
        try:
            self._writer.write(data)
            await asyncio.wait_for(self._writer.drain(), self.timeout)
        except TimeoutError:
            raise LMTPError("timed out sending") from None
        except OSError as exc:
            raise LMTPError(f"send failed: {exc.strerror or exc}") from None

    async def quit(self) -> None:
        try:
            await self.command(b"QUIT")
        except LMTPError:
            pass
        self.close()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
