"""A user's ClearURLs rules file (data.min.json format): a provider's redirections unwrap
only URLs its `urlPattern` matches and none of its `exceptions` does. The file here is our
own, written in ClearURLs' format for these tests (ClearURLs' rules are LGPL-3.0 and not
shipped)."""
from __future__ import annotations

import json
import re
from urllib.parse import quote

import pytest
from links_mail import href_after

from pixelguard.budget import MAX_REGEX_URL
from pixelguard.links.rules import search

ARTICLE = "https://news.example/story"
WRAPPED = quote(ARTICLE, safe="")

# Providers shaped like ClearURLs' own: a redirection that reads any `u=`/`url=` parameter,
# gated by the provider's host pattern and exceptions.
RULES = {"providers": {
    "social": {
        "urlPattern": r"^https?:\/\/(?:[a-z0-9-]+\.)*?social\.example",
        "completeProvider": False, "rules": [], "referralMarketing": [], "rawRules": [],
        "exceptions": [r"^https?:\/\/(?:[a-z0-9-]+\.)*?social\.example\/sharer"],
        "redirections": [r"^https?:\/\/[^/]+\/.*?[?&]u=([^&]+)"],
    },
    "outbound": {
        "urlPattern": r"^https?:\/\/out\.tracker\.example",
        "completeProvider": False, "rules": [], "exceptions": [],
        "redirections": [r".*?url=([^&]+)"],
    },
}}


@pytest.fixture
def opts(tmp_path):
    path = tmp_path / "data.min.json"
    path.write_text(json.dumps(RULES))
    return {"unwrap": True, "lists": (str(path),)}


def test_a_redirection_unwraps_a_url_its_provider_pattern_matches(opts):
    assert href_after(f"https://l.social.example/l.php?u={WRAPPED}&h=AT1", **opts) == ARTICLE
    assert href_after(f"https://out.tracker.example/go?id=1&url={WRAPPED}", **opts) == ARTICLE


@pytest.mark.parametrize("href", [
    # other hosts whose URLs carry the same parameters: share dialogs, log-in pages
    f"https://www.facebook.com/sharer/sharer.php?u={WRAPPED}",
    f"https://twitter.com/intent/tweet?url={WRAPPED}&text=Read",
    f"https://www.linkedin.com/sharing/share-offsite/?url={WRAPPED}",
    f"https://app.example/login?redirect_url={WRAPPED}",
])
def test_a_redirection_leaves_urls_outside_its_provider_pattern(opts, href):
    assert href_after(href, **opts) == href


def test_a_provider_exception_keeps_the_url_wrapped(opts):
    href = f"https://www.social.example/sharer/sharer.php?u={WRAPPED}"
    assert href_after(href, **opts) == href


def test_urls_longer_than_the_regex_limit_are_not_given_to_user_regexes(opts):
    href = f"https://out.tracker.example/go?pad={'a' * MAX_REGEX_URL}&url={WRAPPED}"
    assert href_after(href, **opts) == href


@pytest.mark.parametrize("pattern", [
    r".*url=([^&]+)", r".*?(?:url|q)=([^&]+)", r".*[?&]u=([^&|]+)", r".*(a|b)=(\d+)",
    r".*[]|(]x=(\w+)", r".*[^]|(]y=(\w+)", r".*x=(\w+)|y=(\w+)", r".*\|z=(\w+)|q=(\w+)",
])
@pytest.mark.parametrize("text", [
    "https://a.example/go?x=1&url=https%3A%2F%2Fb.example", "https://a.example/?q=2&y=3",
    "https://a.example/p?b=7", "https://a.example/|z=1&q=4", "https://a.example/]x=5",
    "https://a.example/(y=6", "no match here", "line\nbreak?url=x&y=9",
])
def test_rule_search_finds_what_a_regex_search_finds(pattern, text):
    compiled = re.compile(pattern, re.IGNORECASE)
    got, want = search(compiled, text), compiled.search(text)
    assert (got and (got.span(), got.groups())) == (want and (want.span(), want.groups()))
