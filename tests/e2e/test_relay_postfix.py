"""Postfix in front (content_filter) -> pixelguard relay -> Postfix reinjection -> Dovecot LMTP,
with the delivered mail read back over IMAP."""
from __future__ import annotations

import secrets

import pytest
from postfix import Postfix, require_postfix
from relay_harness import (  # noqa: F401 - fixtures
    TRACKER_URL,
    LMTPNextHopServer,
    cleaner_fixture,
    inbox,
    is_cleaned,
    relay_factory_fixture,
    swaks,
    tracker_message,
    wait_for,
)

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def postfix(dovecot):
    require_postfix()
    server = Postfix(lmtp_port=dovecot.lmtp_port).start()
    yield server
    server.stop()


def relay_yaml(listen_port: int, next_hop: str, protocol: str = "smtp", users: str = "") -> str:
    return (
        f'relay:\n  listen: "127.0.0.1:{listen_port}"\n  next_hop: "{next_hop}"\n'
        f"  protocol: {protocol}\n  timeout: 10\n{users}"
    )


def submit(postfix: Postfix, port: int, rcpts: list[str], tmp_path, msgid: str) -> None:
    done = swaks(port, "--from", "news@shop.example", "--to", ",".join(rcpts),
                 data=tracker_message(msgid=msgid, to=rcpts[0]), tmp=tmp_path)
    assert done.returncode == 0, done.stdout + postfix.log_tail()


def test_postfix_content_filter_cleans_per_recipient_policy_and_delivers_to_dovecot(
    postfix, dovecot, relay_factory, tmp_path
):
    alice, bob = dovecot.new_user("alice"), dovecot.new_user("bob")
    users = f"users:\n  {bob}:\n    allow: {{hosts: [127.0.0.1]}}\n"
    relay_factory(relay_yaml(postfix.filter_port, f"smtp://127.0.0.1:{postfix.reinject_port}", users=users))
    submit(postfix, postfix.front_port, [alice, bob], tmp_path, "<pf1@shop.example>")
    (to_alice,) = wait_for(lambda: inbox(dovecot, alice), 30, "alice's copy in Dovecot")
    (to_bob,) = wait_for(lambda: inbox(dovecot, bob), 30, "bob's copy in Dovecot")
    assert is_cleaned(to_alice)
    assert TRACKER_URL.encode() in to_bob and b"X-PixelGuard" not in to_bob
    assert b"<pf1@shop.example>" in to_alice
    # two policy groups, two SMTP transactions: Postfix was told 452 4.5.3 for the second
    # one and sent it again on its own; each recipient has the message exactly once
    wait_for(lambda: "Mail queue is empty" in postfix.queue(), 30, "the queue to drain")
    assert len(inbox(dovecot, alice)) == 1 and len(inbox(dovecot, bob)) == 1

    def filter_log() -> list[str]:
        return [ln for ln in postfix.log_tail(400).splitlines() if f":{postfix.filter_port}," in ln]

    def sent_to(lines: list[str], user: str) -> list[str]:
        return [ln for ln in lines if f"to=<{user}>" in ln and "status=sent" in ln]

    # Postfix's log is written apart from its delivery (postlogd): wait for both lines
    wait_for(lambda: all(sent_to(filter_log(), u) for u in (alice, bob)), 30, "postfix's log")
    filter_lines = filter_log()
    assert [ln for ln in filter_lines if "dsn=4.5.3" in ln and "status=deferred" in ln], "\n".join(filter_lines)
    for user in (alice, bob):
        assert len(sent_to(filter_lines, user)) == 1


def test_postfix_retrying_a_deferred_recipient_never_delivers_the_other_again(postfix, relay_factory, tmp_path):
    """The review's case behind Postfix: the relay's LMTP next hop answers 250 for ok@ and
    452 for full@ after DATA. Postfix retries full@ again and again; ok@ gets it once."""
    tag = secrets.token_hex(3)
    ok, full = f"ok-{tag}@example.org", f"full-{tag}@example.org"
    hop = LMTPNextHopServer().start()
    try:
        hop.data_replies[full] = "452 4.2.2 mailbox full"
        relay_factory(relay_yaml(postfix.filter_port, hop.url))
        submit(postfix, postfix.front_port, [ok, full], tmp_path, f"<pf4-{tag}@shop.example>")

        def full_deferrals() -> int:
            return sum(f"to=<{full}>" in ln and "4.2.2 mailbox full" in ln and "status=deferred" in ln
                       for ln in postfix.log_tail(1000).splitlines())

        wait_for(lambda: full_deferrals() >= 3, 60, "postfix to retry the full mailbox three times")
        assert len(hop.deliveries(ok)) == 1, hop.transactions
        assert hop.deliveries(full) == []
        assert all(rcpts == [ok] or rcpts == [full] for rcpts in hop.transactions), hop.transactions

        del hop.data_replies[full]  # room again: the next retry delivers it, once
        postfix.flush()
        wait_for(lambda: hop.deliveries(full), 30, "the retry to deliver to the full mailbox")
        wait_for(lambda: "Mail queue is empty" in postfix.queue(), 30, "the queue to drain")
        assert len(hop.deliveries(ok)) == 1 and len(hop.deliveries(full)) == 1
        assert all(is_cleaned(content) for _rcpt, content in hop.delivered)
    finally:
        hop.stop()


def test_postfix_with_a_recipient_limit_of_one_sends_every_recipient_at_once(postfix, relay_factory, tmp_path):
    """The documented `pixelguard_destination_recipient_limit = 1`: one recipient per delivery,
    so an LMTP next hop behind the SMTP listener never has Postfix wait for a queue run."""
    tag = secrets.token_hex(3)
    rcpts = [f"r{i}-{tag}@example.org" for i in range(4)]
    hop = LMTPNextHopServer().start()
    try:
        relay_factory(relay_yaml(postfix.filter_port, hop.url))
        submit(postfix, postfix.front_one_port, rcpts, tmp_path, f"<pf5-{tag}@shop.example>")
        wait_for(lambda: len(hop.delivered) == len(rcpts), 30, "every recipient at the next hop")
        wait_for(lambda: "Mail queue is empty" in postfix.queue(), 30, "the queue to drain")
        assert sorted(r for r, _c in hop.delivered) == sorted(rcpts)
        assert sorted(hop.transactions) == sorted([r] for r in rcpts)
        lines = [ln for ln in postfix.log_tail(1000).splitlines() if tag in ln and "to=<" in ln]
        assert not [ln for ln in lines if "status=deferred" in ln], "\n".join(lines)
    finally:
        hop.stop()


def test_postfix_defers_while_relay_is_down_and_delivers_exactly_once_after(
    postfix, dovecot, relay_factory, tmp_path
):
    user = dovecot.new_user("later")
    # nothing listens on the filter port yet: Postfix must keep the mail and retry
    submit(postfix, postfix.front_port, [user], tmp_path, "<pf2@shop.example>")
    wait_for(lambda: any(f"to=<{user}>" in ln and "status=deferred" in ln for ln in postfix.log_tail(400).splitlines()),
             30, "postfix to defer")
    assert inbox(dovecot, user) == []
    relay_factory(relay_yaml(postfix.filter_port, f"smtp://127.0.0.1:{postfix.reinject_port}"))
    postfix.flush()
    (stored,) = wait_for(lambda: inbox(dovecot, user), 30, "delivery after the relay is back")
    assert is_cleaned(stored)
    wait_for(lambda: "Mail queue is empty" in postfix.queue(), 30, "the queue to drain")
    assert len(inbox(dovecot, user)) == 1


def test_postfix_hands_over_by_lmtp_and_gets_per_recipient_results(postfix, dovecot, relay_factory, tmp_path):
    ok, full = dovecot.new_user("ok"), dovecot.new_user("full", quota="1K")
    relay_factory(relay_yaml(postfix.filter_lmtp_port, f"lmtp://127.0.0.1:{dovecot.lmtp_port}", protocol="lmtp"))
    big = tracker_message(msgid="<pf3@shop.example>", to=ok, extra="<p>" + "offer " * 400 + "</p>\r\n")
    done = swaks(postfix.front_lmtp_port, "--from", "news@shop.example", "--to", f"{ok},{full}",
                 data=big, tmp=tmp_path)
    assert done.returncode == 0, done.stdout
    (stored,) = wait_for(lambda: inbox(dovecot, ok), 30, "the recipient with room")
    assert is_cleaned(stored)

    def full_outcome() -> str | None:
        for line in postfix.log_tail(400).splitlines():
            if f"to=<{full}>" in line and "relay=127.0.0.1" in line:
                return line
        return None

    line = wait_for(full_outcome, 30, "postfix's verdict for the full mailbox")
    assert "status=sent" not in line and "uota" in line, line
    assert inbox(dovecot, full) == []
    postfix.purge()  # the deferred message or its bounce (no DNS here: it cannot leave)
    assert "Mail queue is empty" in postfix.queue()
