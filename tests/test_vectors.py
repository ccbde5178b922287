"""Every vector and every rule: a fixture whose tracker must be found and must not survive."""
from __future__ import annotations

import pytest
from support import BOB, fixture, html_texts

from pixelguard import Policy, clean_message

# fixture -> (rule id, where (prefix), a fragment of the tracker URL)
CASES = {
    "size-attr-1x1": ("size", "img[src]", "media.mailer.example/p/a.gif"),
    "size-attr-1px": ("size", "img[src]", "media.mailer.example/p/b.gif"),
    "size-zero": ("size", "img[src]", "media.mailer.example/p/c.gif"),
    "size-css": ("size", "img[src]", "media.mailer.example/p/d.gif"),
    "size-css-important": ("size", "img[src]", "media.mailer.example/p/e.gif"),
    "size-max-width": ("size", "img[src]", "media.mailer.example/p/f.gif"),
    "size-width-only": ("size", "img[src]", "media.mailer.example/p/g.gif"),
    "hidden-display-none": ("hidden", "img[src]", "media.mailer.example/h/a.png"),
    "hidden-parent": ("hidden", "img[src]", "media.mailer.example/h/b.png"),
    "hidden-opacity": ("hidden", "img[src]", "media.mailer.example/h/c.png"),
    "hidden-offscreen": ("hidden", "img[src]", "media.mailer.example/h/d.png"),
    "hidden-maxheight": ("hidden", "img[src]", "media.mailer.example/h/e.png"),
    "hidden-stylesheet-class": ("hidden", "img[src]", "media.mailer.example/h/f.png"),
    "known-mailchimp": ("known-tracker", "img[src]", "list-manage.com/track/open.php"),
    "known-sendgrid": ("known-tracker", "img[src]", "ct.sendgrid.net/wf/open"),
    "shape-unsized-open": ("url-shape", "img[src]", "news.shop.example/o/"),
    "shape-entity-url": ("url-shape", "img[src]", "track/open?a=1&b=2"),
    "shape-protocol-relative": ("url-shape", "img[src]", "https://news.shop.example/open.gif"),
    "leak-plain": ("recipient-leak", "img[src]", "banner.png?email="),
    "leak-percent": ("recipient-leak", "img[src]", "banner.png?e=bob%40"),
    "leak-base64": ("recipient-leak", "img[src]", "img.partner.example/b/"),
    "leak-base64-padded": ("recipient-leak", "img[src]", "banner.png?u="),
    "leak-md5": ("recipient-leak", "img[src]", "banner.png?h="),
    "leak-sha1": ("recipient-leak", "img[src]", "banner.png?h="),
    "leak-sha256": ("recipient-leak", "img[src]", "img.partner.example/"),
    "vector-srcset": ("recipient-leak", "img[srcset]", "a2x.jpg"),
    "vector-picture": ("recipient-leak", "source[srcset]", "p.webp"),
    "vector-background-attr": ("recipient-leak", "td[background]", "bg.png"),
    "vector-inline-style": ("recipient-leak", "div[style]", "bg.png"),
    "vector-inline-style-entities": ("recipient-leak", "div[style]", "bg.png"),
    "vector-input-image": ("size", "input[src]", "media.mailer.example/i.gif"),
    "vector-video-poster": ("recipient-leak", "video[poster]", "poster.jpg"),
    "vector-svg-image": ("recipient-leak", "image[xlink:href]", "s.png"),
    "vector-iframe": ("size", "iframe[src]", "media.mailer.example/frame.html"),
    "vector-mso-img": ("size", "mso img[src]", "media.mailer.example/mso.gif"),
    "vector-vml-fill": ("recipient-leak", "vml v:fill[src]", "vml.png"),
    "vector-base-href": ("url-shape", "img[src]", "news.shop.example/t/open.gif"),
    "vector-style-import": ("css-remote", "style@import", "fonts.partner.example/css"),
    "vector-style-font-face": ("css-remote", "style@font-face", "fonts.partner.example/f/"),
    "vector-style-print": ("css-remote", "style background-image", "print.partner.example"),
    "vector-style-dark": ("url-shape", "style background-image", "news.shop.example/open/"),
    "vector-style-forward": ("css-remote", "style background-image", "fwd.partner.example"),
    "vector-link-stylesheet": ("css-remote", "link[href]", "fonts.partner.example/style.css"),
}


def _policy(**kw) -> Policy:
    return Policy(recipients=(BOB,), **kw)


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("action", ["strip", "rewrite"])
def test_tracker_is_found_and_removed(name: str, action: str) -> None:
    rule, where, fragment = CASES[name]
    raw = fixture(f"{name}.eml")
    result = clean_message(raw, _policy(action=action))
    assert result.error is None
    matching = [f for f in result.findings if fragment in f.url]
    assert matching, f"{name}: no finding for {fragment}: {result.findings}"
    assert matching[0].rule == rule, matching[0]
    assert matching[0].where.startswith(where), matching[0].where
    for html in html_texts(result.raw):
        assert fragment.replace("&", "&amp;") not in html and fragment not in html, html
    assert result.raw.startswith(b"X-PixelGuard: removed=")
    # the content image is never collateral damage
    assert any("cdn.shop.example/hero.jpg" in h for h in html_texts(result.raw))


NEGATIVES = [
    "negative-content", "negative-cid-data", "negative-spacers",
    "negative-revealable-mobile", "negative-divider", "mime-plain-only",
]


@pytest.mark.parametrize("name", NEGATIVES)
def test_nothing_to_remove_leaves_the_message_byte_identical(name: str) -> None:
    raw = fixture(f"{name}.eml")
    result = clean_message(raw, _policy())
    assert result.findings == []
    assert result.error is None
    assert result.raw == raw


def test_rewrite_keeps_the_element_and_its_layout() -> None:
    result = clean_message(fixture("size-attr-1x1.eml"), _policy(action="rewrite"))
    (html,) = html_texts(result.raw)
    assert '<img src="data:image/gif;base64,' in html
    assert 'width="1" height="1" alt="">' in html


def test_strip_removes_the_whole_image_tag() -> None:
    result = clean_message(fixture("size-attr-1x1.eml"), _policy(action="strip"))
    (html,) = html_texts(result.raw)
    assert 'width="1" height="1" alt=""' not in html


def test_css_url_is_neutralised_in_place() -> None:
    result = clean_message(fixture("vector-inline-style.eml"), _policy())
    (html,) = html_texts(result.raw)
    assert '<div style="color:#333; background-image: none; padding:4px">' in html


def test_conditional_comment_markup_outside_the_tracker_is_kept() -> None:
    raw = fixture("vector-vml-fill.eml")
    result = clean_message(raw, _policy())
    (html,) = html_texts(result.raw)
    assert "<!--[if gte mso 9]>" in html and "<![endif]-->" in html
    assert '<v:fill type="tile" color="#ffffff"/>' in html



def _sender_policy(**kw) -> Policy:
    return Policy(recipients=(BOB,), allow_senders=("shop.example",),
                  trusted_authserv_ids=("mx.example.org",), **kw)


def test_allowed_sender_with_trusted_dkim_pass_is_left_alone() -> None:
    raw = fixture("allow-sender-dkim-pass.eml")
    result = clean_message(raw, _sender_policy())
    assert result.findings == [] and result.raw == raw


def test_allowed_sender_with_dkim_fail_is_still_cleaned() -> None:
    result = clean_message(fixture("allow-sender-dkim-fail.eml"), _sender_policy())
    assert [f.rule for f in result.findings] == ["size"]


def test_allowed_sender_from_an_untrusted_authserv_id_is_still_cleaned() -> None:
    raw = fixture("allow-sender-dkim-pass.eml").replace(b"mx.example.org;", b"mx.attacker.example;")
    result = clean_message(raw, Policy(recipients=(BOB,), allow_senders=("shop.example",),
                                       trusted_authserv_ids=("mx.example.org",)))
    assert [f.rule for f in result.findings] == ["size"]


def test_allowed_sender_does_not_override_a_deny_list() -> None:
    raw = fixture("allow-sender-dkim-pass.eml")
    result = clean_message(raw, _sender_policy(user_deny_hosts=("cdn.shop.example",)))
    assert [f.rule for f in result.findings] == ["deny-list"]


def test_allowed_host_is_left_alone() -> None:
    raw = fixture("size-attr-1x1.eml")
    result = clean_message(raw, Policy(recipients=(BOB,), user_allow_hosts=("mailer.example",)))
    assert result.findings == [] and result.raw == raw


def test_stray_endif_marker_does_not_hide_the_rest_of_the_document() -> None:
    raw = fixture("size-attr-1x1.eml").replace(b"<body>", b"<![endif]--><body>")
    result = clean_message(raw, _policy())
    assert [f.rule for f in result.findings] == ["size"]


def test_vml_button_link_is_not_a_load() -> None:
    body = (b'<!--[if mso]><v:roundrect href="https://shop.example/unsubscribe?email=bob@example.org" '
            b'style="width:200px"><w:anchorlock/></v:roundrect><![endif]-->')
    raw = fixture("negative-content.eml").replace(b"</body>", body + b"</body>")
    result = clean_message(raw, _policy())
    assert result.findings == [] and result.raw == raw
