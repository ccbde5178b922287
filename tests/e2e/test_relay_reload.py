"""`pixelguard relay` reloads its config file on SIGHUP: a real relay process, a real next hop
(aiosmtpd), smtplib clients. Every wait polls the relay's log or a server; none sleeps for luck."""
from __future__ import annotations

import os
import signal
import smtplib
import ssl
import subprocess
import sys
from pathlib import Path

import pytest
from dovecot import listen_port
from relay_harness import (
    TRACKER_URL,
    NextHopServer,
    greets,
    is_cleaned,
    make_cert,
    message_id,
    send,
    tracker_message,
    wait_for,
)
from reload_support import (
    NOT_RELOADED,
    RELOADED,
    ListFiles,
    cleaning_workers,
    lines_with,
    sighup_and_wait_for,
)

pytestmark = pytest.mark.e2e


class RelayProcess:
    """`python -m pixelguard relay --config F` with its log in a file we can poll."""

    def __init__(self, tmp_path: Path, config: str) -> None:
        self.port = listen_port()
        self.config = tmp_path / "pixelguard.yaml"
        self.log_path = tmp_path / "relay.log"
        self.write(config)
        env = {k: v for k, v in os.environ.items() if k != "XDG_DATA_HOME"}
        env["HOME"] = str(tmp_path)
        self._log = open(self.log_path, "w")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pixelguard", "relay", "--config", str(self.config)],
            env=env, stdout=subprocess.DEVNULL, stderr=self._log, text=True,
        )
        wait_for(lambda: greets(self.port) or self.proc.poll() is not None, 60, "the relay to listen")
        assert self.proc.poll() is None, self.log()

    def write(self, config: str) -> None:
        self.config.write_text(config.replace("{port}", str(self.port)))

    def log(self) -> str:
        return self.log_path.read_text()

    def lines(self, text: str) -> list[str]:
        return lines_with(self.log(), text)

    def sighup_and_wait_for(self, text: str) -> str:
        """Send SIGHUP and wait for the next log line containing `text`; that line."""
        return sighup_and_wait_for(self.proc, self.log, text)

    def stop(self) -> tuple[int, str]:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        return self.proc.returncode, self.log()


def config(next_hop: str, users: str = "", relay: str = "", workers: int = 1) -> str:
    return (
        "relay:\n"
        '  listen: "127.0.0.1:{port}"\n'
        f'  next_hop: "{next_hop}"\n'
        "  timeout: 10\n"
        f"  workers: {workers}\n"
        f"{relay}"
        f"{users}"
    )


# alice allows the tracker's host: her mail is delivered as sent
ALICE_ALLOWS_TRACKER = "users:\n  alice@example.org:\n    allow: {hosts: [127.0.0.1]}\n"


@pytest.fixture(name="hop")
def hop_fixture():
    hop = NextHopServer().start()
    yield hop
    hop.stop()


@pytest.fixture(name="relay_process")
def relay_process_fixture(tmp_path):
    started: list[RelayProcess] = []

    def start(config_text: str) -> RelayProcess:
        relay = RelayProcess(tmp_path, config_text)
        started.append(relay)
        return relay

    yield start
    for relay in started:
        code, log = relay.stop()
        assert code == 0, log
        assert "Traceback" not in log, log


def deliver(relay: RelayProcess, hop: NextHopServer, msgid: str) -> bytes:
    out = send(relay.port, "news@shop.example", ["alice@example.org"], tracker_message(msgid))
    assert out.data is not None and out.data[0] == 250, (out, relay.log())
    (got,) = [r.content for r in hop.received if message_id(r.content) == msgid]
    return got


def test_sighup_applies_a_changed_user_policy_to_the_next_message(hop, relay_process):
    relay = relay_process(config(hop.url))
    assert is_cleaned(deliver(relay, hop, "<before@shop.example>"))

    relay.write(config(hop.url, users=ALICE_ALLOWS_TRACKER))
    line = relay.sighup_and_wait_for(RELOADED)
    assert f"file={relay.config}" in line and " INFO " in line

    after = deliver(relay, hop, "<after@shop.example>")
    assert TRACKER_URL.encode() in after and b"X-PixelGuard" not in after

    relay.write(config(hop.url))  # and back: the default policy strips it again
    relay.sighup_and_wait_for(RELOADED)
    assert is_cleaned(deliver(relay, hop, "<again@shop.example>"))


@pytest.mark.parametrize(
    ("bad_config", "where"),
    [
        # an unknown key on line 8: file:line and the dotted key
        (config("{hop}", users="users:\n  alice@example.org:\n    allow: {hostz: [127.0.0.1]}\n"),
         ":8: users.alice@example.org.allow.hostz: unknown key 'hostz'"),
        # broken YAML on line 7
        (config("{hop}", users="users:\n  alice@example.org: {allow: [}\n"), ":7: YAML syntax error"),
    ],
    ids=["unknown-key", "bad-yaml"],
)
def test_an_invalid_config_on_sighup_is_one_error_line_and_the_old_config_stays(
        hop, relay_process, bad_config, where):
    relay = relay_process(config(hop.url))
    relay.write(bad_config.replace("{hop}", hop.url))
    line = relay.sighup_and_wait_for(NOT_RELOADED)
    assert " ERROR " in line and f"error=\"{relay.config}{where}" in line, line
    assert len(relay.lines(" ERROR ")) == 1, relay.log()
    assert RELOADED not in relay.log()
    # still running, and still cleaning with the configuration it started with
    assert is_cleaned(deliver(relay, hop, "<after-bad@shop.example>"))


def test_a_missing_config_file_on_sighup_keeps_the_relay_running(hop, relay_process):
    relay = relay_process(config(hop.url))
    relay.config.unlink()
    line = relay.sighup_and_wait_for(NOT_RELOADED)
    assert f'error="{relay.config}: no such file"' in line, line
    assert is_cleaned(deliver(relay, hop, "<after-missing@shop.example>"))


def test_a_transaction_in_progress_at_sighup_finishes_with_the_config_it_started_with(hop, relay_process):
    other = NextHopServer().start()
    try:
        relay = relay_process(config(hop.url))
        client = smtplib.SMTP("127.0.0.1", relay.port, timeout=30)
        try:
            client.ehlo()
            assert client.mail("news@shop.example")[0] == 250
            assert client.rcpt("alice@example.org")[0] == 250
            # mid-transaction: a new next hop, and alice now allows the tracker
            relay.write(config(other.url, users=ALICE_ALLOWS_TRACKER))
            relay.sighup_and_wait_for(RELOADED)
            assert client.data(tracker_message("<in-flight@shop.example>"))[0] == 250
            # the same session's next transaction: the new configuration
            assert client.sendmail("news@shop.example", ["alice@example.org"],
                                   tracker_message("<next@shop.example>")) == {}
            client.quit()
        finally:
            client.close()
        (in_flight,) = hop.received
        assert message_id(in_flight.content) == "<in-flight@shop.example>"
        assert is_cleaned(in_flight.content)
        (following,) = other.received
        assert message_id(following.content) == "<next@shop.example>"
        assert TRACKER_URL.encode() in following.content
    finally:
        other.stop()


def test_a_session_reuses_no_next_hop_connection_of_the_old_config(hop, relay_process):
    """The relay keeps a next-hop connection for a client's next message; after a reload to
    another next hop, the next message goes to the new one all the same."""
    other = NextHopServer().start()
    try:
        relay = relay_process(config(hop.url))
        client = smtplib.SMTP("127.0.0.1", relay.port, timeout=30)
        try:
            assert client.sendmail("news@shop.example", ["alice@example.org"], tracker_message("<one@x>")) == {}
            relay.write(config(other.url))
            relay.sighup_and_wait_for(RELOADED)
            assert client.sendmail("news@shop.example", ["alice@example.org"], tracker_message("<two@x>")) == {}
            client.quit()
        finally:
            client.close()
        assert [message_id(r.content) for r in hop.received] == ["<one@x>"]
        assert [message_id(r.content) for r in other.received] == ["<two@x>"]
    finally:
        other.stop()


def test_sighup_names_each_changed_setting_that_needs_a_restart_and_applies_the_rest(hop, relay_process):
    relay = relay_process(config(hop.url))
    moved = listen_port()
    changed = config(hop.url, users=ALICE_ALLOWS_TRACKER, relay="  protocol: lmtp\n  max_size: 1000\n")
    relay.write(changed.replace("{port}", str(moved)))
    relay.sighup_and_wait_for(RELOADED)
    warnings = relay.lines(" WARNING ")
    assert any(f'msg="relay.listen changed; restart pixelguard to apply" running=127.0.0.1:{relay.port} '
               f"configured=127.0.0.1:{moved}" in w for w in warnings), relay.log()
    assert any('msg="relay.protocol changed; restart pixelguard to apply"' in w for w in warnings), relay.log()
    assert len(warnings) == 2, relay.log()
    # still on the old port, still SMTP (an LMTP listener would refuse EHLO) ...
    assert not greets(moved)
    client = smtplib.SMTP("127.0.0.1", relay.port, timeout=30)
    try:
        assert client.ehlo()[0] == 250
        # ... and the new max_size is what a new session is offered and held to
        assert client.esmtp_features["size"] == "1000"
        with pytest.raises(smtplib.SMTPSenderRefused):
            client.sendmail("news@shop.example", ["alice@example.org"], tracker_message() + b"x" * 2000)
    finally:
        client.close()


BANNER = "http://127.0.0.1/banner/summer.png"
LINK = "https://shop.example/sale?pgref=nl7&id=4"


def banner_message(msgid: str) -> bytes:
    """A newsletter with one large, visible image (content, unless a tracker list names it)
    and a link (left as sent, unless a links list names its parameter)."""
    return (
        "From: News <news@shop.example>\r\nTo: alice@example.org\r\nSubject: Summer\r\n"
        f"Message-ID: {msgid}\r\nMIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
        f'<html><body><img src="{BANNER}" width="600" height="200" alt="Summer sale">'
        f'<p><a href="{LINK.replace("&", "&amp;")}">Shop</a></p></body></html>\r\n'
    ).encode()


@pytest.mark.parametrize("workers", [1, 0], ids=["process-pool", "thread"])
def test_sighup_reads_edited_tracker_and_links_lists_again_in_the_same_workers(
        hop, relay_process, tmp_path, workers):
    lists = ListFiles(tmp_path)
    relay = relay_process(config(hop.url, users=lists.config, workers=workers))
    workers_before = cleaning_workers(relay.proc.pid)
    assert len(workers_before) == workers

    def delivered(msgid: str) -> bytes:
        assert send(relay.port, "news@shop.example", ["alice@example.org"], banner_message(msgid)).data[0] == 250
        (got,) = [r.content for r in hop.received if message_id(r.content) == msgid]
        return got

    before = delivered("<before@shop.example>")
    assert before == banner_message("<before@shop.example>")  # nothing listed: as sent
    lists.edit()  # the same files, new contents
    relay.sighup_and_wait_for(RELOADED)
    after = delivered("<after@shop.example>")
    assert BANNER.encode() not in after and b"X-PixelGuard: removed=1" in after
    assert b'href="https://shop.example/sale?id=4"' in after and b"pgref" not in after
    assert cleaning_workers(relay.proc.pid) == workers_before  # no worker started or stopped


def test_sighup_offers_starttls_with_a_newly_configured_certificate_to_new_sessions(hop, relay_process, tmp_path):
    relay = relay_process(config(hop.url))
    open_session = smtplib.SMTP("127.0.0.1", relay.port, timeout=30)
    try:
        open_session.ehlo()
        assert not open_session.has_extn("starttls")
        cert, key = make_cert(tmp_path)
        relay.write(config(hop.url, relay=f"  tls_cert: {cert}\n  tls_key: {key}\n"))
        relay.sighup_and_wait_for(RELOADED)
        # the session that was open keeps what it had; a new one is offered TLS and gets it
        assert open_session.sendmail("news@shop.example", ["alice@example.org"], tracker_message("<plain@x>")) == {}
        with smtplib.SMTP("127.0.0.1", relay.port, timeout=30) as client:
            client.ehlo()
            assert client.has_extn("starttls")
            client.starttls(context=ssl.create_default_context(cafile=str(cert)))
            assert client.sendmail("news@shop.example", ["alice@example.org"], tracker_message("<tls@x>")) == {}
        open_session.quit()
    finally:
        open_session.close()
    assert [message_id(r.content) for r in hop.received] == ["<plain@x>", "<tls@x>"]
