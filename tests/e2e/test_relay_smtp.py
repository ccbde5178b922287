"""The relay between real SMTP clients (smtplib, swaks) and a real aiosmtpd next hop.

Each test reads what the next hop stored; the relay's 250 must mean the next hop has it.
"""
from __future__ import annotations

import dataclasses
import logging
import smtplib
import socket
import threading
import urllib.request

import pytest
from relay_harness import (  # noqa: F401 - fixtures
    TRACKER_URL,
    NextHopServer,
    cleaner_fixture,
    is_cleaned,
    message_id,
    next_hop_fixture,
    relay_config,
    relay_factory_fixture,
    send,
    swaks,
    tracker_message,
    wait_for,
)

from pixelguard.config import parse_config
from pixelguard.relay.cleaning import Cleaner
from pixelguard.relay.setup import SetupError, build_settings

pytestmark = pytest.mark.e2e

TWO_POLICIES = """
users:
  bob@example.org:
    allow: {hosts: [127.0.0.1]}
"""


# ---------------------------------------------------------------------------- happy paths


def test_swaks_message_is_cleaned_and_250_only_after_next_hop_has_it(next_hop, relay_factory, tmp_path):
    relay = relay_factory(relay_config(next_hop.url))
    done = swaks(relay.port, "--from", "news@shop.example", "--to", "alice@example.org",
                 data=tracker_message(), tmp=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "<-  250 2.0.0 Ok: queued" in done.stdout
    (got,) = next_hop.received
    assert got.rcpts == ["alice@example.org"] and got.sender == "news@shop.example"
    assert is_cleaned(got.content)


def test_recipients_with_different_policies_each_get_their_own_cleaning(next_hop, relay_factory):
    relay = relay_factory(relay_config(next_hop.url, rest=TWO_POLICIES))
    with smtplib.SMTP("127.0.0.1", relay.port, timeout=30) as client:
        # one policy group per SMTP transaction: bob is for a new one (452 4.5.3)
        refused = client.sendmail("news@shop.example", ["alice@example.org", "bob@example.org"], tracker_message())
        assert list(refused) == ["bob@example.org"], refused
        assert refused["bob@example.org"][0] == 452 and refused["bob@example.org"][1].startswith(b"4.5.3 "), refused
        assert client.sendmail("news@shop.example", ["bob@example.org"], tracker_message()) == {}
    (to_alice,) = next_hop.by_rcpt("alice@example.org")
    (to_bob,) = next_hop.by_rcpt("bob@example.org")
    assert to_alice is not to_bob
    assert is_cleaned(to_alice.content)
    # bob allows 127.0.0.1: his copy keeps the image, byte for byte
    assert TRACKER_URL.encode() in to_bob.content
    assert to_bob.content == tracker_message()


def test_recipients_sharing_a_policy_share_one_cleaned_copy(next_hop, relay_factory):
    relay = relay_factory(relay_config(next_hop.url, rest=TWO_POLICIES))
    out = send(relay.port, "news@shop.example", ["alice@example.org", "carol@example.org"], tracker_message())
    assert out.data[0] == 250
    (copy,) = next_hop.received
    assert copy.rcpts == ["alice@example.org", "carol@example.org"]
    assert is_cleaned(copy.content)


def test_null_sender_is_relayed_as_null_sender(next_hop, relay_factory):
    relay = relay_factory(relay_config(next_hop.url))
    out = send(relay.port, "", ["alice@example.org"], tracker_message())
    assert out.data[0] == 250
    (got,) = next_hop.received
    assert got.sender in ("", "<>")  # aiosmtpd reports the null sender as "<>"


def test_smtputf8_addresses_are_relayed(next_hop, relay_factory):
    relay = relay_factory(relay_config(next_hop.url))
    out = send(relay.port, "jörg@bücher.example", ["zoë@example.org"], tracker_message(),
               mail_options=("SMTPUTF8",))
    assert out.rcpt["zoë@example.org"][0] == 250 and out.data[0] == 250, out
    (got,) = next_hop.received
    assert got.sender == "jörg@bücher.example" and got.rcpts == ["zoë@example.org"]
    assert "SMTPUTF8" in got.mail_options


def test_a_non_ascii_sender_without_smtputf8_is_refused_for_good_at_mail(next_hop, relay_factory):
    # Without SMTPUTF8 the address cannot be sent on; a 4xx (our own error) would make the
    # client retry for days. RCPT already answers 553 5.6.7; MAIL must too.
    relay = relay_factory(relay_config(next_hop.url))
    with socket.create_connection(("127.0.0.1", relay.port), timeout=10) as sock:
        f = sock.makefile("rb")

        def reply() -> bytes:
            lines = [f.readline()]
            while lines[-1][3:4] == b"-":
                lines.append(f.readline())
            return lines[-1]

        assert reply().startswith(b"220")
        sock.sendall(b"EHLO client.example\r\n")
        assert reply().startswith(b"250")
        sock.sendall("MAIL FROM:<jörg@bücher.example>\r\n".encode())
        answer = reply()
        assert answer.startswith(b"553 5.6.7"), answer
        sock.sendall(b"MAIL FROM:<a@example.org>\r\n")  # the session goes on
        assert reply().startswith(b"250")
        sock.sendall(b"QUIT\r\n")
    assert next_hop.received == []


def test_8bit_body_and_lines_over_1000_bytes_arrive_byte_identical(next_hop, relay_factory):
    relay = relay_factory(relay_config(next_hop.url))
    long_line = "ä" * 3000  # 6000 bytes of UTF-8 on one line
    raw = (
        "From: a@example.org\r\nTo: alice@example.org\r\nSubject: long\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        f"{long_line}\r\n.leading dot stays\r\n"
    ).encode()
    out = send(relay.port, "a@example.org", ["alice@example.org"], raw, mail_options=("BODY=8BITMIME",))
    assert out.data[0] == 250, out
    (got,) = next_hop.received
    assert got.content == raw  # nothing to clean: byte-identical, long line and dot intact
    assert "BODY=8BITMIME" in got.mail_options


def test_size_limit_is_announced_in_ehlo_and_enforced(next_hop, relay_factory):
    relay = relay_factory(relay_config(next_hop.url, extra_relay="  max_size: 2000\n"))
    with smtplib.SMTP("127.0.0.1", relay.port, timeout=10) as client:
        client.ehlo()
        assert client.esmtp_features.get("size") == "2000"
        assert "8bitmime" in client.esmtp_features and "smtputf8" in client.esmtp_features
    out = send(relay.port, "a@example.org", ["alice@example.org"], tracker_message(extra="x" * 3000))
    assert out.data[0] == 552
    assert next_hop.received == []


# ---------------------------------------------------------------------------- faults


def test_next_hop_down_defers_each_recipient_then_retry_delivers_once(relay_factory, caplog):
    hop = NextHopServer()  # not started: nothing listens on its port
    relay = relay_factory(relay_config(hop.url))
    with caplog.at_level(logging.INFO, logger="pixelguard.relay"):
        out = send(relay.port, "news@shop.example", ["alice@example.org", "carol@example.org"], tracker_message())
        wait_for(lambda: any("outcome=deferred" in r.getMessage() for r in caplog.records), 10, "the log line")
    (line,) = [r.getMessage() for r in caplog.records if "outcome=deferred" in r.getMessage()]
    assert "refused=\"alice@example.org: 451 4.4.1" in line
    assert [c for c, _ in out.rcpt.values()] == [451, 451], out
    assert b"4.4.1" in out.rcpt["alice@example.org"][1]
    assert out.data is None
    hop.start()
    try:
        out = send(relay.port, "news@shop.example", ["alice@example.org", "carol@example.org"], tracker_message())
        assert out.data[0] == 250
        assert len(hop.received) == 1 and hop.received[0].rcpts == ["alice@example.org", "carol@example.org"]
    finally:
        hop.stop()


@pytest.mark.parametrize("code", ["450 4.2.1 mailbox busy", "550 5.1.1 no such user"])
def test_next_hop_refusing_one_recipient_is_passed_on_for_that_recipient(next_hop, relay_factory, code):
    relay = relay_factory(relay_config(next_hop.url))
    next_hop.rcpt_replies["bob@example.org"] = code
    rcpts = ["alice@example.org", "bob@example.org"]
    out = send(relay.port, "news@shop.example", rcpts, tracker_message())
    assert out.rcpt["alice@example.org"][0] == 250
    assert out.rcpt["bob@example.org"] == (int(code[:3]), code[4:].encode())
    assert out.data[0] == 250
    assert [r.rcpts for r in next_hop.received] == [["alice@example.org"]]
    # the client retries only the deferred recipient; after recovery it arrives exactly once
    next_hop.heal()
    out = send(relay.port, "news@shop.example", ["bob@example.org"], tracker_message())
    assert out.data[0] == 250
    assert len(next_hop.by_rcpt("bob@example.org")) == 1
    assert len(next_hop.by_rcpt("alice@example.org")) == 1


@pytest.mark.parametrize("reply", ["451 4.3.0 try later", "554 5.6.0 content refused"])
def test_next_hop_refusing_data_is_passed_on_then_retry_delivers_once(next_hop, relay_factory, reply):
    relay = relay_factory(relay_config(next_hop.url))
    next_hop.data_reply = reply
    out = send(relay.port, "news@shop.example", ["alice@example.org"], tracker_message())
    assert out.data[0] == int(reply[:3])
    assert reply[4:].encode() in out.data[1]
    assert next_hop.received == []
    next_hop.heal()
    out = send(relay.port, "news@shop.example", ["alice@example.org"], tracker_message())
    assert out.data[0] == 250
    assert len(next_hop.received) == 1


@pytest.mark.parametrize("reply, expect", [
    ("554 5.5.1 no valid recipients", 554),
    ("451 4.3.0 busy", 451),
    ("250 2.0.0 sure", 451),  # a 250 to the DATA command itself: no message was taken
])
def test_next_hop_refusing_the_data_command_is_passed_on_then_retry_delivers_once(
        next_hop, relay_factory, reply, expect):
    relay = relay_factory(relay_config(next_hop.url))
    next_hop.data_command_reply = reply
    out = send(relay.port, "news@shop.example", ["alice@example.org"], tracker_message(msgid="<d1@x>"))
    assert out.data[0] == expect, out
    assert next_hop.received == []
    next_hop.heal()
    out = send(relay.port, "news@shop.example", ["alice@example.org"], tracker_message(msgid="<d2@x>"))
    assert out.data[0] == 250
    assert [message_id(r.content) for r in next_hop.received] == ["<d2@x>"]
    assert is_cleaned(next_hop.received[0].content)


def test_next_hop_closing_mid_data_defers_then_retry_delivers_once(next_hop, relay_factory):
    relay = relay_factory(relay_config(next_hop.url))
    next_hop.close_in_data = True
    out = send(relay.port, "news@shop.example", ["alice@example.org"], tracker_message())
    assert out.data[0] == 451, out
    assert next_hop.received == []
    next_hop.heal()
    out = send(relay.port, "news@shop.example", ["alice@example.org"], tracker_message())
    assert out.data[0] == 250
    assert len(next_hop.received) == 1


def test_next_hop_slower_than_timeout_defers_then_retry_delivers_once(next_hop, relay_factory):
    relay = relay_factory(relay_config(next_hop.url, timeout=1))
    next_hop.data_delay = 30
    out = send(relay.port, "news@shop.example", ["alice@example.org"], tracker_message())
    assert out.data[0] == 451 and b"timed out" in out.data[1], out
    next_hop.heal()
    # the retry through a relay with the default timeout: 1 s for every step of a good
    # delivery would fail it on a loaded machine, not for anything the relay did wrong
    relay = relay_factory(relay_config(next_hop.url))
    out = send(relay.port, "news@shop.example", ["alice@example.org"], tracker_message())
    assert out.data[0] == 250
    assert len(next_hop.received) == 1  # the slow attempt was abandoned, not stored late


def test_core_failure_forwards_the_message_unchanged_with_error_header(next_hop, relay_factory, monkeypatch):
    def broken(raw, policy):
        raise RuntimeError("boom")

    # the core as the relay's cleaning calls it (through trust.clean_with_trust), in-thread
    monkeypatch.setattr("pixelguard.trust.clean_message", broken)
    relay = relay_factory(relay_config(next_hop.url), cleaner=Cleaner(workers=0))
    out = send(relay.port, "news@shop.example", ["alice@example.org"], tracker_message())
    assert out.data[0] == 250
    (got,) = next_hop.received
    assert got.content.startswith(b"X-PixelGuard: error; ")
    assert got.content.endswith(tracker_message())  # otherwise untouched


def test_relay_bug_answers_451_never_5xx_and_delivers_nothing(next_hop, relay_factory, monkeypatch):
    relay = relay_factory(relay_config(next_hop.url))

    def bug_at_rcpt(addr):
        raise KeyError("bug")

    handler = relay.server.handler
    monkeypatch.setattr(handler, "runtime", dataclasses.replace(handler.runtime, policy_for=bug_at_rcpt))
    out = send(relay.port, "news@shop.example", ["alice@example.org"], tracker_message())
    assert out.rcpt["alice@example.org"][0] == 451 and b"4.3.0" in out.rcpt["alice@example.org"][1]
    monkeypatch.undo()

    async def bug_at_data(raw, policy, auth=None):
        raise ValueError("bug")

    monkeypatch.setattr(relay.server.handler.cleaner, "clean", bug_at_data)
    out = send(relay.port, "news@shop.example", ["alice@example.org"], tracker_message())
    assert out.data[0] == 451 and b"internal error" in out.data[1]
    assert next_hop.received == []


# ---------------------------------------------------------------------------- operations


def test_cleaning_runs_off_the_event_loop(next_hop, relay_factory, monkeypatch):
    release = threading.Event()
    started = threading.Event()
    from pixelguard.relay import cleaning

    real = cleaning.clean_or_mark

    def slow_clean(raw, policy):
        started.set()
        assert release.wait(30)
        return real(raw, policy)

    monkeypatch.setattr(cleaning, "clean_or_mark", slow_clean)
    relay = relay_factory(relay_config(next_hop.url), cleaner=Cleaner(workers=0))
    results = {}
    first = threading.Thread(
        target=lambda: results.setdefault("out", send(relay.port, "a@example.org", ["alice@example.org"], tracker_message()))
    )
    first.start()
    try:
        assert started.wait(10)
        # while a message is being cleaned, another session is served promptly
        # (a blocked loop would not answer before the clean is released, 30 s on)
        with smtplib.SMTP("127.0.0.1", relay.port, timeout=15) as other:
            assert other.ehlo()[0] == 250
            assert other.noop()[0] == 250
    finally:
        release.set()
        first.join(30)
    assert results["out"].data[0] == 250


def test_connection_limit_turns_away_extra_clients_with_421(next_hop, relay_factory):
    relay = relay_factory(relay_config(next_hop.url, extra_relay="  max_connections: 2\n"))
    clients = [smtplib.SMTP("127.0.0.1", relay.port, timeout=5) for _ in range(2)]
    try:
        with socket.create_connection(("127.0.0.1", relay.port), timeout=5) as third:
            assert third.recv(200).startswith(b"421 4.7.0")
        for c in clients:
            assert c.noop()[0] == 250
    finally:
        for c in clients:
            c.quit()


def test_idle_client_is_disconnected_after_timeout(next_hop, relay_factory):
    relay = relay_factory(relay_config(next_hop.url, timeout=1))
    with socket.create_connection(("127.0.0.1", relay.port), timeout=10) as s:
        assert s.recv(200).startswith(b"220")
        assert s.recv(200) == b""  # closed by the relay within the socket timeout


def test_refuses_to_listen_off_loopback_without_allow_networks():
    cfg = parse_config('relay:\n  listen: "0.0.0.0:10025"\n')
    with pytest.raises(SetupError, match="allow_networks"):
        build_settings(cfg.relay)
    cfg = parse_config('relay:\n  listen: "0.0.0.0:10025"\n  allow_networks: [192.0.2.0/24]\n')
    assert build_settings(cfg.relay).host == "0.0.0.0"


def test_clients_outside_allow_networks_are_refused(next_hop, relay_factory):
    relay = relay_factory(relay_config(next_hop.url, extra_relay="  allow_networks: [192.0.2.0/24]\n"))
    server = relay.server
    assert server.admit(("192.0.2.7", 4000), 1) is None
    assert server.admit(("198.51.100.1", 4000), 1).startswith("554 5.7.1")
    assert server.admit(("::ffff:192.0.2.7", 4000, 0, 0), 1) is None
    assert server.admit(("127.0.0.1", 4000), 1) is None


def test_one_structured_log_line_per_message(next_hop, relay_factory, caplog):
    relay = relay_factory(relay_config(next_hop.url))
    with caplog.at_level(logging.INFO, logger="pixelguard.relay"):
        out = send(relay.port, "news@shop.example", ["alice@example.org"], tracker_message())
    assert out.data[0] == 250
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("msg=message ")]
    assert len(lines) == 1
    line = lines[0]
    for part in ("id=", "sender=<news@shop.example>", "rcpts=alice@example.org", "outcome=delivered",
                 "nexthop=\"alice@example.org: 250 2.0.0 Ok: queued", " ms="):
        assert part in line, line
    assert "trackers=0 " not in line  # the pixel was counted


def test_metrics_endpoint_counts_messages_trackers_and_next_hop_errors(next_hop, relay_factory):
    relay = relay_factory(relay_config(next_hop.url, extra_relay='  metrics: "127.0.0.1:0"\n'))
    send(relay.port, "news@shop.example", ["alice@example.org"], tracker_message())
    next_hop.data_reply = "451 4.3.0 later"
    send(relay.port, "news@shop.example", ["alice@example.org"], tracker_message())
    url = f"http://127.0.0.1:{relay.server.metrics_port}/metrics"
    text = urllib.request.urlopen(url, timeout=10).read().decode()
    assert 'pixelguard_relay_messages_total{outcome="delivered"} 1.0' in text
    assert 'pixelguard_relay_messages_total{outcome="deferred"} 1.0' in text
    assert 'pixelguard_relay_nexthop_errors_total{reply="4xx",stage="data"} 1.0' in text
    assert "pixelguard_relay_message_seconds_count 2.0" in text
    assert "pixelguard_relay_trackers_removed_total{" in text
    with smtplib.SMTP("127.0.0.1", relay.port, timeout=10) as open_session:
        open_session.noop()
        text = urllib.request.urlopen(url, timeout=10).read().decode()
    assert "pixelguard_relay_connections 1.0" in text


def test_graceful_shutdown_finishes_the_transaction_in_flight(next_hop, relay_factory):
    relay = relay_factory(relay_config(next_hop.url))
    client = smtplib.SMTP("127.0.0.1", relay.port, timeout=10)
    idle = smtplib.SMTP("127.0.0.1", relay.port, timeout=10)
    client.ehlo()
    assert client.mail("news@shop.example")[0] == 250
    assert client.rcpt("alice@example.org")[0] == 250
    stopped = {}
    stopper = threading.Thread(target=lambda: stopped.setdefault("clean", relay.stop(grace=20)))
    stopper.start()
    # the idle session is told 421 and closed; new clients are no longer accepted
    wait_for(lambda: idle.sock.recv(200).startswith(b"421 4.3.2"), 10, "421 to the idle session")
    wait_for(lambda: _refused(relay.port), 10, "listener closed")
    assert client.data(tracker_message())[0] == 250
    stopper.join(30)
    assert stopped["clean"] is True
    (got,) = next_hop.received
    assert is_cleaned(got.content)


def _refused(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
            return s.recv(200).startswith(b"421")
    except OSError:
        return True


# ---------------------------------------------------------------------------- LMTP in


def test_lmtp_listener_answers_each_recipient_after_data(next_hop, relay_factory):
    relay = relay_factory(relay_config(next_hop.url, extra_relay="  protocol: lmtp\n", rest=TWO_POLICIES))
    next_hop.rcpt_replies["dave@example.org"] = "550 5.1.1 no such user"
    rcpts = ["alice@example.org", "dave@example.org", "bob@example.org"]
    out = send(relay.port, "news@shop.example", rcpts, tracker_message(), lmtp=True)
    assert out.rcpt["dave@example.org"][0] == 550
    assert [c for c, _ in out.data_replies] == [250, 250]  # alice, bob
    assert is_cleaned(next_hop.by_rcpt("alice@example.org")[0].content)
    assert not is_cleaned(next_hop.by_rcpt("bob@example.org")[0].content)


def test_different_outcomes_per_policy_group(next_hop, relay_factory):
    """The next hop refuses only the cleaned copy: LMTP says so per recipient in one
    transaction; SMTP takes bob in a transaction of his own, so each gets his own reply."""

    async def refuse_cleaned(server, session, envelope):
        if b"X-PixelGuard" in envelope.original_content:
            return "554 5.6.0 cleaned copy refused"
        return await NextHopServer.handle_DATA(next_hop, server, session, envelope)

    next_hop.handle_DATA = refuse_cleaned
    lmtp = relay_factory(relay_config(next_hop.url, extra_relay="  protocol: lmtp\n", rest=TWO_POLICIES))
    out = send(lmtp.port, "news@shop.example", ["alice@example.org", "bob@example.org"], tracker_message(), lmtp=True)
    assert [c for c, _ in out.data_replies] == [554, 250]
    assert len(next_hop.by_rcpt("bob@example.org")) == 1 and next_hop.by_rcpt("alice@example.org") == []
    smtp = relay_factory(relay_config(next_hop.url, rest=TWO_POLICIES))
    out = send(smtp.port, "news@shop.example", ["alice@example.org", "bob@example.org"], tracker_message())
    assert out.rcpt["alice@example.org"][0] == 250
    assert out.rcpt["bob@example.org"][0] == 452 and out.rcpt["bob@example.org"][1].startswith(b"4.5.3 "), out
    assert out.data == (554, b"5.6.0 cleaned copy refused")  # alice's own outcome, nothing mixed in
    out = send(smtp.port, "news@shop.example", ["bob@example.org"], tracker_message())
    assert out.data[0] == 250
    assert len(next_hop.by_rcpt("bob@example.org")) == 2 and next_hop.by_rcpt("alice@example.org") == []


# ---------------------------------------------------------------------------- TLS and AUTH


def test_listening_side_starttls_and_auth(next_hop, relay_factory, tmp_path, monkeypatch):
    from relay_harness import make_cert

    cert, key = make_cert(tmp_path)
    monkeypatch.setenv("PG_TEST_RELAY_PW", "s3cret")
    extra = (
        f"  tls_cert: {cert}\n  tls_key: {key}\n"
        "  auth_users:\n    postfix:\n      password_env: PG_TEST_RELAY_PW\n"
    )
    relay = relay_factory(relay_config(next_hop.url, extra_relay=extra))
    ok = swaks(relay.port, "--from", "news@shop.example", "--to", "alice@example.org", "-tls",
               "-a", "PLAIN", "-au", "postfix", "-ap", "s3cret", data=tracker_message(), tmp=tmp_path)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert len(next_hop.received) == 1
    no_auth = swaks(relay.port, "--from", "news@shop.example", "--to", "alice@example.org", "-tls",
                    data=tracker_message(), tmp=tmp_path)
    assert no_auth.returncode != 0 and "530" in no_auth.stdout
    bad = swaks(relay.port, "--from", "news@shop.example", "--to", "alice@example.org", "-tls",
                "-a", "PLAIN", "-au", "postfix", "-ap", "wrong", data=tracker_message(), tmp=tmp_path)
    assert bad.returncode != 0 and "535" in bad.stdout
    assert len(next_hop.received) == 1


def test_next_hop_starttls_verifies_certificates_and_authenticates(relay_factory, tmp_path, monkeypatch):
    import ssl

    from relay_harness import auth_users, make_cert

    cert, key = make_cert(tmp_path)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    hop = NextHopServer(tls_context=ctx, require_starttls=True, auth_required=True,
                        authenticator=auth_users({"relay": "hop-pw"})).start()
    try:
        monkeypatch.setenv("PG_TEST_HOP_PW", "hop-pw")
        auth = "  next_hop_auth: {username: relay, password_env: PG_TEST_HOP_PW}\n"
        # verification on by default: a self-signed next hop is not trusted -> 4xx, nothing lost
        unverified = relay_factory(relay_config(hop.url.replace("127.0.0.1", "localhost"),
                                                extra_relay="  next_hop_tls: {starttls: true}\n" + auth))
        out = send(unverified.port, "news@shop.example", ["alice@example.org"], tracker_message())
        assert out.rcpt["alice@example.org"][0] == 451 and b"4.7.0" in out.rcpt["alice@example.org"][1]
        trusted = relay_factory(relay_config(
            hop.url.replace("127.0.0.1", "localhost"),
            extra_relay=f"  next_hop_tls: {{starttls: true, ca_file: {cert}}}\n" + auth))
        out = send(trusted.port, "news@shop.example", ["alice@example.org"], tracker_message())
        assert out.data[0] == 250, out
        assert len(hop.received) == 1 and is_cleaned(hop.received[0].content)
        monkeypatch.setenv("PG_TEST_HOP_PW", "wrong")
        wrong = relay_factory(relay_config(
            hop.url.replace("127.0.0.1", "localhost"),
            extra_relay=f"  next_hop_tls: {{starttls: true, ca_file: {cert}}}\n" + auth))
        out = send(wrong.port, "news@shop.example", ["alice@example.org"], tracker_message())
        assert out.rcpt["alice@example.org"][0] == 451  # our credentials are wrong: never bounce for it
    finally:
        hop.stop()


def test_message_ids_survive(next_hop, relay_factory):
    relay = relay_factory(relay_config(next_hop.url))
    send(relay.port, "news@shop.example", ["alice@example.org"], tracker_message(msgid="<keep@x>"))
    assert message_id(next_hop.received[0].content) == "<keep@x>"


def test_next_hop_dropping_the_connection_in_the_middle_of_the_message_defers(next_hop, relay_factory):
    relay = relay_factory(relay_config(next_hop.url))
    next_hop.cut_data_after_lines = 3
    out = send(relay.port, "news@shop.example", ["alice@example.org"], tracker_message(extra="<p>x</p>\r\n" * 50))
    assert out.data[0] == 451, out
    assert next_hop.received == []
    next_hop.heal()
    out = send(relay.port, "news@shop.example", ["alice@example.org"], tracker_message())
    assert out.data[0] == 250
    assert len(next_hop.received) == 1


def test_next_hop_that_never_answers_defers_within_the_timeout(relay_factory):
    from relay_harness import SilentServer

    silent = SilentServer()
    try:
        relay = relay_factory(relay_config(silent.url, timeout=1))
        out = send(relay.port, "news@shop.example", ["alice@example.org"], tracker_message(), timeout=15)
        assert out.rcpt["alice@example.org"][0] == 451, out
        assert b"timed out" in out.rcpt["alice@example.org"][1]
    finally:
        silent.close()


def test_next_hop_refusing_the_sender_is_passed_on_to_each_recipient(next_hop, relay_factory):
    relay = relay_factory(relay_config(next_hop.url))
    next_hop.mail_reply = "553 5.7.1 sender rejected"
    out = send(relay.port, "spam@bad.example", ["alice@example.org"], tracker_message())
    assert out.rcpt["alice@example.org"] == (553, b"5.7.1 sender rejected")
    next_hop.mail_reply = "451 4.7.1 greylisted"
    out = send(relay.port, "news@shop.example", ["alice@example.org"], tracker_message())
    assert out.rcpt["alice@example.org"] == (451, b"4.7.1 greylisted")
    assert next_hop.received == []


def test_relay_listens_on_ipv6_loopback(next_hop, relay_factory):
    if not socket.has_ipv6:
        pytest.skip("NO IPV6 on this machine")
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        pytest.skip("NO IPV6 LOOPBACK (::1) on this machine")
    config = relay_config(next_hop.url).replace('"127.0.0.1:0"', '"[::1]:0"')
    relay = relay_factory(config)
    with smtplib.SMTP("::1", relay.port, timeout=10) as client:
        client.ehlo()
        client.sendmail("news@shop.example", ["alice@example.org"], tracker_message())
    assert is_cleaned(next_hop.received[0].content)


def test_lmtp_listener_answers_a_too_big_message_once_per_recipient(next_hop, relay_factory):
    relay = relay_factory(relay_config(next_hop.url, extra_relay="  protocol: lmtp\n  max_size: 2000\n"))
    rcpts = ["alice@example.org", "carol@example.org"]
    out = send(relay.port, "news@shop.example", rcpts, tracker_message(extra="x" * 3000), lmtp=True)
    assert [c for c, _ in out.data_replies] == [552, 552], out
    assert next_hop.received == []


def test_concurrent_clients_each_message_delivered_exactly_once_and_cleaned(next_hop, relay_factory):
    from concurrent.futures import ThreadPoolExecutor

    relay = relay_factory(relay_config(next_hop.url))

    def client(n: int) -> int:
        with smtplib.SMTP("127.0.0.1", relay.port, timeout=60) as c:
            for i in range(5):  # sendmail raises unless the relay answered 250
                c.sendmail("news@shop.example", ["alice@example.org"], tracker_message(msgid=f"<c{n}-{i}@x>"))
        return 5

    with ThreadPoolExecutor(16) as pool:
        assert sum(pool.map(client, range(16))) == 80
    ids = [message_id(r.content) for r in next_hop.received]
    assert len(ids) == 80 and len(set(ids)) == 80
    assert all(is_cleaned(r.content) for r in next_hop.received)


def test_one_client_session_keeps_one_next_hop_connection(next_hop, relay_factory):
    relay = relay_factory(relay_config(next_hop.url))
    with smtplib.SMTP("127.0.0.1", relay.port, timeout=30) as client:
        for i in range(3):
            client.sendmail("news@shop.example", ["alice@example.org"], tracker_message(msgid=f"<k{i}@x>"))
    assert [message_id(r.content) for r in next_hop.received] == ["<k0@x>", "<k1@x>", "<k2@x>"]
    assert all(is_cleaned(r.content) for r in next_hop.received)
    assert next_hop.sessions == 1


def test_a_kept_next_hop_connection_that_went_stale_is_replaced(next_hop, relay_factory):
    relay = relay_factory(relay_config(next_hop.url))
    with smtplib.SMTP("127.0.0.1", relay.port, timeout=30) as client:
        client.sendmail("news@shop.example", ["alice@example.org"], tracker_message(msgid="<s1@x>"))
        (protocol,) = relay.server.connections
        assert len(protocol.session.spares) == 1  # kept before the 250 was sent
        next_hop.stop()  # drops every connection, including the one the relay kept
        next_hop.start()
        client.sendmail("news@shop.example", ["alice@example.org"], tracker_message(msgid="<s2@x>"))
    assert [message_id(r.content) for r in next_hop.received] == ["<s1@x>", "<s2@x>"]
    assert next_hop.sessions == 2


def _alive(pid: int) -> bool:
    """`pid` runs (a zombie - dead, not yet reaped by its parent - counts as dead)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rpartition(")")[2].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.fixture(name="own")
def own_cleaner():
    """A cleaner of its own with one worker, for tests that kill it (not the shared one)."""
    own = Cleaner(workers=1)
    own.start()
    yield own
    own.close()


@pytest.fixture(name="killing")
def killing_cleaner(monkeypatch):
    """Cleaning as the relay's, except that a message with `X-Kill-Worker: DIR N` kills the
    worker that takes it, N times (tests/e2e/worker_faults.py)."""
    from worker_faults import clean_or_die

    monkeypatch.setattr("pixelguard.relay.cleaning.clean_or_mark", clean_or_die)


def _killer(where, times: int, msgid: str) -> bytes:
    where.mkdir()
    return f"X-Kill-Worker: {where} {times}\r\n".encode() + tracker_message(msgid=msgid)


def test_a_message_that_kills_its_cleaning_worker_once_is_cleaned_by_another(
        next_hop, relay_factory, own, killing, tmp_path):
    from worker_faults import deaths

    relay = relay_factory(relay_config(next_hop.url), cleaner=own)
    (worker,) = own.worker_pids()
    out = send(relay.port, "news@shop.example", ["alice@example.org"], _killer(tmp_path / "deaths", 1, "<w1@x>"))
    assert out.data[0] == 250
    assert deaths(tmp_path / "deaths") == 1  # it did kill a worker
    assert is_cleaned(next_hop.received[0].content)  # and was cleaned all the same
    assert not next_hop.received[0].content.startswith(b"X-PixelGuard: error")
    (successor,) = own.worker_pids()
    assert successor != worker


def test_a_message_that_kills_two_cleaning_workers_costs_cleaning_not_mail(
        next_hop, relay_factory, own, killing, tmp_path):
    from worker_faults import deaths

    relay = relay_factory(relay_config(next_hop.url), cleaner=own)
    out = send(relay.port, "news@shop.example", ["alice@example.org"], _killer(tmp_path / "deaths", 2, "<w2@x>"))
    assert out.data[0] == 250
    assert deaths(tmp_path / "deaths") == 2
    assert next_hop.received[0].content.startswith(b"X-PixelGuard: error; cleaning worker crashed")
    out = send(relay.port, "news@shop.example", ["alice@example.org"], tracker_message(msgid="<w3@x>"))
    assert out.data[0] == 250
    assert is_cleaned(next_hop.received[1].content)  # a fresh worker cleans again


def test_a_cleaning_worker_that_died_while_idle_costs_nothing(next_hop, relay_factory, own):
    import os
    import signal as signals

    relay = relay_factory(relay_config(next_hop.url), cleaner=own)
    (worker,) = own.worker_pids()
    os.kill(worker, signals.SIGKILL)
    wait_for(lambda: not _alive(worker), 10, "the worker to die")
    out = send(relay.port, "news@shop.example", ["alice@example.org"], tracker_message(msgid="<w3@x>"))
    assert out.data[0] == 250
    assert is_cleaned(next_hop.received[0].content)  # cleaned by its successor, no error
    assert own.worker_pids() != [worker]
