"""What is kept between messages (pixelguard.cache: a style attribute's parsed declarations)
is only what that text alone decides: a recipient's address, a user's host lists, a
message's base and where a tag sits are judged again in every message, and what is kept
stays bounded."""
from __future__ import annotations

from pixelguard import Policy, clean_message, css
from pixelguard.cache import Cache
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


def test_the_tracker_lists_verdicts_are_the_same_every_time():
    tl = TrackerList([Entry(vendor="V", host="t.example", path="/open", kind="prefix",
                            precise=True, source="test", pattern="t.example/open")])
    hit, miss = "https://t.example/open/1.gif", "https://t.example/logo.png"
    for _ in range(2):
        assert tl.match(hit) is not None
        assert tl.match(miss) is None
    for n in range(100):
        assert tl.match(f"https://cdn{n}.example/i.png") is None
    assert tl.match(hit) is not None
    assert tl.match("https://t.example/open/" + "a" * 5000) is not None


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


def test_a_relative_reference_is_resolved_against_each_messages_own_base():
    def found(base: str) -> list[str]:
        raw = html_mail(f'<base href="{base}"><img src="p/open.gif" width="1" height="1">')
        return [f.url for f in clean_message(raw, Policy()).findings]

    assert found("https://a.example/news/") == ["https://a.example/news/p/open.gif"]
    assert found("https://b.example/") == ["https://b.example/p/open.gif"]
    assert found("https://a.example/news/") == ["https://a.example/news/p/open.gif"]


def test_long_references_and_bases_are_resolved():
    from pixelguard.detect import vectors

    long_base = "https://a.example/" + "d/" * 4096
    assert vectors._memo_resolve(long_base)("x.gif") == long_base + "x.gif"
    long_ref = "https://a.example/" + "y" * 4096
    assert vectors._memo_resolve(None)(long_ref) == long_ref
    assert vectors._memo_resolve("https://a.example/")("x.gif") == "https://a.example/x.gif"


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


def test_long_tags_and_tags_with_many_attributes_are_read():
    from pixelguard import htmlscan

    title = "t" * 4096
    doc = htmlscan.scan(f'<p><img title="{title}" src="https://a.example/i.png"></p>')
    img = doc.elements[1]
    assert img.get("src") == "https://a.example/i.png"
    assert img.attr("src").start == img.text.index("src=") + img.start
    many = htmlscan.scan("<img " + " ".join(f"a{n}" for n in range(300)) + ">").elements[0]
    assert many.attr("a1") is not None and many.attr("a299") is not None


def test_a_tags_box_is_that_of_its_attributes_and_style():
    from pixelguard import htmlscan
    from pixelguard.detect import visibility

    def img(attrs: str) -> htmlscan.Element:
        return htmlscan.scan(f"<p><img {attrs}></p>").elements[1]

    cache = Cache()
    for kept in (None, cache.styles, cache.styles):
        assert visibility.tag_box(img('width="1" style="height:2px"'), kept) == (1.0, 2.0)
        assert visibility.tag_box(img('width="600" style="height:2px;max-width:100%"'),
                                  kept) == (600.0, 2.0)


def test_a_style_is_kept_by_its_text_as_a_fresh_reading_gives_it_and_the_memory_is_bounded():
    cache = Cache()
    styles = ["display:none", "width:1px;height:1px", "background:url(https://a.example/b.gif)",
              "font-family:&quot;A&quot;", "color:red;/* c */"]
    for style in styles:
        fresh = css.parse_inline(style)
        assert css.parse_inline(style, cache.styles) == fresh
        assert style in cache.styles
        assert css.parse_inline(style, cache.styles) == fresh  # and again, from the memory
    long = "color:red;" * (cache.styles.largest // 10 + 1)
    assert css.parse_inline(long, cache.styles) == css.parse_inline(long)
    assert long not in cache.styles
    for n in range(20_000):
        css.parse_inline(f"width:{n}px;height:{n}px;margin:0", cache.styles)
    assert cache.styles.used <= cache.styles.chars


def test_a_message_cleaned_with_a_cache_is_cleaned_as_without_one():
    raw = html_mail('<div style="display:none"><img src="https://cdn.shop.example/a.png"></div>'
                    '<img src="https://cdn.shop.example/b.png" style="width:1px;height:1px">')
    cache = Cache()
    alone = clean_message(raw, Policy())
    for _ in range(2):
        again = clean_message(raw, Policy(), cache)
        assert again.raw == alone.raw and again.findings == alone.findings
    assert len(cache.styles) >= 2
