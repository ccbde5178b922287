"""Hostile and tricky inputs to the core: each case is a way to let a tracker through, lose or
garble bytes, or remove a visible image, and pins that the core does none of these."""
from __future__ import annotations

import base64
import email
import email.policy

import pytest

from pixelguard import Policy, clean_message
from pixelguard.headers import prepend_header

BOB = "bob@example.org"
PIXEL = '<img src="https://t.example/open/abc" width="1" height="1">'
HERO = '<img src="https://cdn.shop.example/hero.jpg" width="600" height="300">'


def clean_html(body: str, **kw):
    raw = ("From: a@shop.example\nTo: bob@example.org\nContent-Type: text/html; charset=utf-8\n\n"
           + body + "\n").encode()
    return clean_message(raw, Policy(recipients=(BOB,), **kw))


def urls(result) -> list[str]:
    return [f.url for f in result.findings]


# --- bytes kept --------------------------------------------------------------------------

def test_mbox_from_line_stays_first() -> None:
    raw = (b"From s@x Mon Jan  1 00:00:00 2024\nFrom: a@x\nContent-Type: text/html\n\n" + PIXEL.encode())
    out = clean_message(raw).raw
    assert out.startswith(b"From s@x Mon Jan  1 00:00:00 2024\nX-PixelGuard: removed=1")
    assert prepend_header(raw, "X-Test", "1").startswith(b"From s@x Mon Jan  1 00:00:00 2024\nX-Test: 1\n")


def test_utf16_text_alternative_is_not_garbled_by_the_notice() -> None:
    text = "Hello there".encode("utf-16")
    raw = (b'From: a@x\nContent-Type: multipart/alternative; boundary="b"\n\n--b\n'
           b"Content-Type: text/plain; charset=utf-16\nContent-Transfer-Encoding: base64\n\n"
           + base64.encodebytes(text) + b"--b\nContent-Type: text/html\n\n" + PIXEL.encode() + b"\n--b--\n")
    out = clean_message(raw).raw
    msg = email.message_from_bytes(out, policy=email.policy.default)
    plain = next(p for p in msg.walk() if p.get_content_type() == "text/plain")
    assert plain.get_content() == "Hello there"


def test_single_part_base64_keeps_its_final_line_break() -> None:
    raw = (b"From: a@x\r\nContent-Type: text/html\r\nContent-Transfer-Encoding: base64\r\n\r\n"
           + base64.encodebytes(PIXEL.encode() + b"\r\n").replace(b"\n", b"\r\n"))
    out = clean_message(raw).raw
    assert out.endswith(b"\r\n") and not out.endswith(b"\r\n\r\n")


def test_deep_mime_nesting_is_reported_not_silently_passed() -> None:
    raw = b"From: a@x\nContent-Type: multipart/mixed; boundary=b0\n\n"
    for i in range(1, 40):
        raw += f"--b{i-1}\nContent-Type: multipart/mixed; boundary=b{i}\n\n".encode()
    raw += b"--b39\nContent-Type: text/html\n\n" + PIXEL.encode() + b"\n"
    result = clean_message(raw)
    assert result.skipped and "nested deeper" in result.skipped[0]
    assert result.raw.startswith(b"X-PixelGuard: skipped;")


# --- hostile CSS and HTML fail closed ----------------------------------------------------

@pytest.mark.parametrize("css", [
    "a{margin:" + "9" * 5000 + "px; background:url(https://t.example/x.gif)}",
    "a{x:" + "[" * 2000 + "} b{background:url(https://t.example/x.gif)}",
])
def test_css_the_parser_cannot_read_has_its_remote_loads_removed(css: str) -> None:
    result = clean_html(f"<style>{css}</style>{HERO}")
    assert result.error is None
    assert "https://t.example/x.gif" in urls(result)


def test_huge_number_in_an_inline_style_fails_closed() -> None:
    result = clean_html(f'<p style="/*c*/margin:{"9" * 5000}px;background:url(https://t.example/y.gif)">x</p>')
    assert "https://t.example/y.gif" in urls(result)


def test_a_long_digit_run_in_a_size_is_not_a_size() -> None:
    result = clean_html(f'<img src="https://t.example/c.png" width="{"1" * 20000}x">{PIXEL}')
    assert urls(result) == ["https://t.example/open/abc"]


def test_tags_left_open_at_the_end_do_not_hide_earlier_pixels() -> None:
    result = clean_html(PIXEL + "<a " * 4000)
    assert urls(result) == ["https://t.example/open/abc"]


@pytest.mark.parametrize("html", [
    "<!-- x --!>" + PIXEL + "<!-- y -->",
    "<!-->" + PIXEL + "<!-- y -->",
    "<!--->" + PIXEL + "<!-- y -->",
    "<style>a{}</style x>" + PIXEL,
    "<style>a{}</style\tmedia=x>" + PIXEL,
    "<!--<p>x</p>" * 20 + "-->" + PIXEL,
])
def test_comment_and_raw_text_endings_follow_browsers(html: str) -> None:
    assert urls(clean_html(html)) == ["https://t.example/open/abc"]


def test_unterminated_comment_hides_what_follows_as_browsers_do() -> None:
    assert urls(clean_html(HERO + "<!--" + PIXEL)) == []


@pytest.mark.parametrize("src", ["https:/t.example/p.gif", "https:t.example/p.gif",
                                 "https:///t.example/p.gif", "https:\\\\t.example\\p.gif"])
def test_malformed_but_loadable_urls_are_judged(src: str) -> None:
    result = clean_html(f'<img src="{src}" width="1" height="1">')
    assert urls(result) == ["https://t.example/p.gif"]


@pytest.mark.parametrize("host", ["creepy-ads%2Eexample", "creepy-ads\u3002example", "%63reepy-ads.example"])
def test_deny_list_matches_hosts_written_in_disguise(host: str) -> None:
    result = clean_html(f'<img src="https://{host}/banner.png" width="600" height="100">',
                        user_deny_hosts=("creepy-ads.example",))
    assert [f.rule for f in result.findings] == ["deny-list"]


def test_utf16_html_part_is_scanned() -> None:
    raw = (b"From: a@x\nContent-Type: text/html; charset=utf-16\nContent-Transfer-Encoding: base64\n\n"
           + base64.encodebytes(f"<html><body>{PIXEL}</body></html>".encode("utf-16")))
    assert urls(clean_message(raw)) == ["https://t.example/open/abc"]


def test_style_element_with_media_print_counts_as_print_only() -> None:
    result = clean_html('<style media="print">body{background:url(https://p.example/x.gif)}</style>' + HERO)
    assert [f.rule for f in result.findings] == ["css-remote"]


def test_screen_and_print_media_is_not_print_only() -> None:
    result = clean_html("<style>@media screen, print { .h{background:url(https://cdn.shop.example/bg.jpg)} }</style>" + HERO)
    assert result.findings == []


# --- the notice ---------------------------------------------------------------------------

def test_notice_survives_a_pixel_right_after_body() -> None:
    result = clean_html(f"<html><body>{PIXEL}<p>hi</p></body></html>")
    assert b"pixelguard removed 1 tracker" in result.raw


def test_notice_goes_after_the_doctype_when_there_is_no_head_or_body() -> None:
    result = clean_html(f"<!DOCTYPE html>\n{PIXEL}<p>hi</p>")
    body = result.raw.split(b"\n\n", 1)[1]
    # the doctype stays first (no quirks mode), the text before the notice (the preview)
    assert body.startswith(b"<!DOCTYPE html>\n<p>hi</p><table data-pixelguard")


def test_body_inside_an_outlook_comment_does_not_take_the_notice() -> None:
    result = clean_html(f"<!--[if mso]><body class=o><![endif]--><body>{PIXEL}<p>hi</p></body>")
    body = result.raw.split(b"\n\n", 1)[1]
    assert body.startswith(b"<!--[if mso]><body class=o><![endif]--><body><p>hi</p><table data-pixelguard")


# --- visible images stay ------------------------------------------------------------------

@pytest.mark.parametrize("html", [
    '<style>.m{display:none}</style><img class="m" style="display:block" src="https://cdn.shop.example/a.jpg" width="600" height="300">',
    '<img hidden style="display:block" src="https://cdn.shop.example/a.jpg" width="600" height="300">',
    '<table><tr style="display:none"><td>m<tr><td><img src="https://cdn.shop.example/a.jpg" width="600" height="300"></table>',
    '<p style="display:none">pre<div><img src="https://cdn.shop.example/a.jpg" width="600" height="300"></div>',
])
def test_visible_content_images_are_kept(html: str) -> None:
    assert clean_html(html).findings == []


def test_header_block_ending_in_lf_crlf_is_found_by_every_reader() -> None:
    from pixelguard.headers import header_end
    from pixelguard.trust import drop_own_results

    raw = (b"From: a@shop.example\nTo: bob@example.org\nContent-Type: text/plain\n\r\n"
           b"Authentication-Results: mx.pixelguard.example; dkim=pass header.d=shop.example\r\n\r\nbody\r\n")
    assert raw[header_end(raw):].startswith(b"Authentication-Results")
    assert drop_own_results(raw, "mx.pixelguard.example") == raw  # body text is not a header


def test_unicode_host_in_the_deny_list_matches_its_punycode_url(tmp_path) -> None:
    from pixelguard.config import load_config

    cfg = tmp_path / "pg.yaml"
    cfg.write_text("defaults:\n  deny: {hosts: [bücher.example]}\n", encoding="utf-8")
    policy = load_config(str(cfg)).policy_for(BOB)
    assert policy.default_deny_hosts == ("xn--bcher-kva.example",)
    raw = ("From: a@x\nContent-Type: text/html\n\n"
           '<img src="https://BÜCHER.example/a.png" width="600" height="300">\n').encode()
    assert [f.rule for f in clean_message(raw, policy).findings] == ["deny-list"]


def test_a_quote_inside_an_unquoted_value_cannot_hide_the_markup_after_it() -> None:
    result = clean_html('<a title=a=" >x</a>' + PIXEL + '<p title=">">')
    assert urls(result) == ["https://t.example/open/abc"]
