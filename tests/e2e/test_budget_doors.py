"""A message past the time budget passes through every door unchanged, and says so: the relay
forwards it with `X-PixelGuard: error; time budget ...`, the IMAP run leaves it in place
(marked, logged). The CLI's case is in tests/test_budget.py. The message needs about a
second of cleaning; the budget is 0.01 s."""
from __future__ import annotations

import yaml
from budget_mail import over_budget_message  # (tests/, on the path by conftest)
from imap_support import imap_account, run_imap, snapshot
from relay_harness import (  # noqa: F401 - fixtures
    cleaner_fixture,
    next_hop_fixture,
    relay_config,
    relay_factory_fixture,
    send,
)
from test_imap_backlog import KEYWORD

TINY_BUDGET = "limits:\n  time_budget: 0.01\n"


def test_relay_forwards_a_message_past_the_budget_unchanged_with_the_error(next_hop,
                                                                          relay_factory):
    raw = over_budget_message()
    relay = relay_factory(relay_config(next_hop.url, rest=TINY_BUDGET))
    out = send(relay.port, "news@shop.example", ["alice@example.org"], raw)
    assert out.data[0] == 250, out
    (got,) = next_hop.received
    head, _, rest = got.content.partition(b"\r\n")
    assert head == b"X-PixelGuard: error; time budget of 0.01 s exceeded"
    assert rest == raw  # every other byte as sent


def test_imap_leaves_a_message_past_the_budget_in_place_and_says_why(mailbox, tmp_path):
    raw = over_budget_message()
    c = mailbox.client()
    c.append("INBOX", raw, flags=(b"\\Seen",))
    config = tmp_path / "pixelguard.yaml"
    config.write_text(yaml.safe_dump({"imap": {"accounts": [imap_account(mailbox)]}})
                      + TINY_BUDGET)

    run = run_imap(str(config), "--once", password=mailbox.password)

    assert run.returncode == 0, run.stderr
    assert "left unchanged, not cleaned: time budget of 0.01 s exceeded" in run.stderr
    (only,) = snapshot(c).values()
    assert only["raw"] == raw
    assert only["flags"] == {b"\\Seen", KEYWORD}
    c.logout()
