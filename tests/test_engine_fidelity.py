"""The scanner builds the tree an engine builds where it decides what loads or hides, and the
loads no mail needs are removed (the browser tests in tests/browser check the same in Chromium)."""
from __future__ import annotations

import pytest
from support import BOB, HIDDEN_ONLY_IMG, rules_for_body

from pixelguard import Policy, clean_message
from pixelguard.config import ConfigError, load_config
from pixelguard.detect.vectors import refresh_target
from pixelguard.htmlscan import scan


def _mail(body: str, head: str = "") -> bytes:
    return ("From: a@shop.example\nTo: bob@example.org\nContent-Type: text/html; charset=utf-8\n\n"
            f"<html><head>{head}</head><body>{body}</body></html>\n").encode()


def _el(html: str, tag: str):
    doc = scan(html)
    return doc, next(e for e in doc.elements if e.tag == tag)


def test_img_inside_svg_style_breaks_out_and_is_found():
    body = '<svg><style><img src="https://t.example/x.gif" width="1" height="1"></style></svg>'
    assert rules_for_body(body) == ["size"]


def test_svg_style_is_still_read_as_a_stylesheet():
    body = '<svg><style>@import url(https://css.example/s.css);</style></svg>'
    assert rules_for_body(body) == ["css-remote"]


def test_breakout_closes_the_foreign_elements():
    doc, img = _el("<div><svg><g><img src=x></g></svg></div>", "img")
    assert doc.elements[img.parent].tag == "div"
    assert img.ns == "html"


def test_foreign_object_content_is_html():
    doc, p = _el("<svg><foreignObject><p><style>.a{}</style></p></foreignObject></svg>", "p")
    assert p.ns == "html" and doc.elements[p.parent].tag == "foreignobject"
    assert len(doc.styles) == 1


def test_self_closing_is_honoured_in_svg_only():
    doc, after = _el("<svg><rect/><text>t</text></svg>", "text")
    assert doc.elements[after.parent].tag == "svg"
    doc, span = _el("<div/><span>x</span>", "span")
    assert doc.elements[span.parent].tag == "div"  # "/>" on an HTML element is ignored


def test_image_is_a_void_img_in_html():
    doc, img = _el('<image src="a"><p>x</p>', "img")
    p = next(e for e in doc.elements if e.tag == "p")
    assert p.parent != img.index


def test_a_visible_image_after_a_hidden_image_tag_is_kept():
    body = ('<image style="display:none" src="https://cdn.shop.example/i/Qw7Er5Ty3Ui1Op9As2Df.gif"'
            ' width="600" height="2">' + HIDDEN_ONLY_IMG.replace("<img ", '<img alt="x" '))
    assert rules_for_body(body) == ["hidden"]  # the <image> itself, not the image after it


def test_an_image_foster_parented_out_of_a_hidden_table_is_kept():
    body = '<table style="display:none">' + HIDDEN_ONLY_IMG + "<tr><td>x</td></tr></table>"
    assert rules_for_body(body) == []


def test_an_image_in_a_hidden_table_cell_is_hidden():
    body = '<table style="display:none"><tr><td>' + HIDDEN_ONLY_IMG + "</td></tr></table>"
    assert rules_for_body(body) == ["hidden"]


def test_office_tags_are_elements_that_hide_their_children():
    body = '<o:p style="display:none">' + HIDDEN_ONLY_IMG + "</o:p>"
    assert rules_for_body(body) == ["hidden"]


def test_outlook_only_hide_rule_hides_nothing_other_clients_show():
    body = ('<!--[if mso]><style>#nonmso{display:none}</style><![endif]-->'
            '<div id="nonmso">' + HIDDEN_ONLY_IMG + "</div>")
    assert rules_for_body(body) == []


def test_outlook_only_hide_rule_still_hides_outlook_only_markup():
    body = ('<!--[if mso]><style>.o{display:none}</style><div class="o">' + HIDDEN_ONLY_IMG
            + "</div><![endif]-->")
    assert rules_for_body(body) == ["hidden"]


@pytest.mark.parametrize("content, url", [
    ("0; URL=https://t.example/go", "https://t.example/go"),
    ("1;url='https://t.example/q'", "https://t.example/q"),
    ("  5 , https://t.example/c", "https://t.example/c"),
    ("0.5; url = \"https://t.example/d\" junk", "https://t.example/d"),
    ("30", None),
    ("0; url=cid:x", None),
])
def test_refresh_target_follows_the_declarative_refresh_steps(content, url):
    assert refresh_target(content, lambda raw: raw if raw.startswith("https:") else None) == url


def test_meta_refresh_to_a_remote_page_is_removed():
    raw = _mail("x", head='<meta http-equiv="Refresh" content="0; url=https://t.example/go">')
    result = clean_message(raw, Policy(recipients=(BOB,)))
    assert [f.rule for f in result.findings] == ["meta-refresh"]
    assert b"t.example/go" not in result.raw.split(b"\n\n", 1)[1]


@pytest.mark.parametrize("body, where", [
    ('<iframe src="https://media.example/f.html"></iframe>', "iframe[src]"),
    ("<iframe srcdoc=\"<img src='https://t.example/x'>\"></iframe>", "iframe[srcdoc]"),
    ('<iframe src="data:text/html,%3Cimg%20src=https://t.example/x%3E"></iframe>', "iframe[src]"),
    ('<object data="cid:svg1"></object>', "object[data]"),
    ('<embed src="https://media.example/e.swf">', "embed[src]"),
    ('<audio src="https://media.example/a.mp3"></audio>', "audio[src]"),
    ('<video><source src="https://media.example/v.mp4"></video>', "source[src]"),
    ('<script src="https://media.example/s.js"></script>', "script[src]"),
    ('<link rel="prefetch" href="https://t.example/pf">', "link[rel=prefetch]"),
    ('<link rel="dns-prefetch" href="https://t.example/">', "link[rel=dns-prefetch]"),
])
def test_elements_no_mail_needs_are_removed(body, where):
    result = clean_message(_mail(body), Policy(recipients=(BOB,)))
    assert [(f.rule, f.where) for f in result.findings] == [("needless-element", where)]
    assert b"t.example" not in result.raw and b"media.example" not in result.raw


def test_html_manifest_is_removed():
    raw = b"<!DOCTYPE html>\n<html manifest=\"https://t.example/m.appcache\"><body>x</body></html>"
    result = clean_message(raw, Policy(recipients=(BOB,)))
    assert [f.rule for f in result.findings] == ["needless-element"]
    assert b"manifest" not in result.raw


def test_a_stylesheet_link_is_not_a_needless_element():
    assert rules_for_body('<link rel="stylesheet" href="https://css.example/a.css">') == \
        ["css-remote"]


def test_kept_iframes_are_judged_like_images():
    body = '<iframe src="https://media.example/f.html" width="600" height="400"></iframe>'
    keep = Policy(recipients=(BOB,), keep=frozenset({"iframes"}))
    assert clean_message(_mail(body), keep).findings == []
    tiny = '<iframe src="https://media.example/f.html" width="1" height="1"></iframe>'
    assert [f.rule for f in clean_message(_mail(tiny), keep).findings] == ["size"]


def test_keep_is_read_from_the_config_per_user(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("defaults:\n  keep: [media]\nusers:\n  bob@example.org:\n    keep: [iframes]\n")
    cfg = load_config(str(path))
    assert cfg.policy_for("alice@example.org").keep == frozenset({"media"})
    assert cfg.policy_for(BOB).keep == frozenset({"iframes"})


def test_an_unknown_keep_value_is_a_config_error_naming_the_key(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("defaults:\n  keep: [scripts]\n")
    with pytest.raises(ConfigError) as err:
        load_config(str(path))
    assert "keep" in str(err.value) and ":2" in str(err.value)


@pytest.mark.parametrize("raw, value", [
    ("https://t.example/o?a=1&current_date=2", "https://t.example/o?a=1&current_date=2"),
    ("?x&amp=1&copy2&ltx", "?x&amp=1&copy2&ltx"),  # legacy names before '=' or alnum
    ("?a&amp;b&AMP;c&not;d&lt.", "?a&b&c\u00acd<."),
    ("&#x41;&#65&zzz;&notit;", "AA&zzz;&notit;"),
    ("x&amp", "x&"),
])
def test_attribute_character_references_follow_the_html_rule(raw, value):
    from pixelguard.htmlscan import unescape_attr

    assert unescape_attr(raw) == value


def test_the_reported_url_is_the_one_the_engine_fetches():
    body = '<img src="https://t.example/o.gif?a=1&current_date=2" width="1" height="1">'
    result = clean_message(_mail(body), Policy(recipients=(BOB,)))
    assert [f.url for f in result.findings] == ["https://t.example/o.gif?a=1&current_date=2"]


OPAQUE = "https://img.partner.example/i/Zx8Kq2Lm9Rt4Vb7Np3Wd.gif"


def test_a_picture_source_takes_the_size_of_its_img():
    body = (f'<picture><source srcset="{OPAQUE}"><img src="https://cdn.shop.example/f.jpg" '
            'width="1" height="1"></picture>')
    findings = clean_message(_mail(body), Policy(recipients=(BOB,))).findings
    assert ("size", "source[srcset]") in [(f.rule, f.where) for f in findings]


def test_a_picture_source_takes_the_hiding_of_its_img():
    body = (f'<picture><source srcset="{OPAQUE}"><img src="https://cdn.shop.example/f.jpg" '
            'width="600" height="300" style="display:none"></picture>')
    findings = clean_message(_mail(body), Policy(recipients=(BOB,))).findings
    assert ("hidden", "source[srcset]") in [(f.rule, f.where) for f in findings]


def test_a_picture_source_of_a_visible_img_is_content():
    body = (f'<picture><source srcset="{OPAQUE}"><img src="https://cdn.shop.example/f.jpg" '
            'width="600" height="300"></picture>')
    assert rules_for_body(body) == []


def test_an_svg_image_takes_the_size_of_its_svg():
    body = f'<svg width="0" height="0"><image href="{OPAQUE}" width="600" height="300"/></svg>'
    assert rules_for_body(body) == ["size"]
    body = f'<svg width="600" height="300"><image href="{OPAQUE}" width="600" height="300"/></svg>'
    assert rules_for_body(body) == []


def test_a_vml_fill_takes_the_size_of_its_shape():
    body = ('<!--[if mso]><v:rect style="width:1px;height:1px"><v:fill type="frame" '
            f'src="{OPAQUE}"/></v:rect><![endif]-->')
    assert rules_for_body(body) == ["size"]
    body = body.replace("width:1px;height:1px", "width:600px;height:300px")
    assert rules_for_body(body) == []


def test_the_notice_says_a_redirect_was_removed():
    raw = _mail(f'<img src="{OPAQUE}" width="1" height="1">',
                head='<meta http-equiv="refresh" content="0; url=https://t.example/go">')
    out = clean_message(raw, Policy(recipients=(BOB,))).raw.decode()
    assert "removed 1 tracker from this message. It also removed a redirect of this " \
           "message to a remote web page." in out
    alone = clean_message(_mail("x", head='<meta http-equiv="refresh" content="0; '
                                          'url=https://t.example/go">'), Policy()).raw.decode()
    assert "pixelguard removed a redirect of this message to a remote web page." in alone


def test_a_web_font_from_an_open_tracking_url_is_removed():
    head = ('<style>@font-face{font-family:T;src:url(https://fonts.partner.example/f.woff?open=1)}'
            '</style>')
    findings = clean_message(_mail('<p style="font-family:T">x</p>', head=head),
                             Policy(recipients=(BOB,))).findings
    assert [(f.rule, f.where) for f in findings] == [("css-remote", "style@font-face")]
    brand = head.replace("f.woff?open=1", "brand-regular.woff")
    assert clean_message(_mail("x", head=brand), Policy(recipients=(BOB,))).findings == []


def _before(selector_html: str, css: str) -> list[str]:
    head = f"<style>{css}</style>"
    return [f.rule for f in clean_message(_mail(selector_html, head=head),
                                          Policy(recipients=(BOB,))).findings]


GENERATED = ".c::before{content:url(https://img.partner.example/b/Zx8Kq2Lm9Rt4Vb7Np3Wd.gif)}"


def test_a_generated_image_of_elements_never_shown_is_hidden():
    assert _before('<p class="c" style="display:none">x</p>', GENERATED) == ["hidden"]
    assert _before('<div style="display:none"><p class="c">x</p></div>', GENERATED) == ["hidden"]
    assert _before('<p class="c" style="opacity:0">x</p>', GENERATED) == ["hidden"]


def test_a_generated_image_shown_by_any_element_is_content():
    assert _before('<p class="c">x</p>', GENERATED) == []
    assert _before('<p class="c" style="display:none">x</p><p class="c">y</p>', GENERATED) == []


def test_an_svg_style_ends_at_its_first_tag():
    body = ('<svg><style></svg><p>Hello</p><img class="y" src="https://cdn.shop.example/logo.png"'
            ' width="200" height="50"><p>.y{display:none}</p></style>')
    assert rules_for_body(body) == []


@pytest.mark.parametrize("rel", ["canonical", "alternate", "author", ""])
def test_a_link_that_loads_nothing_is_left_alone(rel):
    assert rules_for_body(f'<link rel="{rel}" href="https://t.example/page">') == []


@pytest.mark.parametrize("head, quirks", [
    ("", True),
    ("<!---->" * 30 + "<!DOCTYPE html>", False),
    ("<!---->" * 30, True),
    (('<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN" '
      '"http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">'), False),
    ('<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.01 Transitional//EN">', True),
    ('<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.01 Transitional//EN" "loose.dtd">', False),
    ('<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 3.2 Final//EN">', True),
])
def test_quirks_mode_is_read_from_the_doctype(head, quirks):
    assert scan(head + "<p>x</p>").quirks is quirks


def test_a_table_goes_into_an_open_p_in_quirks_mode_only():
    body = '<p style="display:none">x<table><tr><td>' + HIDDEN_ONLY_IMG + "</td></tr></table>"
    quirks = _mail(body)
    standard = ("<!DOCTYPE html>" + quirks.decode().split("\n\n", 1)[1]).encode()
    assert [f.rule for f in clean_message(quirks, Policy(recipients=(BOB,))).findings] == \
        ["hidden"]
    assert clean_message(standard, Policy(recipients=(BOB,))).findings == []


def test_a_form_closed_then_opened_again_is_a_form():
    doc = scan("<form><p>a</p></form><form><div><img src=x></div></form>")
    assert [e.tag for e in doc.elements].count("form") == 2


def test_an_end_form_tag_leaves_what_the_form_holds_open():
    body = '<form><div style="display:none"></form>' + HIDDEN_ONLY_IMG
    assert rules_for_body(body) == ["hidden"]


def test_formatting_closed_by_a_block_is_reopened_around_what_follows():
    body = '<p><font style="display:none">x</p>' + HIDDEN_ONLY_IMG
    assert rules_for_body(body) == ["hidden"]
    body = '<p><font style="display:none">x</font></p>' + HIDDEN_ONLY_IMG
    assert rules_for_body(body) == []
