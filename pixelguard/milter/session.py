"""One MTA connection (pymilter calls it from a libmilter thread per connection).

It collects the header fields, the envelope recipients and the body; at end of message it
hands the whole message to the Door (door.py), which cleans it in a worker process, and
applies the answer through the actions the MTA granted. Whatever goes wrong, the answer is
CONTINUE (accept): the message passes unchanged, marked `X-PixelGuard: error; …` when an
added header is granted. Mail is never rejected or deferred by pixelguard.
"""
from __future__ import annotations

import functools
import logging
import time

import Milter

from pixelguard.milter.edits import Field
from pixelguard.milter.nodelay import set_nodelay

log = logging.getLogger("pixelguard.milter")

WANTED_ACTIONS = Milter.ADDHDRS | Milter.CHGBODY  # insert header fields, replace the body

# Negotiation (pymilter's decorators set the protocol bits): the steps pixelguard does not
# use (HELO, DATA, end of header, unknown commands) are not sent at all, and the MTA does not
# wait for an answer to the ones it only collects (connection, sender, recipients, each
# header field, each body chunk), which is always "continue": one answer per message, at its
# end, instead of one per step. An MTA that cannot skip them still gets CONTINUE.
#
# A collecting step must therefore never raise: with no reply to send, libmilter would drop
# the error and then ignore the end of the message, leaving the MTA to wait for its content
# timeout. `_collecting` catches what one raises; the message then passes unchanged with the
# error header (Door.finish), as one over max_size does.


def _collecting(step):
    @functools.wraps(step)
    def collect(self, *args):
        try:
            return step(self, *args)
        except Exception as exc:  # broad: see above: answered at end of message
            if self.failed is None:
                log.exception("milter: %s failed; the message will pass unchanged", step.__name__)
                self.failed = f"{step.__name__} step failed: {exc.__class__.__name__}"
                self.fields, self.chunks = [], []
            return Milter.CONTINUE

    return collect


@Milter.header_leading_space  # header values exactly as received: the core sees real bytes
class Session(Milter.Base):
    def __init__(self, door) -> None:
        self.door = door
        self.granted = 0
        self.runtime = door.runtime  # the configuration this session's message is handled with
        self._reset()

    def _reset(self) -> None:
        self.sender = ""
        self.rcpts: list[str] = []
        self.fields: list[Field] = []
        self.chunks: list[bytes] = []
        self.size = 0
        self.oversize = False
        self.failed: str | None = None  # why a collecting step failed (the message passes)

    def negotiate(self, opts):
        answer = super().negotiate(opts)
        # ask only for what pixelguard uses, of what the MTA offers
        opts[0] = self._actions = self._actions & WANTED_ACTIONS
        self.granted = self._actions
        return answer

    @Milter.noreply
    def connect(self, hostname, family, hostaddr):
        try:
            self.door.metrics.sessions.inc()
            if self.door.tcp_port is not None:
                log.debug("TCP_NODELAY set on %d connection(s)", set_nodelay(self.door.tcp_port))
        except Exception:  # broad: a metric or a socket option: the mail still goes on
            log.exception("milter: connection setup failed; going on")
        return Milter.CONTINUE

    @Milter.noreply
    def envfrom(self, mailfrom, *params):
        self.runtime = self.door.runtime  # a reload from now on is for the next message
        self._reset()
        self._sender(mailfrom)
        return Milter.CONTINUE

    @_collecting
    def _sender(self, mailfrom):
        self.sender = mailfrom.strip("<>")

    @Milter.noreply
    @_collecting
    def envrcpt(self, to, *params):
        self.rcpts.append(to.strip().strip("<>"))
        return Milter.CONTINUE

    @Milter.noreply
    @Milter.decode("bytes")
    @_collecting
    def header(self, name, value):
        self._count(len(name) + len(value) + 3)
        if not self.oversize:
            self.fields.append((name, value))
        return Milter.CONTINUE

    @Milter.noreply
    @_collecting
    def body(self, chunk):
        self._count(len(chunk))
        if not self.oversize:
            self.chunks.append(chunk)
        return Milter.CONTINUE

    def _count(self, n: int) -> None:
        self.size += n
        if self.size > self.runtime.settings.max_size and not self.oversize:
            self.oversize = True  # keep counting, hold nothing more: it passes unchanged
            self.fields, self.chunks = [], []

    def eom(self):
        started = time.monotonic()
        try:
            queue_id = self.getsymval("i") or None
        except Exception:  # noqa: BLE001 - a macro the MTA does not send
            queue_id = None
        try:
            self.door.finish(self, queue_id, started)
        except Exception:  # never fail a message over our own error
            log.exception("milter: unexpected error; message accepted unchanged")
        self._reset()
        return Milter.CONTINUE

    def abort(self):
        self._reset()
        return Milter.CONTINUE

    def close(self):
        self.door.metrics.sessions.dec()
        return Milter.CONTINUE
