"""The private parts of pixelguard's libraries that it relies on, and why; nowhere else
does pixelguard touch a private attribute of aiosmtpd, aiosmtplib or imapclient
(tests/test_compat.py checks both: that each part below still exists, and that no other
module reaches into those libraries). pyproject.toml bounds aiosmtplib's and imapclient's
versions from above for these; an upgrade is tried by raising the bound and running
tests/test_compat.py.
"""
from __future__ import annotations

from typing import Any


async def send_data_content(smtp: Any, payload: bytes, timeout: float | None) -> Any:
    """Write a message's DATA content (dot-stuffed, ending in CRLF.CRLF) on an
    `aiosmtplib.SMTP` whose DATA command was answered 354, and return the next hop's final
    reply (an SMTPResponse).

    aiosmtplib's public `SMTP.data()` sends DATA itself and waits for the 354 before it
    writes; the relay sends DATA ahead so that round trip overlaps the cleaning (0.3-0.7 ms
    a message, benchmarks/RELAY.md). Raises aiosmtplib's SMTPServerDisconnected when the
    connection is gone, SMTPReadTimeoutError on a timeout.
    """
    import aiosmtplib

    protocol = smtp.protocol
    if protocol is None:
        raise aiosmtplib.SMTPServerDisconnected("Server not connected")
    protocol.write(payload)
    return await protocol.read_response(timeout=timeout)


def imap_pending_responses(client: Any) -> dict | None:
    """The untagged responses imaplib keeps under an `imapclient.IMAPClient` (a dict of
    response type -> list, e.g. "EXISTS"), or None when there is no such store.

    imapclient drops unsolicited responses from its answers and has no public way to read
    them; the IMAP door needs the EXISTS a server sends during a pass (imap/work.py).
    """
    return getattr(getattr(client, "_imap", None), "untagged_responses", None)
