"""The one policy a milter applies to a message for several recipients: the strictest."""
from __future__ import annotations

import pickle

from hypothesis import given, settings
from hypothesis import strategies as st

from pixelguard.config import Config
from pixelguard.milter.recipients import strictest
from pixelguard.model import Policy

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


# The definition strictest() implements for allow.senders, checked member by member:
# an entry is kept when every recipient's list has an entry admitting all it admits.
def _covers_by_definition(own: str, entry: str) -> bool:
    own, entry = own.strip().lower(), entry.strip().lower()
    if "@" in own.lstrip("@"):
        return own == entry
    domain = own.lstrip("@").rstrip(".")
    target = entry.rpartition("@")[2] if "@" in entry.lstrip("@") else entry.lstrip("@").rstrip(".")
    return target == domain or target.endswith("." + domain)


def _common_senders_by_definition(members) -> tuple[str, ...]:
    out: list[str] = []
    for member in members:
        for entry in member.allow_senders:
            if entry not in out and all(any(_covers_by_definition(own, entry)
                                            for own in m.allow_senders) for m in members):
                out.append(entry)
    return tuple(out)


_LABELS = st.sampled_from(["a", "b", "ex", "Ex", ""])
_DOMAINS = st.lists(_LABELS, min_size=1, max_size=3).map(".".join)
_SENDERS = st.one_of(
    _DOMAINS,
    _DOMAINS.map(lambda d: "@" + d),
    _DOMAINS.map(lambda d: d + "."),
    _DOMAINS.map(lambda d: " " + d.upper()),
    st.tuples(st.sampled_from(["u", "v", "@u"]), _DOMAINS).map("@".join),
)
_HOSTS = st.lists(_DOMAINS, max_size=2).map(tuple)


@st.composite
def _policies(draw) -> Policy:
    return Policy(recipients=(draw(st.sampled_from(["u@a", "v@b", "w@ex"])),),
                  allow_senders=tuple(draw(st.lists(_SENDERS, max_size=4))),
                  user_allow_hosts=draw(_HOSTS), user_deny_hosts=draw(_HOSTS),
                  default_allow_hosts=draw(_HOSTS), default_deny_hosts=draw(_HOSTS),
                  action=draw(st.sampled_from(["strip", "rewrite"])))


@settings(max_examples=200, derandomize=True, deadline=None)
@given(st.lists(_policies(), min_size=2, max_size=8), st.lists(_DOMAINS, max_size=6))
def test_strictest_keeps_what_its_definition_keeps(policies, hosts):
    made = strictest(policies)
    unique = list(dict.fromkeys(policies))
    assert made.allow_senders == _common_senders_by_definition(unique)
    for host in hosts:  # deny if any recipient denies it, allow only if all allow it
        verdicts = [m.host_verdict(host) for m in unique]
        expected = ("deny" if "deny" in verdicts
                    else "allow" if all(v == "allow" for v in verdicts) else None)
        assert made.host_verdict(host) == expected


def test_strictest_keeps_a_sender_only_when_every_list_admits_it():
    # what the property test above compares against, on cases a reader can check
    def senders(*lists):
        return strictest([Policy(recipients=(f"r{i}@x",), allow_senders=s)
                          for i, s in enumerate(lists)]).allow_senders

    assert senders(("news.shop.example",), ("shop.example",)) == ("news.shop.example",)
    assert senders(("a@shop.example", "shop.example"), ("b@shop.example", "shop.example")) == (
        "a@shop.example", "shop.example", "b@shop.example")
    assert senders(("a@shop.example",), ("b@shop.example",)) == ()
    assert senders(("@Shop.Example.",), ("x@news.shop.example",)) == ("x@news.shop.example",)
    assert senders(("shop.example",), ("shop.example",), ()) == ()
