"""Browser truth: a cleaned message, rendered by Chromium, requests no tracker and still
requests every content resource (engine.py says how a message is rendered). A cleaned message
may request content its original did not: the fallback <img> of a <picture> whose tracking
<source> was removed."""
from __future__ import annotations

import urllib.parse

import pytest
from cases import CASES, CONTENT_CASES
from engine import remote
from support import BOB, FIXTURES

from pixelguard import Policy, clean_message

ACTIONS = ("strip", "rewrite")


def _host(url: str) -> str:
    return urllib.parse.urlsplit(url).hostname or ""


def _is(kind: str, url: str) -> bool:
    host = _host(url)
    return host == kind or host.endswith("." + kind)


def _clean(raw: bytes, action: str):
    result = clean_message(raw, Policy(recipients=(BOB,), action=action))
    assert result.error is None, result.error
    return result


@pytest.fixture(scope="module")
def originals(engine):
    """The requests of each case's original message, rendered once."""
    return {name: remote(engine.requests(raw)) for name, raw in {**CASES, **CONTENT_CASES}.items()}


@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize("name", sorted(CASES))
def test_no_tracker_request_survives_cleaning(engine, originals, name, action):
    before = originals[name]
    trackers = {u for u in before if _is("tracker.test", u)}
    assert trackers, f"{name}: the original makes no tracker request in Chromium: not a case"
    after = remote(engine.requests(_clean(CASES[name], action).raw))
    assert not {u for u in after if _is("tracker.test", u)}, f"{name}: {sorted(after)}"
    lost = {u for u in before if _is("content.test", u)} - after
    assert not lost, f"{name}: content no longer requested: {sorted(lost)}"


@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize("name", sorted(CONTENT_CASES))
def test_content_is_still_requested_after_cleaning(engine, originals, name, action):
    before = originals[name]
    content = {u for u in before if _is("content.test", u)}
    assert content and content == before, f"{name}: not a content-only case: {sorted(before)}"
    after = remote(engine.requests(_clean(CONTENT_CASES[name], action).raw))
    assert after == before, f"{name}: lost {sorted(before - after)}"


def _schemeless(urls: set[str]) -> set[str]:
    return {u.split(":", 1)[1] for u in urls}


FIXTURE_FILES = sorted(p.name for p in FIXTURES.glob("*.eml")) + ["bare-document.html"]


@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize("name", FIXTURE_FILES)
def test_fixture_after_cleaning_requests_no_finding_and_every_other_resource(
        engine, name, action):
    raw = (FIXTURES / name).read_bytes()
    result = clean_message(raw, Policy(recipients=(BOB,), action=action))
    # (compared without the scheme: the engine's page is http, so "//host/x" loads as
    # http:, while a finding names it https:, as mail clients load it)
    before = _schemeless(remote(engine.requests(raw)))
    after = _schemeless(remote(engine.requests(result.raw)))
    removed = _schemeless({f.url for f in result.findings})
    assert not after & removed, f"{name}: still requested: {sorted(after & removed)}"
    kept = before - removed
    assert kept <= after, f"{name}: content no longer requested: {sorted(kept - after)}"
