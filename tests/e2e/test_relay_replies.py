"""The relay's small pure pieces: reply mapping, the one-DATA-reply summary, DATA framing, log lines."""
from __future__ import annotations

from pixelguard.relay.lmtp_client import dot_stuff
from pixelguard.relay.logline import logfmt
from pixelguard.relay.nexthop import passed_on
from pixelguard.relay.reply import Reply
from pixelguard.relay.units import summarize


def test_next_hop_421_becomes_451_and_odd_codes_become_451():
    assert passed_on(421, "4.3.2 closing").code == 451
    assert passed_on(354, "go ahead").code == 451
    assert passed_on(550, "5.1.1 no").line() == "550 5.1.1 no"
    assert passed_on(452, "4.2.2 full").line() == "452 4.2.2 full"


def test_summary_passes_a_single_outcome_through():
    ok = Reply(250, "2.0.0 Ok: queued as X")
    assert summarize([ok, ok], "id1") == Reply(250, "2.0.0 Ok: queued as X (id=id1)")
    assert summarize([Reply(554, "5.6.0 no")], "id1").code == 554
    assert summarize([Reply(452, "4.2.2 full"), Reply(552, "5.2.2 full")], "id1").code == 452


def test_summary_never_says_250_when_a_copy_was_not_delivered():
    ok = Reply(250, "2.0.0 Ok")
    assert summarize([ok, Reply(452, "4.2.2 full")], "i").code == 451
    permanent = summarize([ok, Reply(552, "5.2.2 over quota")], "i")
    assert permanent.code == 552 and "some recipients were delivered" in permanent.text


def test_reply_line_folds_multiline_text_and_bounds_length():
    assert Reply(250, "first\nsecond").line() == "250 first second"
    assert len(Reply(550, "x" * 2000).line()) <= 510


def test_dot_stuffing_and_line_endings_for_lmtp_data():
    assert dot_stuff(b"a\n.b\r\n..c") == b"a\r\n..b\r\n...c\r\n.\r\n"
    assert dot_stuff(b".\r\n") == b"..\r\n.\r\n"
    # CRLF only (the fast path) and mixed endings give what the general rule gives
    assert dot_stuff(b".a\r\n.\r\nb\r\n..\r\nc") == b"..a\r\n..\r\nb\r\n...\r\nc\r\n.\r\n"
    assert dot_stuff(b"") == b".\r\n"
    assert dot_stuff(b"a\r\n") == b"a\r\n.\r\n"
    assert dot_stuff(b"a\r.b\r\n") == b"a\r\n..b\r\n.\r\n"  # a bare CR ends a line too
    assert dot_stuff(b"a\r\r\n.\n") == b"a\r\n\r\n..\r\n.\r\n"


def test_dot_stuffing_fast_path_agrees_with_the_general_rule():
    import random
    import re

    rng = random.Random(7)
    for _ in range(2000):
        content = bytes(rng.choice(b".\r\na") for _ in range(rng.randrange(12)))
        body = re.sub(rb"\r(?!\n)|(?<!\r)\n", b"\r\n", content)
        if body and not body.endswith(b"\r\n"):
            body += b"\r\n"
        assert dot_stuff(content) == re.sub(rb"(?m)^\.", b"..", body) + b".\r\n", content


def test_logfmt_quotes_only_when_needed():
    assert logfmt(id="ab", to="a@b", text='say "hi"', skip=None, ms=1.25) == 'id=ab to=a@b text="say \\"hi\\"" ms=1.2'


def test_give_way_once_per_deferral_until_the_others_had_their_transaction():
    from pixelguard.relay.units import GiveWay

    gw = GiveWay()
    gw.deferred("s", ["full"], ["ok", "other"])
    assert not gw.gives_way("t", "full")  # another sender's message
    assert gw.gives_way("s", "full") and not gw.gives_way("s", "full")  # once
    gw.deferred("s", ["full"], ["ok", "other"])
    gw.accepted("s", "ok")
    gw.accepted("s", "other")
    assert not gw.gives_way("s", "full")  # the others had their transactions
    gw.deferred("s", ["full"], [])
    assert not gw.gives_way("s", "full")  # nobody was waiting
    expired = GiveWay(seconds=-1)
    expired.deferred("s", ["full"], ["ok"])
    assert not expired.gives_way("s", "full")
    small = GiveWay(senders=2, per_sender=2)
    for sender in ("a", "b", "c"):
        small.deferred(sender, ["x", "y", "z"], ["ok"])
    assert not small.gives_way("a", "z")  # oldest sender forgotten
    assert not small.gives_way("c", "x") and small.gives_way("c", "z")  # oldest recipient forgotten
