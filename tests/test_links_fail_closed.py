"""The links step never costs the tracker removal: when it cannot finish (a list gone or
broken, its share of the time budget spent) no link is edited, the trackers are removed,
and X-PixelGuard says why; links past MAX_LINKS_PER_PART stay as sent and the header says so."""
from __future__ import annotations

import email

from links_mail import link, message

from pixelguard import clean_message, stamp
from pixelguard.budget import MAX_LINKS_PER_PART, Deadline
from pixelguard.htmlscan import scan
from pixelguard.links.edit import edit_links
from pixelguard.model import LinkOptions, Policy

PIXEL = '<img src="https://t.example/open.gif?u=1" width="1" height="1">'
SHOP = "https://shop.example/p?utm_source=nl&id=4"


def _header(raw: bytes) -> str:
    """The X-PixelGuard value, unfolded."""
    (value,) = email.message_from_bytes(raw).get_all(stamp.NAME)
    return " ".join(value.split())


def _clean(html: str, **options: object):
    return clean_message(message(html), Policy(links=LinkOptions(**options)))  # type: ignore[arg-type]


def test_a_links_list_that_vanished_leaves_links_but_removes_the_pixel(tmp_path):
    gone = str(tmp_path / "gone.json")
    r = _clean(f"<p>Hi</p>{link(SHOP)}{PIXEL}", strip_params=True, lists=(gone,))
    assert r.error is None
    assert [f.url for f in r.findings] == ["https://t.example/open.gif?u=1"]
    assert b"open.gif" not in r.raw.split(b"\r\n\r\n", 1)[1]
    assert b"utm_source=nl&amp;id=4" in r.raw  # the link as sent
    value = _header(r.raw)
    assert value.startswith("removed=1;") and "skipped=part 1 links not edited (" in value
    assert "gone.json" in value
    assert stamp.parse(value).removed == 1


def test_a_links_list_that_broke_leaves_links_and_says_so(tmp_path):
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    r = _clean(f"<p>Hi</p>{link(SHOP)}", strip_params=True, lists=(str(broken),))
    assert r.error is None and not r.links
    assert r.skipped and "links not edited" in r.skipped[0] and "not JSON" in r.skipped[0]
    value = _header(r.raw)
    assert value.startswith("skipped; part 1 links not edited (")
    assert stamp.parse(value).skipped.startswith("part 1 links not edited")


def test_past_its_deadline_the_links_step_edits_nothing_and_says_why():
    doc = scan(f"<p>Hi</p>{link(SHOP)}")
    changes, edits, why = edit_links(doc, LinkOptions(strip_params=True), "1", str,
                                     deadline=Deadline(0.0))
    assert (changes, edits) == ([], [])
    assert why is not None and why.startswith("part 1 links not edited (over ")
    # with time left, the same link is edited
    changes, edits, why = edit_links(doc, LinkOptions(strip_params=True), "1", str,
                                     deadline=Deadline(60.0))
    assert [c.action for c in changes] == ["stripped"] and why is None


def test_links_past_the_limit_stay_as_sent_and_the_header_says_so():
    links = "".join(link(f"https://shop.example/{i}?utm_source=nl") for i in range(MAX_LINKS_PER_PART + 1))
    r = _clean(f"<p>Hi</p>{links}", strip_params=True)
    assert r.error is None
    assert len(r.links) == MAX_LINKS_PER_PART
    assert f"shop.example/{MAX_LINKS_PER_PART}?utm_source=nl".encode() in r.raw
    assert b"shop.example/0?utm_source" not in r.raw
    value = _header(r.raw)
    assert f"links=stripped:{MAX_LINKS_PER_PART}" in value
    assert f"skipped=part 1 links past the first {MAX_LINKS_PER_PART} left as sent" in value
