"""What every test shares: the split between the fast suite and the end-to-end suite.

Tests under tests/e2e/ (real Dovecot, Postfix, procmail, pixelguard subprocesses) and
tests/browser/ (headless Chromium) are marked `e2e` here, by directory, so

    python -m pytest -m "not e2e" -n auto

runs the fast suite (under a minute on two cores; each of its tests can run in any worker).
A test elsewhere that starts servers or worker processes, or runs the whole pipeline over
thousands of generated messages or the shared corpus, carries `@pytest.mark.e2e` itself.
With exactly `-m "not e2e"` those two directories are not collected at all: every test in
them would be deselected, and importing them costs (some parametrize over a cleaned corpus).
So an import error in one of them shows in a run that includes the e2e tests, not in the
fast suite.

The helper modules (tests/support.py, tests/e2e/dovecot.py, …) are imported by their bare
names: pyproject.toml's `pythonpath` puts their directories on the path.
"""
from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
E2E_DIRS = (HERE / "e2e", HERE / "browser")


def pytest_collection_modifyitems(items):
    for item in items:
        if any(item.path.is_relative_to(d) for d in E2E_DIRS):
            item.add_marker(pytest.mark.e2e)


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    if " ".join((config.getoption("markexpr") or "").split()) != "not e2e":
        return None
    return any(collection_path.is_relative_to(d) for d in E2E_DIRS) or None
