"""What is kept between messages (a URL's shape and the tracker list's verdict on it, a
resolved reference, a tag's attributes) is only what that text alone decides: a recipient's
address, a user's host lists, a message's base and where a tag sits are judged again in every
message, and what is kept stays bounded."""
from __future__ import annotations

from pixelguard import Policy, clean_message
from pixelguard.detect import shape
from pixelguard.trackers import TrackerList
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
    hit, miss = "https://t.example/open/1.gif", "https://t.example/logo.png"
    for _ in range(2):  # the second time from what is kept
        assert tl.match(hit) is not None
        assert tl.match(miss) is None
    assert hit in tl._seen and miss in tl._seen  # a "no" is kept too
    for n in range(tl._seen.entries + 50):
        assert tl.match(f"https://cdn{n}.example/i.png") is None
    assert len(tl._seen) <= tl._seen.entries
    assert tl.match(hit) is not None  # still right after the memory was emptied
    long = "https://t.example/open/" + "a" * tl._seen.largest
    assert tl.match(long) is not None
    assert long not in tl._seen


def test_each_tracker_list_keeps_its_own_verdicts(tmp_path):
    url = "https://cdn.shop.example/pixel-7.gif"
    raw = html_mail(f'<img src="{url}" width="600" height="200" alt="Sale">')
    extra = tmp_path / "mine.json"
    extra.write_text('{"entries": [{"vendor": "Mine", "host": "cdn.shop.example", '
                     '"path": "/pixel-"}]}', encoding="utf-8")
    with_list = Policy(extra_lists=(str(extra),))
    for policy, expected in ((Policy(), []), (with_list, ["known-tracker"]), (Policy(), []),
                             (with_list, ["known-tracker"])):
        assert rules(raw, policy) == expected, policy


def test_a_urls_shape_facts_are_those_of_a_fresh_look_and_long_urls_are_not_kept():
    urls = [
        "https://news.shop.example/open.gif?id=1",
        "https://cdn.shop.example/img/spacer.gif",
        "https://a.example/p/Zx8kQ2mP9rT4vW7yB3nL?u=1",
        "not a url at all",
        "https://[::1/broken",
    ]
    for url in urls:
        assert shape.url_facts(url) == shape._fresh_url_facts(url)
        assert url in shape._KEPT
        assert shape.url_facts(url) == shape._fresh_url_facts(url)  # and again, from the memory
    long = "https://a.example/" + "x" * shape._KEPT.largest
    assert shape.url_facts(long) == shape._fresh_url_facts(long)
    assert long not in shape._KEPT


def test_a_relative_reference_is_resolved_against_each_messages_own_base():
    def found(base: str) -> list[str]:
        raw = html_mail(f'<base href="{base}"><img src="p/open.gif" width="1" height="1">')
        return [f.url for f in clean_message(raw, Policy()).findings]

    assert found("https://a.example/news/") == ["https://a.example/news/p/open.gif"]
    assert found("https://b.example/") == ["https://b.example/p/open.gif"]
    assert found("https://a.example/news/") == ["https://a.example/news/p/open.gif"]


def test_long_references_and_bases_are_resolved_but_not_kept():
    from pixelguard.detect import vectors

    long_base = "https://a.example/" + "d/" * vectors._KEPT.largest
    assert vectors._memo_resolve(long_base)("x.gif") == long_base + "x.gif"
    assert ("x.gif", long_base) not in vectors._KEPT
    long_ref = "https://a.example/" + "y" * vectors._KEPT.largest
    assert vectors._memo_resolve(None)(long_ref) == long_ref
    assert (long_ref, None) not in vectors._KEPT
    assert vectors._memo_resolve("https://a.example/")("x.gif") == "https://a.example/x.gif"
    assert ("x.gif", "https://a.example/") in vectors._KEPT


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


def test_the_same_tag_inside_and_outside_an_outlook_comment_is_edited_where_it_is():
    tag = '<img src="https://news.shop.example/open.gif?id=7" width="1" height="1">'
    body = f"<p>a</p>{tag}<!--[if mso]><p>b</p>{tag}<![endif]--><div>c</div>"
    result = clean_message(html_mail(body), Policy(action="rewrite", notice=False))
    assert [f.where.startswith("mso") for f in result.findings] == [False, True]
    out = result.raw.decode()
    assert "news.shop.example" not in out
    assert out.count("<img") == 2
    assert "<p>a</p><img" in out and "<!--[if mso]><p>b</p><img" in out
    assert "<![endif]--><div>c</div>" in out


def test_long_tags_are_read_but_not_kept():
    from pixelguard import htmlscan

    title = "t" * htmlscan._KEPT_ATTRS.largest
    doc = htmlscan.scan(f'<p><img title="{title}" src="https://a.example/i.png"></p>')
    img = doc.elements[1]
    assert img.get("src") == "https://a.example/i.png"
    assert img.attr("src").start == img.text.index("src=") + img.start
    assert img.text not in htmlscan._KEPT_ATTRS
    short = htmlscan.scan('<img src="https://a.example/j.png">').elements[0]
    assert short.get("src") == "https://a.example/j.png"
    assert short.text in htmlscan._KEPT_ATTRS


def test_a_tag_is_kept_at_the_cost_of_its_attributes_too():
    from pixelguard import htmlscan

    htmlscan._KEPT_ATTRS.clear()
    few = htmlscan.scan('<img a1 a2 a3 src="https://a.example/i.png">').elements[0]
    assert few.attr("a1") is not None
    assert htmlscan._KEPT_ATTRS.used == len(few.text) + 100 * 4
    # short, but 300 attributes: more than one tag may cost, so not kept
    many = htmlscan.scan("<img " + " ".join(f"a{n}" for n in range(300)) + ">").elements[0]
    assert len(many.text) < htmlscan._KEPT_ATTRS.largest
    assert many.attr("a1") is not None and many.attr("a299") is not None
    assert many.text not in htmlscan._KEPT_ATTRS


def test_a_tags_box_is_kept_by_its_text_and_the_memory_is_bounded():
    from pixelguard import htmlscan
    from pixelguard.detect import visibility

    def img(attrs: str) -> htmlscan.Element:
        return htmlscan.scan(f"<p><img {attrs}></p>").elements[1]

    assert visibility.tag_box(img('width="1" style="height:2px"')) == (1.0, 2.0)
    assert visibility.tag_box(img('width="1" style="height:2px"')) == (1.0, 2.0)
    assert visibility.tag_box(img('width="600" style="height:2px;max-width:100%"')) == (600.0, 2.0)
    for n in range(visibility._BOXES.entries + 20):
        assert visibility.tag_box(img(f'width="{n}"')) == (float(n), None)
    assert len(visibility._BOXES) <= visibility._BOXES.entries
    assert visibility.tag_box(img('width="1" style="height:2px"')) == (1.0, 2.0)  # relearnt
    long = img(f'width="1" height="1" title="{"t" * visibility._BOXES.largest}"')
    assert visibility.tag_box(long) == (1.0, 1.0)
    assert long.text not in visibility._BOXES
