"""The relay honours an allowed sender only with authentication it can trust."""
from __future__ import annotations

from relay_harness import (  # noqa: F401 - fixtures
    cleaner_fixture,
    next_hop_fixture,
    relay_config,
    relay_factory_fixture,
    send,
    tracker_message,
)

from pixelguard.config import parse_config
from pixelguard.relay.cleaning import Cleaner

REST = (
    "defaults:\n  allow: {senders: [shop.example]}\n"
    "auth:\n  authserv_id: pg.example.org\n  trusted_authserv_ids: [mx.example.org]\n"
)


def _relay(next_hop, relay_factory):
    text = relay_config(next_hop.url, rest=REST)
    return relay_factory(text, cleaner=Cleaner(workers=0, auth=parse_config(text).auth))


def test_allowed_sender_with_a_trusted_pass_is_delivered_untouched(next_hop, relay_factory) -> None:
    relay = _relay(next_hop, relay_factory)
    msg = (b"Authentication-Results: mx.example.org; dkim=pass header.d=shop.example\r\n"
           + tracker_message())
    out = send(relay.port, "news@shop.example", ["alice@example.org"], msg)
    assert out.data[0] == 250
    (got,) = next_hop.received
    assert got.content == msg


def test_allowed_sender_claiming_our_own_authserv_id_is_cleaned(next_hop, relay_factory) -> None:
    relay = _relay(next_hop, relay_factory)
    msg = (b"Authentication-Results: pg.example.org; dkim=pass header.d=shop.example\r\n"
           + tracker_message())
    out = send(relay.port, "news@shop.example", ["alice@example.org"], msg)
    assert out.data[0] == 250
    (got,) = next_hop.received
    head = got.content.split(b"\r\n\r\n", 1)[0]
    assert head.startswith(b"X-PixelGuard: removed=1;")
    assert b"Authentication-Results: pg.example.org; dkim=none" in head
    assert b"pg.example.org; dkim=pass" not in head
