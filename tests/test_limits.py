"""Resource limits: nothing is lost when a limit is hit, and the message says what happened."""
from __future__ import annotations

import dataclasses

from support import BOB, fixture

from pixelguard import Policy, clean_message


def test_html_part_over_the_size_limit_passes_unchecked_with_a_header() -> None:
    raw = fixture("size-attr-1x1.eml")
    result = clean_message(raw, Policy(recipients=(BOB,), max_html_bytes=100))
    assert result.findings == []
    assert result.skipped and "larger than 100 bytes" in result.skipped[0]
    assert result.raw.startswith(b"X-PixelGuard: skipped; part 1 larger than 100 bytes")
    assert result.raw.endswith(raw)


def test_other_parts_are_still_cleaned_when_one_is_skipped() -> None:
    raw = fixture("mime-alternative-qp.eml")
    html_part = raw.replace(b"alt-1--", b"alt-1\nContent-Type: text/html\n\n" + b"<p>x</p>" * 400 + b"\n--alt-1--")
    result = clean_message(html_part, Policy(recipients=(BOB,), max_html_bytes=1500))
    assert len(result.findings) == 1
    assert result.skipped and result.skipped[0].startswith("part 3")
    assert b"skipped=part 3" in result.raw.split(b"\n\n", 1)[0].replace(b"\n ", b" ")


def test_time_budget_exceeded_returns_the_message_unchanged_with_an_error() -> None:
    raw = fixture("size-attr-1x1.eml")
    result = clean_message(raw, Policy(recipients=(BOB,), time_budget=-1.0))
    assert result.raw == raw
    assert result.error and "time budget" in result.error


def test_deep_nesting_does_not_raise() -> None:
    body = "<div>" * 100_000 + '<img src="https://media.mailer.example/x.gif" width="1" height="1">'
    raw = f"<html><body>{body}</body></html>".encode()
    result = clean_message(raw, dataclasses.replace(Policy(), time_budget=60.0))
    assert result.error is None
    assert [f.rule for f in result.findings] == ["size"]


def test_limits_come_from_the_config(tmp_path) -> None:
    from pixelguard.config import ConfigError, load_config

    cfg = tmp_path / "pg.yaml"
    cfg.write_text("limits:\n  max_html_size: 2KiB\n  time_budget: 3\n")
    policy = load_config(str(cfg)).policy_for("bob@example.org")
    assert (policy.max_html_bytes, policy.time_budget) == (2048, 3.0)
    cfg.write_text("limits:\n  time_budget: -1\n")
    try:
        load_config(str(cfg))
    except ConfigError as exc:
        assert exc.line == 2 and "time_budget" in str(exc)
    else:
        raise AssertionError("a negative time budget was accepted")
