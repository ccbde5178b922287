"""What is kept between messages (a URL's shape and the tracker list's verdict on it, a
resolved reference, a tag's attributes) is only what that text alone decides: a recipient's
address, a user's host lists, a message's base and where a tag sits are judged again in every
message, and what is kept stays bounded."""
from __future__ import annotations

from pixelguard import Policy, clean_message
from pixelguard.detect import shape
from pixelguard.trackers import TrackerList
from pixelguard.trackers import _index
from pixelguard.trackers._entry import Entry

ALICE = "alice@example.org"
BOB = "bob@example.org"


def html_mail(body: str) -> bytes:
    return (
        "From: news@shop.example\r\nTo: someone@example.org\r\nSubject: memo\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
        f"<html><body><p>Hello</p>{body}</body></html>\r\n"
    ).encode()


def rules(raw: bytes, policy: Policy) -> list[str]:
    return [f.rule for f in clean_message(raw, policy).findings]


def test_a_leaked_address_is_judged_for_each_recipient_after_the_url_was_seen():
    raw = html_mail(f'<img src="https://cdn.shop.example/banner.png?e={ALICE}" width="600" '
                    'height="200" alt="Sale">')
    for first, second in ((BOB, ALICE), (ALICE, BOB)):
        results = {who: rules(raw, Policy(recipients=(who,))) for who in (first, second)}
        assert results[ALICE] == ["recipient-leak"]
        assert results[BOB] == []


def test_a_users_allowed_host_is_judged_per_policy_after_the_url_was_seen():
    raw = html_mail('<img src="https://u123.ct.sendgrid.net/wf/open?upn=abc" width="1" height="1">')
    allowing = Policy(user_allow_hosts=("sendgrid.net",))
    for policy, expected in ((Policy(), True), (allowing, False), (Policy(), True),
                             (allowing, False)):
        assert bool(rules(raw, policy)) is expected, policy


def test_the_tracker_lists_kept_verdicts_are_the_same_and_bounded():
    tl = TrackerList([Entry(vendor="V", host="t.example", path="/open", kind="prefix",
                            precise=True, source="test", pattern="t.example/open")])
    hit = "https://t.example/open/1.gif"
    assert tl.match(hit) is not None
    assert tl.match(hit) == tl.match(hit)  # the kept verdict
    assert tl.match("https://t.example/logo.png") is None
    assert tl.match("https://t.example/logo.png") is None
    for n in range(_index._SEEN_MAX + 50):
        assert tl.match(f"https://cdn{n}.example/i.png") is None
    assert len(tl._seen) <= _index._SEEN_MAX
    assert tl.match(hit) is not None  # still right after the memory was emptied
    long = "https://t.example/open/" + "a" * _index._SEEN_MAX_URL
    assert tl.match(long) is not None
    assert long not in tl._seen


def test_a_urls_shape_facts_are_those_of_a_fresh_look_and_long_urls_are_not_kept():
    urls = [
        "https://news.shop.example/open.gif?id=1",
        "https://cdn.shop.example/img/spacer.gif",
        "https://a.example/p/Zx8kQ2mP9rT4vW7yB3nL?u=1",
        "not a url at all",
        "https://[::1/broken",
    ]
    for url in urls:
        assert shape.url_facts(url) == shape._url_facts(url)
        assert shape.url_facts(url) == shape._url_facts(url)  # and again, from the cache
    before = shape._url_facts_cached.cache_info().currsize
    long = "https://a.example/" + "x" * shape._FACTS_CACHE_MAX_URL
    assert shape.url_facts(long) == shape._url_facts(long)
    assert shape._url_facts_cached.cache_info().currsize == before


def test_a_relative_reference_is_resolved_against_each_messages_own_base():
    def found(base: str) -> list[str]:
        raw = html_mail(f'<base href="{base}"><img src="p/open.gif" width="1" height="1">')
        return [f.url for f in clean_message(raw, Policy()).findings]

    assert found("https://a.example/news/") == ["https://a.example/news/p/open.gif"]
    assert found("https://b.example/") == ["https://b.example/p/open.gif"]
    assert found("https://a.example/news/") == ["https://a.example/news/p/open.gif"]


def test_long_references_and_bases_are_resolved_but_not_kept():
    from pixelguard.detect import vectors

    before = vectors._resolve_cached.cache_info().currsize
    long_base = "https://a.example/" + "d/" * vectors._RESOLVE_CACHE_MAX
    assert vectors._memo_resolve(long_base)("x.gif") == long_base + "x.gif"
    long_ref = "https://a.example/" + "y" * vectors._RESOLVE_CACHE_MAX
    assert vectors._memo_resolve(None)(long_ref) == long_ref
    assert vectors._resolve_cached.cache_info().currsize == before


def test_the_same_tag_at_other_places_is_edited_where_it_is():
    tag = '<img src="https://news.shop.example/open.gif?id=7" width="1" height="1" alt="">'
    for action in ("strip", "rewrite"):
        for pad in ("", "<p>" + "x" * 37 + "</p>", "<div><p>a</p></div>" * 3):
            raw = html_mail(pad + tag + "<p>after</p>")
            result = clean_message(raw, Policy(action=action, notice=False))
            assert [f.rule for f in result.findings] == ["url-shape"]
            out = result.raw.decode()
            assert "news.shop.example" not in out
            assert pad + ("" if action == "strip" else "<img") in out
            assert "<p>after</p></body>" in out


def test_long_tags_are_read_but_not_kept():
    from pixelguard import htmlscan

    before = htmlscan._attr_matches_cached.cache_info().currsize
    title = "t" * htmlscan._ATTRS_KEPT_MAX
    doc = htmlscan.scan(f'<p><img title="{title}" src="https://a.example/i.png"></p>')
    img = doc.elements[1]
    assert img.get("src") == "https://a.example/i.png"
    assert img.attr("src").start == img.text.index("src=") + img.start
    assert htmlscan._attr_matches_cached.cache_info().currsize == before


def test_a_tags_box_is_kept_by_its_text_and_the_memory_is_bounded():
    from pixelguard import htmlscan
    from pixelguard.detect import visibility

    def img(attrs: str) -> htmlscan.Element:
        return htmlscan.scan(f"<p><img {attrs}></p>").elements[1]

    assert visibility.tag_box(img('width="1" style="height:2px"')) == (1.0, 2.0)
    assert visibility.tag_box(img('width="1" style="height:2px"')) == (1.0, 2.0)
    assert visibility.tag_box(img('width="600" style="height:2px;max-width:100%"')) == (600.0, 2.0)
    for n in range(visibility._BOXES_MAX + 20):
        visibility.tag_box(img(f'width="{n}"'))
    assert len(visibility._BOXES) <= visibility._BOXES_MAX
    long = img(f'width="1" height="1" title="{"t" * visibility._BOX_KEPT_MAX}"')
    assert visibility.tag_box(long) == (1.0, 1.0)
    assert long.text not in visibility._BOXES
