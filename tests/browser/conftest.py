"""The browser-truth tests need Debian's chromium and Playwright: skipped loudly when either is
missing, except under CI=true, where a missing engine is a failure (CI must run them)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from engine import Engine, available


def pytest_collection_modifyitems(items):
    here = Path(__file__).resolve().parent
    for item in items:
        if Path(str(item.fspath)).resolve().parent == here:
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="module")
def engine():
    """One Chromium per test module. (Playwright's sync API keeps an asyncio loop running in
    this thread while it is started: it must be stopped before other tests call
    asyncio.run().)"""
    why = available()
    if why is not None:
        reason = f"BROWSER TESTS NOT RUN: {why} (or run scripts/test.sh)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason + " — CI=true, so this is a failure", pytrace=False)
        pytest.skip(reason)
    with Engine() as eng:
        yield eng
