"""Link edits are off by default: with `links` absent the output is byte-identical to the output
with every link option off, on the shared corpus (where present) and on the project's fixtures."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from support import FIXTURES

from pixelguard import clean_message
from pixelguard.cli_filter import policy_for
from pixelguard.config import Config
from pixelguard.model import LinkOptions

CORPUS = Path(__file__).resolve().parent.parent.parent / "shared" / "corpus"
NOT_MESSAGES = {"SOURCES.md", "AUTO_LABELS.jsonl", "README.md"}


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*")
                  if p.is_file() and p.name not in NOT_MESSAGES and not p.name.startswith("."))


def _assert_off_by_default(paths: list[Path]) -> None:
    assert paths
    differ = []
    for path in paths:
        raw = path.read_bytes()
        default = policy_for(Config(), None, raw)
        assert default.links == LinkOptions(), "the default policy turns a link option on"
        absent = clean_message(raw, default)
        off = clean_message(raw, dataclasses.replace(default, links=LinkOptions()))
        if absent.raw != off.raw or absent.findings != off.findings:
            differ.append(path.name)
    assert not differ, f"output differs with LinkOptions() from the default: {differ}"


def test_fixtures_are_cleaned_alike_with_links_absent_and_all_off():
    _assert_off_by_default(_files(FIXTURES))


@pytest.mark.skipif(not CORPUS.is_dir(), reason=f"shared corpus not found at {CORPUS}")
def test_shared_corpus_is_cleaned_alike_with_links_absent_and_all_off():
    _assert_off_by_default(_files(CORPUS))
