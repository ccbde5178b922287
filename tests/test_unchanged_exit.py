"""`pixelguard clean --unchanged-exit N`: the status a delivery agent reads as "keep yours".

procmail's recipe (docs/recipes/procmailrc) relies on it; tests/e2e/test_pipe_procmail.py
runs it under real procmail. Here: the status, and that the message is written either way;
once as a real process, the rest in this one (tests/cli_run.py).
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from cli_run import run_cli

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def clean(*args: str, stdin: bytes):
    return run_cli("clean", *args, stdin=stdin)


def test_nothing_to_remove_exits_n_and_still_writes_the_message():
    raw = (FIXTURES / "negative-content.eml").read_bytes()
    proc = subprocess.run([sys.executable, "-m", "pixelguard", "clean", "--unchanged-exit", "1", "-"],
                          input=raw, capture_output=True, timeout=60, check=False)
    assert proc.returncode == 1
    assert proc.stdout == raw


def test_a_cleaned_message_exits_0():
    raw = (FIXTURES / "demo-newsletter.eml").read_bytes()
    proc = clean("--unchanged-exit", "1", stdin=raw)
    assert proc.returncode == 0
    assert proc.stdout.startswith(b"X-PixelGuard: removed=")


def test_unparseable_input_passed_through_counts_as_unchanged():
    raw = (FIXTURES / "bad-not-a-message.eml").read_bytes()
    proc = clean("--unchanged-exit", "7", stdin=raw)
    assert (proc.returncode, proc.stdout) == (7, raw)


def test_default_is_0_for_unchanged_mail():
    raw = (FIXTURES / "negative-content.eml").read_bytes()
    assert clean(stdin=raw).returncode == 0


@pytest.mark.parametrize("bad", ["256", "-1", "one"])
def test_a_status_outside_0_to_255_is_a_usage_error(bad):
    proc = clean("--unchanged-exit", bad, stdin=b"")
    assert proc.returncode == 2
    assert b"not an exit status (0 to 255)" in proc.stderr
    assert b"Traceback" not in proc.stderr
