"""Postfix (smtpd_milters) -> `pixelguard milter` -> Postfix delivers to Dovecot over LMTP,
with the delivered mail read back over IMAP."""
from __future__ import annotations

import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from dovecot import listen_port
from milter_harness import MilterProcess, accepts
from postfix import Postfix, require_postfix
from relay_harness import TRACKER_URL, inbox, is_cleaned, swaks, tracker_message, wait_for

pytestmark = pytest.mark.e2e

MILTER_PORT = listen_port()
TINY_PORT = listen_port()
TIMEOUTS = ["milter_connect_timeout=3s", "milter_command_timeout=3s", "milter_content_timeout=5s"]


def milter_front(port: int, default_action: str = "accept") -> list[str]:
    return [f"smtpd_milters=inet:127.0.0.1:{port}", f"milter_default_action={default_action}", *TIMEOUTS]


@pytest.fixture(scope="module")
def postfix(dovecot):
    require_postfix()
    fronts = {
        "plain": ["smtpd_milters="],
        "milter": milter_front(MILTER_PORT),
        "tempfail": milter_front(MILTER_PORT, "tempfail"),
        # another milter before ours (as rspamd or OpenDKIM would be), and that one alone
        "two": [f"smtpd_milters=inet:127.0.0.1:{TINY_PORT},inet:127.0.0.1:{MILTER_PORT}",
                "milter_default_action=tempfail", *TIMEOUTS],
        "tiny": [f"smtpd_milters=inet:127.0.0.1:{TINY_PORT}", "milter_default_action=tempfail", *TIMEOUTS],
    }
    server = Postfix(lmtp_port=dovecot.lmtp_port, fronts=fronts).start()
    yield server
    server.stop()


@pytest.fixture
def milter(tmp_path):
    started: list[MilterProcess] = []

    def start(config: str = "", milter_keys: str = "") -> MilterProcess:
        m = MilterProcess(tmp_path, "milter:\n  workers: 1\n" + milter_keys + config, port=MILTER_PORT).start()
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


def test_metrics_count_messages_and_trackers_with_the_relays_names(postfix, dovecot, milter, tmp_path):
    port = listen_port()
    milter(milter_keys=f'  metrics: "127.0.0.1:{port}"\n')
    alice = dovecot.new_user("alice")
    sent_ok(send(postfix, "milter", [alice], tracker_message(msgid="<mx1@shop.example>", to=alice), tmp_path), postfix)
    sent_ok(send(postfix, "milter", [alice], CLEAN_MESSAGE, tmp_path), postfix)
    wait_for(lambda: len(inbox(dovecot, alice)) == 2, 30, "both copies")
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    assert 'pixelguard_milter_messages_total{outcome="cleaned"} 1.0' in text
    assert 'pixelguard_milter_messages_total{outcome="unchanged"} 1.0' in text
    assert 'pixelguard_relay_trackers_removed_total{rule="url-shape",vendor=""} 1.0' in text
    assert "pixelguard_relay_message_seconds_count 2.0" in text


# ------------------------------------------------------------------ failure behaviour


def established_to(port: int) -> bool:
    """A TCP connection to the milter port is open (Postfix has connected to it)."""
    out = subprocess.run(["ss", "-Htn", "state", "established", f"( dport = :{port} )"],
                         capture_output=True, text=True, timeout=10, check=False).stdout
    return bool(out.strip())


def send_in_background(postfix: Postfix, front: str, rcpts: list[str], data: bytes, tmp_path):
    path = tmp_path / "bg-message.eml"
    path.write_bytes(data)
    return subprocess.Popen(
        ["swaks", "--server", f"127.0.0.1:{postfix.ports[front]}", "--timeout", "60",
         "--from", "news@shop.example", "--to", ",".join(rcpts), "--data", f"@{path}"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )


def test_milter_killed_mid_message_follows_default_action_accept(postfix, dovecot, milter, tmp_path):
    m = milter()
    alice = dovecot.new_user("alice")
    m.signal(signal.SIGSTOP)  # Postfix connects and waits for an answer that never comes...
    client = send_in_background(postfix, "milter", [alice], tracker_message(msgid="<k1@shop.example>", to=alice), tmp_path)
    wait_for(lambda: established_to(m.port), 30, "Postfix to connect to the milter")
    m.signal(signal.SIGKILL)  # ...and the milter crashes
    out, _ = client.communicate(timeout=90)
    assert client.returncode == 0, out + postfix.log_tail()
    (got,) = wait_for(lambda: inbox(dovecot, alice), 30, "alice's copy")
    # milter_default_action=accept: delivered as sent, nothing lost, nothing half-edited
    assert TRACKER_URL.encode() in got and b"X-PixelGuard" not in got
    assert b"<k1@shop.example>" in got


def test_milter_down_with_default_action_tempfail_defers_then_delivers_cleaned(postfix, dovecot, milter, tmp_path):
    m = milter()
    alice = dovecot.new_user("alice")
    message = tracker_message(msgid="<t1@shop.example>", to=alice)
    m.signal(signal.SIGKILL)
    m.proc.wait(10)
    done = send(postfix, "tempfail", [alice], message, tmp_path)
    assert done.returncode != 0 and "\n<** 451" in done.stdout, done.stdout  # the client keeps it
    milter()  # back up: the client's retry goes through, cleaned
    sent_ok(send(postfix, "tempfail", [alice], message, tmp_path), postfix)
    (got,) = wait_for(lambda: inbox(dovecot, alice), 30, "alice's copy")
    assert is_cleaned(got)
    assert len(inbox(dovecot, alice)) == 1


def test_milter_timeout_follows_default_action_accept(postfix, dovecot, milter, tmp_path):
    m = milter()
    alice = dovecot.new_user("alice")
    m.signal(signal.SIGSTOP)  # answers nothing: Postfix's milter timeouts (3-5 s) expire
    try:
        done = send(postfix, "milter", [alice], tracker_message(msgid="<to1@shop.example>", to=alice), tmp_path)
    finally:
        m.signal(signal.SIGCONT)
    sent_ok(done, postfix)
    (got,) = wait_for(lambda: inbox(dovecot, alice), 30, "alice's copy")
    assert TRACKER_URL.encode() in got and b"X-PixelGuard" not in got
    port = f"milter inet:127.0.0.1:{m.port}"
    wait_for(lambda: any(port in ln and "timed out" in ln for ln in postfix.log_tail(400).splitlines()),
             30, "Postfix's log of the milter timeout")


def test_message_over_max_size_passes_unchanged_with_error_header(postfix, dovecot, milter, tmp_path):
    m = milter(milter_keys="  max_size: 2000\n")
    alice = dovecot.new_user("alice")
    padding = ("<p>" + "x" * 70 + "</p>\r\n") * 40
    message = tracker_message(msgid="<big1@shop.example>", to=alice, extra=padding)
    sent_ok(send(postfix, "milter", [alice], message, tmp_path), postfix)
    (got,) = wait_for(lambda: inbox(dovecot, alice), 30, "alice's copy")
    assert b"X-PixelGuard: error; message larger than max_size" in got
    body = got.split(b"\r\n\r\n", 1)[1]
    assert body.rstrip(b"\r\n") == message.split(b"\r\n\r\n", 1)[1].rstrip(b"\r\n")
    (line,) = wait_for(m.message_lines, 10, "the milter's log line")
    assert "outcome=oversize" in line


def test_cleaning_past_the_milter_timeout_passes_unchanged_with_error_header(postfix, dovecot, milter, tmp_path):
    m = milter(milter_keys="  timeout: 0.000001\n")  # no cleaning answers that fast
    alice = dovecot.new_user("alice")
    message = tracker_message(msgid="<slow1@shop.example>", to=alice)
    sent_ok(send(postfix, "milter", [alice], message, tmp_path), postfix)
    (got,) = wait_for(lambda: inbox(dovecot, alice), 30, "alice's copy")
    assert b"X-PixelGuard: error; cleaning took longer than" in got
    body = got.split(b"\r\n\r\n", 1)[1]
    assert body.rstrip(b"\r\n") == message.split(b"\r\n\r\n", 1)[1].rstrip(b"\r\n")
    (line,) = wait_for(m.message_lines, 10, "the milter's log line")
    assert "outcome=timeout" in line


# ------------------------------------------------------------------ several recipients


def test_two_recipients_get_the_strictest_combination_of_their_policies(postfix, dovecot, milter, tmp_path):
    alice, bob = dovecot.new_user("alice"), dovecot.new_user("bob")
    # bob allows the tracker's host; alice does not
    m = milter(f"users:\n  {bob}:\n    allow: {{hosts: [127.0.0.1]}}\n")
    sent_ok(send(postfix, "milter", [bob], tracker_message(msgid="<r1@shop.example>", to=bob), tmp_path), postfix)
    (alone,) = wait_for(lambda: inbox(dovecot, bob), 30, "bob's own copy")
    assert TRACKER_URL.encode() in alone and b"X-PixelGuard" not in alone  # bob's policy, alone
    both = tracker_message(msgid="<r2@shop.example>", to=alice)
    sent_ok(send(postfix, "milter", [alice, bob], both, tmp_path), postfix)
    wait_for(lambda: len(inbox(dovecot, bob)) == 2, 30, "bob's second copy")
    (to_alice,) = wait_for(lambda: inbox(dovecot, alice), 30, "alice's copy")
    to_bob = next(x for x in inbox(dovecot, bob) if b"<r2@shop.example>" in x)
    # one copy for both: the host bob allows but alice does not is removed for both
    assert is_cleaned(to_alice) and is_cleaned(to_bob)
    assert as_submitted(to_alice, b"X-PixelGuard") == as_submitted(to_bob, b"X-PixelGuard")
    lines = wait_for(lambda: len(m.message_lines()) == 2 and m.message_lines(), 10, "two log lines")
    assert f"rcpts={alice},{bob}" in lines[1] and "outcome=cleaned" in lines[1]


# ------------------------------------------------------------------ another milter first

VERIFIER_RESULT = "Authentication-Results: mx.test.example; dkim=pass header.d=shop.example"


@pytest.fixture(scope="module")
def tiny_milter(tmp_path_factory):
    """The second milter, adding VERIFIER_RESULT (as a DKIM verifier before us would). It keeps
    nothing between messages, so the module's tests share one, killed at the end (libmilter's
    own stop on SIGTERM takes up to 5 s)."""
    tmp = tmp_path_factory.mktemp("tiny")
    log = open(tmp / "tiny.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen([sys.executable, str(Path(__file__).with_name("tiny_milter.py")),
                             str(TINY_PORT), VERIFIER_RESULT], stdout=log, stderr=log, start_new_session=True)
    try:
        wait_for(lambda: accepts(TINY_PORT) or proc.poll() is not None, 30, "the tiny milter")
        assert proc.poll() is None, (tmp / "tiny.log").read_text()
        yield proc
    finally:
        proc.kill()
        proc.wait(20)
        log.close()


def test_after_another_milter_the_newsletter_is_cleaned_and_its_header_kept(
        postfix, dovecot, milter, tiny_milter, tmp_path):
    milter()
    alice = dovecot.new_user("alice")
    sent_ok(send(postfix, "two", [alice], tracker_message(msgid="<o1@shop.example>", to=alice), tmp_path), postfix)
    (got,) = wait_for(lambda: inbox(dovecot, alice), 30, "alice's copy")
    assert is_cleaned(got)
    assert VERIFIER_RESULT.encode() + b"\r\n" in got  # the other milter's field, as it wrote it


def test_after_another_milter_nothing_to_remove_is_byte_identical_to_that_milter_alone(
        postfix, dovecot, milter, tiny_milter, tmp_path):
    milter()
    alice, bob = dovecot.new_user("alice"), dovecot.new_user("bob")
    sent_ok(send(postfix, "tiny", [alice], CLEAN_MESSAGE, tmp_path), postfix)
    sent_ok(send(postfix, "two", [bob], CLEAN_MESSAGE, tmp_path), postfix)
    (without,) = wait_for(lambda: inbox(dovecot, alice), 30, "the copy through the other milter alone")
    (through,) = wait_for(lambda: inbox(dovecot, bob), 30, "the copy through both")
    for copy in (without, through):
        assert VERIFIER_RESULT.encode() + b"\r\n" in copy
    first = b"From: Shop"
    assert as_submitted(through, first) == as_submitted(without, first)
    assert b"X-PixelGuard" not in through


def test_pixelguard_sees_the_result_the_milter_before_it_added(postfix, dovecot, milter, tiny_milter, tmp_path):
    # The sender is allowed only with a trusted authentication pass, which only the milter
    # before ours supplies: the tracker is kept only if pixelguard saw that milter's field.
    m = milter("defaults:\n  allow: {senders: [shop.example]}\n"
               "auth:\n  trusted_authserv_ids: [mx.test.example]\n  verify_dkim: false\n")
    alice, bob = dovecot.new_user("alice"), dovecot.new_user("bob")
    sent_ok(send(postfix, "milter", [alice], tracker_message(msgid="<a1@shop.example>", to=alice), tmp_path), postfix)
    sent_ok(send(postfix, "two", [bob], tracker_message(msgid="<a2@shop.example>", to=bob), tmp_path), postfix)
    (alone,) = wait_for(lambda: inbox(dovecot, alice), 30, "the copy through pixelguard alone")
    (after,) = wait_for(lambda: inbox(dovecot, bob), 30, "the copy through both")
    assert is_cleaned(alone)  # no trusted result: the allowed sender does not count
    assert TRACKER_URL.encode() in after and b"X-PixelGuard" not in after
    wait_for(lambda: len(m.message_lines()) == 2, 10, "two log lines")
