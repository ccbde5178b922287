"""A sender's own `X-PixelGuard` headers, removed at the border by the Postfix recipe in
docs/SECURITY.md ("Headers a sender can forge"): a `header_checks` table on the cleanup
service of the port-25 smtpd. Through a real Postfix, in front of the milter and of the relay
(content_filter), the delivered message carries pixelguard's header and not the sender's,
and a forwarded message attached to it keeps its own headers byte for byte."""
from __future__ import annotations

import pytest
from dovecot import listen_port
from milter_harness import MilterProcess
from postfix import Postfix, require_postfix
from relay_harness import (  # noqa: F401 - fixtures
    TRACKER_URL,
    cleaner_fixture,
    inbox,
    relay_factory_fixture,
    swaks,
    wait_for,
)

pytestmark = pytest.mark.e2e

MILTER_PORT = listen_port()
FILTER_PORT = listen_port()

# The recipe as docs/SECURITY.md gives it (the table, and the cleanup service's options).
HEADER_CHECKS = "/^X-PixelGuard(-Original)?:/ IGNORE\n"
CLEANUP_HC = """\
cleanup_hc unix n - n - 0 cleanup
  -o header_checks=regexp:{root}/etc/pixelguard_header_checks
  -o mime_header_checks=
  -o nested_header_checks=
"""
MILTER = [f"smtpd_milters=inet:127.0.0.1:{MILTER_PORT}", "milter_default_action=accept",
          "milter_connect_timeout=3s", "milter_command_timeout=3s", "milter_content_timeout=5s"]

FORWARDED = (
    b"From: Someone <someone@elsewhere.example>\r\n"
    b"Subject: the original\r\n"
    b"X-PixelGuard: removed=2; rules=size\r\n"
    b"\r\n"
    b"Forwarded as it was.\r\n"
)


def forged(msgid: str, to: str) -> bytes:
    """A newsletter with an open pixel that claims, in its own headers, to be cleaned already,
    with a forwarded message attached."""
    return (
        b"X-PixelGuard: removed=0\r\n"
        b"X-PixelGuard-Original: sha256=" + b"0" * 64 + b" run=forged\r\n"
        b"From: News <news@shop.example>\r\n"
        b"To: " + to.encode() + b"\r\n"
        b"Subject: Already cleaned, it says\r\n"
        b"Message-ID: " + msgid.encode() + b"\r\n"
        b"MIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="outer"\r\n'
        b"\r\n"
        b"--outer\r\n"
        b"Content-Type: text/html; charset=utf-8\r\n"
        b"\r\n"
        b"<html><body><p>This week's offers.</p>\r\n"
        b'<img src="' + TRACKER_URL.encode() + b'" width="1" height="1" alt="">\r\n'
        b"</body></html>\r\n"
        b"--outer\r\n"
        b"Content-Type: message/rfc822\r\n"
        b"\r\n" + FORWARDED + b"\r\n"
        b"--outer--\r\n"
    )


def stamps(raw: bytes) -> list[bytes]:
    """The X-PixelGuard* fields of the message's own header block, unfolded."""
    head = raw.split(b"\r\n\r\n", 1)[0].replace(b"\r\n ", b" ").replace(b"\r\n\t", b" ")
    return [line for line in head.split(b"\r\n") if line.lower().startswith(b"x-pixelguard")]


@pytest.fixture(scope="module")
def postfix(dovecot):
    require_postfix()
    hc = ["cleanup_service_name=cleanup_hc"]
    fronts = {
        "milter": MILTER,
        "milter_hc": [*MILTER, *hc],
        # the content_filter front: the border's cleanup strips, the reinjection's (with
        # no_header_body_checks, as docs/relay.md sets it) leaves pixelguard's header alone
        "relay_hc": [f"content_filter=pixelguard:[127.0.0.1]:{FILTER_PORT}", *hc],
    }
    server = Postfix(lmtp_port=dovecot.lmtp_port, filter_port=FILTER_PORT, fronts=fronts,
                     services=CLEANUP_HC, files={"pixelguard_header_checks": HEADER_CHECKS})
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def milter(tmp_path_factory):
    m = MilterProcess(tmp_path_factory.mktemp("milter"), "milter:\n  workers: 1\n", port=MILTER_PORT).start()
    yield m
    m.stop()


def deliver(postfix: Postfix, dovecot, front: str, user: str, tmp_path) -> bytes:
    rcpt = dovecot.new_user(user)
    done = swaks(postfix.ports[front], "--from", "news@shop.example", "--to", rcpt,
                 data=forged(f"<{user}@shop.example>", rcpt), tmp=tmp_path)
    assert done.returncode == 0, done.stdout + postfix.log_tail()
    (delivered,) = wait_for(lambda: inbox(dovecot, rcpt), 30, f"{user}'s copy in Dovecot")
    return delivered


def assert_only_ours(delivered: bytes) -> None:
    assert TRACKER_URL.encode() not in delivered
    (ours,) = stamps(delivered)
    assert ours.startswith(b"X-PixelGuard: removed=1;"), ours
    assert FORWARDED in delivered  # the attached message's own header is not the border's


def test_without_the_recipe_the_senders_stamp_reaches_the_reader(postfix, dovecot, milter, tmp_path):
    delivered = deliver(postfix, dovecot, "milter", "nohc", tmp_path)
    assert TRACKER_URL.encode() not in delivered
    found = stamps(delivered)
    assert b"X-PixelGuard: removed=0" in found and len(found) == 3, found


def test_recipe_before_the_milter_keeps_only_pixelguards_header(postfix, dovecot, milter, tmp_path):
    assert_only_ours(deliver(postfix, dovecot, "milter_hc", "mhc", tmp_path))


def test_recipe_before_the_relay_keeps_only_pixelguards_header(postfix, dovecot, relay_factory, tmp_path):
    relay_factory(
        f'relay:\n  listen: "127.0.0.1:{postfix.filter_port}"\n'
        f'  next_hop: "smtp://127.0.0.1:{postfix.reinject_port}"\n  timeout: 10\n'
    )
    assert_only_ours(deliver(postfix, dovecot, "relay_hc", "rhc", tmp_path))
