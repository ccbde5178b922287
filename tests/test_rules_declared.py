"""Rules are declared units: each reads only the signals it declares, runs in the place ORDER
gives it, says whether it judges allowed senders, and the README's table is written from
their declarations. Adding a rule takes the steps docs/ARCHITECTURE.md gives."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
from support import BOB

from pixelguard import Policy, clean_message
from pixelguard.detect import rules
from pixelguard.detect.signals import SIGNALS

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "scripts"))

import compare_outputs
import rules_table


def test_readme_rules_table_is_written_from_the_declarations() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert rules_table.rewritten(text) == text, "run python scripts/rules_table.py"
    for r in rules.RULES:
        assert f"| `{r.id}` | {r.fires_when} |" in text


def test_every_declared_rule_has_a_place_in_the_order() -> None:
    assert set(rules.ORDER) == set(rules.DECLARED)
    assert len(rules.ORDER) == len(set(rules.ORDER))
    assert rules.RULE_IDS == rules.ORDER
    for r in rules.RULES:
        assert r.summary and r.summary.endswith(".")
        assert r.needs <= SIGNALS.keys()


def test_a_rule_left_out_of_the_order_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rules, "DECLARED", dict(rules.DECLARED))

    @rules.rule("unplaced", needs=(), fires_when="never")
    def unplaced(res, s):
        """Never fires."""

    with pytest.raises(ValueError, match="unplaced"):
        rules.ordered()
    with pytest.raises(ValueError, match="unknown signals"):
        rules.rule("bad", needs=("no_such_signal",), fires_when="x")


def _documents() -> list[bytes]:
    docs = [p.read_bytes() for p in sorted((ROOT / "fixtures").glob("*.eml"))]
    docs += [("<html><body>" + compare_outputs._fill(s, __import__("random").Random(n))
              + "</body></html>").encode() for n, s in enumerate(compare_outputs.SNIPPETS)]
    return docs


class _Recorder:
    """Signals as one rule sees them: every name it reads is written down."""

    def __init__(self, signals, read: set[str]) -> None:
        self._signals = signals
        self._read = read

    def __getattr__(self, name: str):
        self._read.add(name)
        return getattr(self._signals, name)


def test_each_rule_reads_only_the_signals_it_declares(monkeypatch: pytest.MonkeyPatch) -> None:
    read: dict[str, set[str]] = {r.id: set() for r in rules.RULES}

    def recording(r: rules.Rule) -> rules.Rule:
        def check(res, s):
            return r.check(res, _Recorder(s, read[r.id]))
        return rules.Rule(r.id, check, r.needs, r.allowed_senders, r.fires_when)

    monkeypatch.setattr(rules, "RULES", tuple(recording(r) for r in rules.RULES))
    fired: set[str] = set()
    for raw in _documents():
        for action in ("strip", "rewrite"):
            res = clean_message(raw, Policy(action=action, recipients=(BOB, "reader@example.org"),
                                            default_deny_hosts=("media.mailer.example",)))
            fired |= {f.rule for f in res.findings}
    for r in rules.RULES:
        assert read[r.id] <= r.needs, f"{r.id} reads {sorted(read[r.id] - r.needs)} undeclared"
    assert fired >= {"size", "hidden", "known-tracker", "url-shape", "recipient-leak",
                     "css-remote", "deny-list", "needless-element", "meta-refresh"}


_ALLOWED = (b"From: News <news@shop.example>\nTo: bob@example.org\nContent-Type: text/html\n\n"
            b'<img src="https://media.mailer.example/p.gif" width="1" height="1">'
            b'<img src="https://img.shop.example/svg-sprite.svg#logo" width="1" height="1">\n')


def test_only_rules_declared_for_allowed_senders_judge_their_mail() -> None:
    allowed = Policy(allow_senders=("shop.example",), require_auth_for_allow=False)
    assert clean_message(_ALLOWED, allowed).findings == []
    denied = Policy(allow_senders=("shop.example",), require_auth_for_allow=False,
                    default_deny_hosts=("media.mailer.example",))
    assert [f.rule for f in clean_message(_ALLOWED, denied).findings] == ["deny-list"]
    assert [r.id for r in rules.RULES if r.allowed_senders] == ["deny-list"]


def test_an_example_rule_added_as_architecture_md_says_runs_in_its_place(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # 1. declare it (in pixelguard/detect/rules.py: a function with @rule)
    monkeypatch.setattr(rules, "DECLARED", dict(rules.DECLARED))

    @rules.rule("svg-sprite", needs=("host",), allowed_senders=True,
                fires_when="an SVG sprite loaded from a remote host")
    def svg_sprite(res, s):
        """A remote SVG sprite (example rule)."""
        if res.url.split("#")[0].endswith(".svg"):
            return f"remote SVG sprite from {s.host}"
        return None

    # 2. give it its place in ORDER (first here, so it names the finding)
    order = ("svg-sprite",) + rules.ORDER
    monkeypatch.setattr(rules, "ORDER", order)
    monkeypatch.setattr(rules, "RULES", rules.ordered(order))
    # 3. it runs, in its place, and for an allowed sender too as it declares
    allowed = Policy(allow_senders=("shop.example",), require_auth_for_allow=False)
    found = clean_message(_ALLOWED, allowed).findings
    assert [(f.rule, f.reason) for f in found] == [
        ("svg-sprite", "remote SVG sprite from img.shop.example")]
    found = clean_message(_ALLOWED, Policy()).findings
    assert [f.rule for f in found] == ["size", "svg-sprite"]
    # 4. the README's table lists it once scripts/rules_table.py has run
    assert "| `svg-sprite` | an SVG sprite loaded from a remote host |" in rules_table.table()
