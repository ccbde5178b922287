"""Helpers shared by the `pixelguard imap` end-to-end tests (import as `from imap_support import
...`): a bounded condition wait and a long-running `pixelguard imap` subprocess."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable

from conftest import ROOT, imap_env


def wait_until(predicate: Callable[[], object], what: str, timeout: float, interval: float = 0.02):
    """Poll `predicate` every `interval` seconds until it returns something truthy (returned);
    fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)  # polling interval of the condition wait


def start_imap(
    config: str, *args: str, password: str = "secret", env: dict | None = None
) -> subprocess.Popen:
    """`python -m pixelguard imap --config CONFIG ARGS...` started in the background, its
    stdout and stderr piped (text)."""
    return subprocess.Popen(
        [sys.executable, "-m", "pixelguard", "imap", "--config", config, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=imap_env(password, env),
        cwd=ROOT,
    )


def process_state(pid: int) -> str:
    """The state letter of process `pid` from /proc ("T": stopped), or "gone"."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "gone"
