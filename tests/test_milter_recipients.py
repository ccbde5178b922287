"""The one policy a milter applies to a message for several recipients: the strictest."""
from __future__ import annotations

import pickle

from pixelguard.config import Config
from pixelguard.milter.recipients import strictest

ALICE, BOB = "alice@example.org", "bob@example.org"


def config(users: dict) -> Config:
    return Config.model_validate({"users": users})


def test_host_allowed_for_one_recipient_only_is_not_allowed():
    cfg = config({BOB: {"allow": {"hosts": ["img.partner.example"]}}})
    both = strictest([cfg.policy_for(ALICE), cfg.policy_for(BOB)])
    assert cfg.policy_for(BOB).host_verdict("img.partner.example") == "allow"
    assert both.host_verdict("img.partner.example") is None


def test_host_allowed_for_every_recipient_stays_allowed():
    cfg = config({ALICE: {"allow": {"hosts": ["partner.example"]}},
                  BOB: {"allow": {"hosts": ["img.partner.example"]}}})
    both = strictest([cfg.policy_for(ALICE), cfg.policy_for(BOB)])
    assert both.host_verdict("img.partner.example") == "allow"
    assert both.host_verdict("www.partner.example") is None  # bob does not allow it


def test_host_denied_by_one_recipient_is_denied():
    cfg = config({ALICE: {"deny": {"hosts": ["ads.example"]}},
                  BOB: {"allow": {"hosts": ["ads.example"]}}})
    assert strictest([cfg.policy_for(ALICE), cfg.policy_for(BOB)]).host_verdict("x.ads.example") == "deny"


def test_allowed_senders_are_those_every_recipient_allows():
    cfg = config({ALICE: {"allow": {"senders": ["shop.example", "club.example"]}},
                  BOB: {"allow": {"senders": ["news@mail.shop.example"]}}})
    both = strictest([cfg.policy_for(ALICE), cfg.policy_for(BOB)])
    assert both.allow_senders == ("news@mail.shop.example",)


def test_every_recipient_address_is_looked_for_in_urls_and_strip_wins():
    cfg = config({BOB: {"action": "rewrite"}})
    both = strictest([cfg.policy_for(ALICE), cfg.policy_for(BOB)])
    assert both.recipients == (ALICE, BOB)
    assert both.action == "strip"


def test_one_recipient_gets_its_own_policy_unchanged():
    cfg = config({BOB: {"action": "rewrite"}})
    assert strictest([cfg.policy_for(BOB)]) == cfg.policy_for(BOB)


def test_combined_policy_survives_the_trip_to_a_worker_process():
    cfg = config({BOB: {"allow": {"hosts": ["img.partner.example"]}}})
    both = strictest([cfg.policy_for(ALICE), cfg.policy_for(BOB)])
    again = pickle.loads(pickle.dumps(both))
    assert again == both and again.host_verdict("img.partner.example") is None


def test_the_door_makes_the_policy_of_a_recipient_list_once_per_config():
    from pixelguard.milter.door import Door, Settings
    from pixelguard.relay.cleaning import Cleaner

    cfg = config({BOB: {"allow": {"hosts": ["img.partner.example"]}},
                  ALICE: {"allow": {"hosts": ["img.partner.example"]}}})
    door = Door(cfg, Cleaner(workers=0), Settings(max_size=1 << 20, timeout=5, max_concurrent=2))
    try:
        both = door.policy([ALICE, BOB])
        assert both == strictest([cfg.policy_for(ALICE), cfg.policy_for(BOB)])
        assert door.policy([ALICE, BOB]) is both  # made once
        assert door.policy([BOB]) == cfg.policy_for(BOB)
        assert door.policy([]) == cfg.policy_for(None)
        assert both.host_verdict("img.partner.example") == "allow"
        door.reconfigure(config({BOB: {"allow": {"hosts": ["img.partner.example"]}}}))  # alice's allow gone
        assert door.policy([ALICE, BOB]).host_verdict("img.partner.example") is None
    finally:
        door.close(grace=0)


def test_the_door_keeps_no_policy_of_a_long_recipient_list():
    # A mailing list's recipients (up to Postfix's smtpd_recipient_limit) are rarely seen
    # again, and their combined policy holds a member per recipient: it is made, not kept.
    from pixelguard.milter.door import POLICY_KEY_MAX, Door, Settings
    from pixelguard.relay.cleaning import Cleaner

    cfg = config({BOB: {"allow": {"hosts": ["img.partner.example"]}}})
    door = Door(cfg, Cleaner(workers=0), Settings(max_size=1 << 20, timeout=5, max_concurrent=2))
    try:
        short = [f"r{i}@example.org" for i in range(POLICY_KEY_MAX - 1)] + [BOB]
        long = [f"r{i}@example.org" for i in range(1000)] + [BOB]
        assert door.policy(short) is door.policy(short)
        made = door.policy(long)
        assert made == strictest([cfg.policy_for(r) for r in long])
        assert made.host_verdict("img.partner.example") is None  # the strictest, as for short
        assert door.policy(long) is not made
        assert [len(key) for key in door._policies[1]] == [POLICY_KEY_MAX]
    finally:
        door.close(grace=0)
