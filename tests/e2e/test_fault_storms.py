"""The fault storms of benchmarks/ at a small size (the full sizes are run by hand, see
benchmarks/README.md): the same code, a few hundred messages, faults every fraction of a
second."""
from __future__ import annotations

import pytest
import storm_imap
import storm_relay
from postfix import require_postfix

pytestmark = pytest.mark.e2e


def test_relay_storm_delivers_every_accepted_message_exactly_once(dovecot):
    require_postfix()
    result = storm_relay.storm(messages=300, timeout=2.0, interval=(0.1, 0.5), drain=240,
                               min_faults=10)
    assert result.passed, result.summary()
    assert result.accepted == 300 and result.delivered_once + len(result.explained_duplicates) == result.pairs
    # the storm happened: every kind of fault (two rounds of five), and the proxy really cut
    # a session mid-DATA
    for fault in ("kill-hop", "stall-hop", "cut-data armed"):
        assert result.faults[fault] >= 2, result.summary()
    assert result.cuts >= 1, result.summary()
    kinds = ("kill-worker", "kill-worker (idle)", "kill-worker (none running)", "kill-worker (gone first)")
    assert sum(result.faults[k] for k in kinds) >= 2, result.summary()
    assert result.faults["half-data"] + result.faults["half-data (refused before DATA)"] >= 2


def test_imap_storm_keeps_every_message_exactly_once(dovecot):
    report = storm_imap.storm(messages=200, kills=5)
    assert not report.problems, report.summary()
    assert report.kills == 5
