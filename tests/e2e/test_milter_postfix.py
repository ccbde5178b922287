"""Postfix (smtpd_milters) -> `pixelguard milter` -> Postfix delivers to Dovecot over LMTP,
with the delivered mail read back over IMAP."""
from __future__ import annotations

import os

import pytest
from dovecot import listen_port
from milter_harness import MilterProcess
from postfix import Postfix, postfix_binary
from relay_harness import TRACKER_URL, inbox, is_cleaned, swaks, tracker_message, wait_for

pytestmark = pytest.mark.e2e

MILTER_PORT = listen_port()
TIMEOUTS = ["milter_connect_timeout=3s", "milter_command_timeout=3s", "milter_content_timeout=5s"]


def milter_front(port: int, default_action: str = "accept") -> list[str]:
    return [f"smtpd_milters=inet:127.0.0.1:{port}", f"milter_default_action={default_action}", *TIMEOUTS]


@pytest.fixture(scope="module")
def postfix(dovecot):
    if os.geteuid() != 0 or postfix_binary() is None:
        reason = "POSTFIX E2E NOT RUN: needs root and the postfix package (scripts/test.sh installs it)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason + " — CI=true, so this is a failure", pytrace=False)
        pytest.skip(reason)
    fronts = {
        "plain": ["smtpd_milters="],
        "milter": milter_front(MILTER_PORT),
        "tempfail": milter_front(MILTER_PORT, "tempfail"),
    }
    server = Postfix(lmtp_port=dovecot.lmtp_port, fronts=fronts).start()
    yield server
    server.stop()


@pytest.fixture
def milter(tmp_path):
    started: list[MilterProcess] = []

    def start(config: str = "") -> MilterProcess:
        m = MilterProcess(tmp_path, "milter: {workers: 1}\n" + config, port=MILTER_PORT).start()
        started.append(m)
        return m

    yield start
    for m in started:
        m.stop()


def send(postfix: Postfix, front: str, rcpts: list[str], data: bytes, tmp_path):
    return swaks(postfix.ports[front], "--from", "news@shop.example", "--to", ",".join(rcpts),
                 data=data, tmp=tmp_path)


def sent_ok(done, postfix: Postfix) -> None:
    assert done.returncode == 0, done.stdout + postfix.log_tail()


CLEAN_MESSAGE = (
    b"From: Shop <news@shop.example>\r\n"
    b"To: someone@example.org\r\n"
    b"Subject: Nothing to remove here\r\n"
    b"Date: Mon, 07 Dec 2026 10:00:00 +0000\r\n"
    b"Message-ID: <clean1@shop.example>\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: multipart/alternative; boundary=\"b1\"\r\n"
    b"\r\n"
    b"--b1\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"\r\n"
    b"Hello, our offers.\r\n"
    b"--b1\r\n"
    b"Content-Type: text/html; charset=utf-8\r\n"
    b"Content-Transfer-Encoding: quoted-printable\r\n"
    b"\r\n"
    b"<html><body><p>Hello,  our offers.</p>\r\n"
    b"<img src=3D\"https://img.shop.example/banner.png\" width=3D\"600\" height=3D\"200\" alt=3D\"Sale\">=\r\n"
    b"</body></html>\r\n"
    b"--b1--\r\n"
)


def as_submitted(delivered: bytes, first_line: bytes) -> bytes:
    """The delivered message from the submitted message's first header on (the trace
    fields Postfix and Dovecot put on top differ per recipient and queue id)."""
    at = delivered.find(first_line)
    assert at >= 0, delivered[:600]
    return delivered[at:]


def test_newsletter_arrives_cleaned_with_notice_and_header(postfix, dovecot, milter, tmp_path):
    m = milter()
    alice = dovecot.new_user("alice")
    message = tracker_message(msgid="<m1@shop.example>", to=alice)
    sent_ok(send(postfix, "milter", [alice], message, tmp_path), postfix)
    (got,) = wait_for(lambda: inbox(dovecot, alice), 30, "alice's copy")
    assert is_cleaned(got), got.decode(errors="replace")
    assert b"X-PixelGuard: removed=1" in got
    assert b"tracker" in got.split(b"\r\n\r\n", 1)[1].lower()  # the reader-facing notice
    # every header field the sender wrote is still there, in order, unchanged
    head = got.split(b"\r\n\r\n", 1)[0]
    sent_head = message.split(b"\r\n\r\n", 1)[0]
    assert sent_head in head, head
    (line,) = wait_for(m.message_lines, 10, "the milter's log line")
    assert "outcome=cleaned" in line and "removed=1" in line and f"rcpts={alice}" in line


def test_message_with_nothing_to_remove_is_byte_identical_to_postfix_alone(postfix, dovecot, milter, tmp_path):
    m = milter()
    alice, bob = dovecot.new_user("alice"), dovecot.new_user("bob")
    sent_ok(send(postfix, "plain", [alice], CLEAN_MESSAGE, tmp_path), postfix)
    sent_ok(send(postfix, "milter", [bob], CLEAN_MESSAGE, tmp_path), postfix)
    (without,) = wait_for(lambda: inbox(dovecot, alice), 30, "the copy Postfix delivers alone")
    (through,) = wait_for(lambda: inbox(dovecot, bob), 30, "the copy through the milter")
    first = b"From: Shop"
    assert as_submitted(through, first) == as_submitted(without, first)
    # (swaks ends the DATA with one more CRLF)
    assert as_submitted(through, first).rstrip(b"\r\n") == CLEAN_MESSAGE.rstrip(b"\r\n")
    (line,) = wait_for(m.message_lines, 10, "the milter's log line")
    assert "outcome=unchanged" in line
