"""A collecting step of the milter that raises (the MTA is not waiting for its answer: see
pixelguard/milter/session.py): the end of the message is still answered at once, and the
message passes unchanged with the error header, never with a body missing what the failed
step held.

The milter runs as a real process with Session._count patched to raise on the second body
chunk, standing in for any exception in a collecting step (MemoryError, a bug).
"""
from __future__ import annotations

import subprocess
import sys
import time

import pytest
from dovecot import listen_port
from milter_harness import accepts
from relay_harness import tracker_message
from test_milter_protocol import MTA

pytestmark = pytest.mark.e2e

PATCHED = r"""
import sys
from pixelguard.milter import session
def _count(self, n):
    if self.chunks:  # the second body chunk
        raise MemoryError("simulated failure in a collecting callback")
    self.size += n
session.Session._count = _count
from pixelguard.cli import main
sys.argv = ["pixelguard"] + sys.argv[1:]
raise SystemExit(main())
"""


@pytest.fixture()
def raising_milter(tmp_path):
    port = listen_port()
    cfg = tmp_path / "m.yaml"
    cfg.write_text("milter: {workers: 1}\n")
    log = open(tmp_path / "m.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen([sys.executable, "-c", PATCHED, "milter", "--config", str(cfg),
                             "--listen", f"inet:127.0.0.1:{port}"], stdout=log, stderr=log)
    deadline = time.monotonic() + 60
    while not accepts(port):
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)  # polling interval of a bounded wait
    yield port
    proc.terminate()
    proc.wait(20)


def test_a_failing_body_step_passes_the_message_unchanged_with_the_error_header(raising_milter):
    mta = MTA(raising_milter)
    _granted, protocol = mta.negotiate(0x1FF)
    raw = tracker_message(extra="<p>" + "TAIL-OF-THE-MESSAGE " * 50 + "</p>\r\n")
    head, body = raw.split(b"\r\n\r\n", 1)
    cut = body.index(b"<p>TAIL")
    mta.step(protocol, "C", b"mx.example\x004" + b"\x00\x19" + b"127.0.0.1\x00")
    mta.step(protocol, "M", b"<news@shop.example>\x00")
    mta.step(protocol, "R", b"<alice@example.org>\x00")
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        mta.step(protocol, "L", name + b"\x00" + value + b"\x00")
    mta.step(protocol, "B", body[:cut])
    mta.step(protocol, "B", body[cut:])  # lost: the callback raises
    mta.send(b"E")
    mta.sock.settimeout(15)  # Postfix would wait milter_content_timeout (300 s)
    answers = []
    while True:
        try:
            cmd, data = mta.read()
        except TimeoutError:
            pytest.fail("no answer to end of message within 15 s: libmilter dropped it")
        answers.append((cmd, data))
        if cmd in (b"c", b"a", b"t", b"r"):
            break
    mta.close()
    assert answers[-1][0] == b"c", answers  # accepted
    assert not [d for c, d in answers if c == b"b"], "the body must not be replaced"
    (added,) = [d for c, d in answers if c in (b"h", b"i")]
    assert b"X-PixelGuard" in added and b"error; body step failed: MemoryError" in added, added
