"""Browser truth for link edits: clicking an unwrapped link in Chromium (scripting off) goes
straight to its destination, with no request to the redirector; the uncleaned message's click
does go through the redirector (the control that shows the check can fail).

Every request is answered here with a tiny page, the redirector's too (Playwright does not
route the request that follows a redirect, so a real 302 would reach for the network): the
click's first navigation is what is judged. Nothing leaves the machine.
"""
from __future__ import annotations

import urllib.parse

import pytest
from engine import DOC_HOST, html_documents, single_part

from pixelguard import clean_message
from pixelguard.model import LinkOptions, Policy

REDIRECTOR = "www.google.com"
ARTICLE = "https://example.org/article?id=7"
WRAPPED = ("https://www.google.com/url?q=" + urllib.parse.quote(ARTICLE, safe="")
           + "&sa=D&source=editors&ust=1700000000000000&usg=AOvVaw3x")
TAGGED = "https://shop.example/spring?colour=blue&utm_source=newsletter&utm_medium=email"
UNTAGGED = "https://shop.example/spring?colour=blue"

MESSAGE = single_part(
    f'<p>Read <a id="wrapped" href="{WRAPPED.replace("&", "&amp;")}">the article</a>.</p>\n'
    f'<p>Or <a id="tagged" href="{TAGGED.replace("&", "&amp;")}">shop spring</a>.</p>')
LINKS_ON = Policy(links=LinkOptions(unwrap=True, strip_params=True, mark=True))


def _click(engine, raw: bytes, link_id: str) -> list[str]:
    """The remote top-level navigations that clicking `#link_id` in the rendered message makes."""
    navigations: list[str] = []
    page = engine.page(1024, "light")

    def answer(route) -> None:
        request = route.request
        url = request.url
        if urllib.parse.urlsplit(url).hostname == DOC_HOST:
            route.fallback()  # the engine serves the message itself
            return
        if request.is_navigation_request():
            navigations.append(url)
        route.fulfill(status=200, body=b"<!DOCTYPE html><p>landed</p>",
                      headers={"content-type": "text/html", "cache-control": "no-store"})

    try:
        page.route("**/*", answer)
        [(html, charset)] = html_documents(raw)
        engine.show(page, html, charset)
        with page.expect_navigation(wait_until="load"):
            page.click(f"a#{link_id}")
        return navigations
    finally:
        page.context.close()


@pytest.fixture(scope="module")
def cleaned():
    result = clean_message(MESSAGE, LINKS_ON)
    assert result.error is None, result.error
    return result.raw


def test_unwrapped_link_navigates_straight_to_its_destination(engine, cleaned):
    control = _click(engine, MESSAGE, "wrapped")
    assert control == [WRAPPED], f"the uncleaned click should go to the redirector: {control}"

    after = _click(engine, cleaned, "wrapped")
    assert after == [ARTICLE], f"navigations after cleaning: {after}"
    assert not [u for u in after if urllib.parse.urlsplit(u).hostname == REDIRECTOR]


def test_tagged_link_navigates_without_its_tracking_parameters(engine, cleaned):
    assert _click(engine, MESSAGE, "tagged") == [TAGGED]
    assert _click(engine, cleaned, "tagged") == [UNTAGGED]
