"""docs/pipe.md shows the recipe files the e2e tests install, as they are."""
from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RECIPES = sorted(p for p in (ROOT / "docs" / "recipes").rglob("*") if p.is_file())


def test_there_are_recipes():
    names = {p.relative_to(ROOT / "docs" / "recipes").as_posix() for p in RECIPES}
    assert {"procmailrc", "dovecot/90-pixelguard.conf", "dovecot/pixelguard.sieve",
            "dovecot/pixelguard-filter"} <= names


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda p: p.name)
def test_pipe_md_shows_each_recipe_file_verbatim(recipe):
    assert recipe.read_text() in (ROOT / "docs" / "pipe.md").read_text()


@pytest.mark.parametrize("doc", ["README.md", "docs/install.md"])
def test_docs_do_not_send_readers_to_sieve_execute(doc):
    text = (ROOT / doc).read_text()
    assert "Sieve `execute`" not in text
    assert "docs/pipe.md" in text or "(pipe.md)" in text
