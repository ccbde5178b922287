"""Stylesheets and documents nested in data: URLs, srcdoc and stylesheet parts are cleaned
with the same rules and put back, encoded as they came."""
from __future__ import annotations

import base64
import email
import email.policy
import urllib.parse
from email.message import EmailMessage

import pytest
from support import BOB

from pixelguard import Policy, clean_message
from pixelguard.detect.nested import MAX_NESTING, parse_data_url


def _doc(head: str = "", body: str = "x") -> bytes:
    return f"<!DOCTYPE html><html><head>{head}</head><body>{body}</body></html>".encode()


def _css_url(css: str, b64: bool = False) -> str:
    if b64:
        return "data:text/css;base64," + base64.b64encode(css.encode()).decode()
    return "data:text/css," + urllib.parse.quote(css)


@pytest.mark.parametrize("b64", [False, True])
def test_data_url_round_trip_keeps_type_and_encoding(b64):
    css = "@import url(https://t.example/a.css); p { color: red; content: \"é\" }"
    data = parse_data_url(_css_url(css, b64))
    assert data is not None and data.mediatype == "text/css" and data.text == css
    again = parse_data_url(data.encode(data.text))
    assert again == data


def test_a_data_url_that_is_not_one_is_none():
    assert parse_data_url("https://x.example/") is None
    assert parse_data_url("data:text/css") is None  # no comma


@pytest.mark.parametrize("b64", [False, True])
def test_data_stylesheet_link_is_cleaned_and_keeps_its_other_rules(b64):
    css = "@import url(https://t.example/a.css);\np { color: red }"
    raw = _doc(head=f'<link rel="stylesheet" href="{_css_url(css, b64)}">')
    result = clean_message(raw, Policy(recipients=(BOB,), notice=False))
    assert [(f.rule, f.where) for f in result.findings] == \
        [("css-remote", "link[href] data: style@import")]
    href = result.raw.decode().split('href="', 1)[1].split('"', 1)[0]
    cleaned = parse_data_url(href)
    assert cleaned is not None and cleaned.is_base64 == b64
    assert "t.example" not in cleaned.text and "p { color: red }" in cleaned.text


def test_data_stylesheet_import_is_cleaned_in_place():
    inner = "p { background: url(https://t.example/o.gif?e=bob%40example.org) }"
    raw = _doc(head=f'<style>@import url("{_css_url(inner)}"); b {{}}</style>')
    result = clean_message(raw, Policy(recipients=(BOB,), notice=False))
    assert [f.rule for f in result.findings] == ["recipient-leak"]
    assert b"t.example" not in result.raw and b" b {}</style>" in result.raw


def test_a_clean_data_stylesheet_is_left_byte_identical():
    raw = _doc(head=f'<link rel="stylesheet" href="{_css_url("p { color: red }")}">')
    assert clean_message(raw, Policy(recipients=(BOB,))).raw == raw


def test_stylesheets_nested_too_deep_are_emptied():
    css = "@import url(https://t.example/deep.css);"
    for _ in range(MAX_NESTING + 1):
        css = f'@import url("{_css_url(css)}");'
    result = clean_message(_doc(head=f"<style>{css}</style>"), Policy(notice=False))
    assert result.findings and "deep" not in result.raw.decode()
    assert any("levels deep" in f.reason for f in result.findings)


def test_a_kept_iframe_srcdoc_is_cleaned_and_re_escaped():
    body = ("<iframe srcdoc=\"<p class='a'>hi &amp; bye</p><img src='https://t.example/o.gif'"
            " width=1 height=1>\"></iframe>")
    policy = Policy(recipients=(BOB,), keep=frozenset({"iframes"}), notice=False)
    result = clean_message(_doc(body=body), policy)
    assert [(f.rule, f.where) for f in result.findings] == [("size", "iframe[srcdoc] img[src]")]
    out = result.raw.decode()
    assert "t.example" not in out and "hi &amp; bye" in out and "<iframe srcdoc=\"" in out


def test_a_kept_iframe_data_document_is_cleaned():
    doc = "<p>hi</p><img src=https://t.example/o.gif?e=bob%40example.org>"
    body = f'<iframe src="data:text/html,{urllib.parse.quote(doc)}"></iframe>'
    policy = Policy(recipients=(BOB,), keep=frozenset({"iframes"}), notice=False)
    result = clean_message(_doc(body=body), policy)
    assert [f.rule for f in result.findings] == ["recipient-leak"]
    src = result.raw.decode().split('src="', 1)[1].split('"', 1)[0]
    cleaned = parse_data_url(src)
    assert cleaned is not None and "<p>hi</p>" in cleaned.text and "t.example" not in cleaned.text


def _related(html: str, ctype: str, body: str, cte: str, disposition: str | None) -> bytes:
    """A multipart/related mail: the HTML and one part, Content-ID <p1@x>."""
    msg = EmailMessage()
    msg["From"] = "news@shop.example"
    msg["To"] = BOB
    msg.set_content(html, subtype="html")
    msg.make_related()
    part = EmailMessage()
    maintype, subtype = ctype.split("/")
    part.set_content(body.encode(), maintype=maintype, subtype=subtype, cte=cte)
    part["Content-ID"] = "<p1@x>"
    if disposition:
        part["Content-Disposition"] = disposition
    msg.attach(part)
    return msg.as_bytes()


def _part(raw: bytes, ctype: str) -> tuple[str, str]:
    """The transfer encoding and decoded text of the message's first part of `ctype`."""
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    part = next(p for p in msg.walk() if p.get_content_type() == ctype)
    return str(part["Content-Transfer-Encoding"]), part.get_payload(decode=True).decode()


def _with_css(css: str, disposition: str | None = None) -> bytes:
    return _related('<html><head><link rel="stylesheet" href="cid:p1@x"></head><body>x</body>'
                    "</html>", "text/css", css, "quoted-printable", disposition)


def test_a_stylesheet_part_of_a_related_message_is_cleaned():
    raw = _with_css("@import url(https://t.example/a.css);\np { color: red }\n")
    result = clean_message(raw, Policy(recipients=(BOB,)))
    assert [(f.rule, f.part) for f in result.findings] == [("css-remote", "2")]
    cte, text = _part(result.raw, "text/css")
    assert cte == "quoted-printable"
    assert "t.example" not in text and "p { color: red }" in text


def test_a_stylesheet_attached_for_the_reader_is_left_alone():
    raw = _with_css("@import url(https://t.example/a.css);\n", disposition="attachment")
    assert clean_message(raw, Policy(recipients=(BOB,))).raw == raw


def _with_svg(svg: str, disposition: str | None = None) -> bytes:
    return _related('<html><body><img src="cid:p1@x" width="200" height="50"></body></html>',
                    "image/svg+xml", svg, "base64", disposition)


SVG = ('<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="200" height="50">'
       '<style>@import url(https://t.example/s.css);</style>'
       '<image href="https://t.example/i.png?e=bob%40example.org" width="1" height="1"/>'
       '<text x="0" y="20">Logo</text></svg>\n')


def test_an_svg_part_is_cleaned_like_a_document():
    result = clean_message(_with_svg(SVG), Policy(recipients=(BOB,)))
    assert sorted(f.rule for f in result.findings) == ["css-remote", "recipient-leak"]
    cte, text = _part(result.raw, "image/svg+xml")
    assert cte == "base64"
    assert "t.example" not in text and "<text x=\"0\" y=\"20\">Logo</text>" in text


def test_an_svg_attached_for_the_reader_is_left_alone():
    raw = _with_svg(SVG, disposition='attachment; filename="logo.svg"')
    assert clean_message(raw, Policy(recipients=(BOB,))).raw == raw


def test_the_notice_of_the_html_counts_what_its_parts_lost():
    result = clean_message(_with_svg(SVG), Policy(recipients=(BOB,)))
    html = next(t for t in _texts(result.raw, "text/html"))
    assert "removed 2 trackers" in html
    quiet = clean_message(_with_svg(SVG), Policy(recipients=(BOB,), notice=False))
    assert "pixelguard" not in next(_texts(quiet.raw, "text/html"))
    assert len(quiet.findings) == 2


def _texts(raw: bytes, ctype: str):
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    return (p.get_content() for p in msg.walk() if p.get_content_type() == ctype)


def test_a_hash_in_a_data_stylesheet_stays_escaped():
    css = "body{color:#f00} @import url(https://t.example/a.css);"
    raw = _doc(head=f'<link rel="stylesheet" href="{_css_url(css)}">')
    result = clean_message(raw, Policy(recipients=(BOB,), notice=False))
    href = result.raw.decode().split('href="', 1)[1].split('"', 1)[0]
    assert "#" not in href and "%23f00" in href
    assert parse_data_url(href).text.startswith("body{color:#f00} ")


def test_a_data_stylesheet_in_a_mime_message_is_cleaned():
    css = "@import url(https://t.example/a.css);"
    html = f'<html><head><link rel="stylesheet" href="{_css_url(css, b64=True)}"></head>' \
           "<body>x</body></html>"
    raw = ("From: a@shop.example\nTo: bob@example.org\nContent-Type: text/html\n\n"
           + html + "\n").encode()
    result = clean_message(raw, Policy(recipients=(BOB,)))
    assert [f.rule for f in result.findings] == ["css-remote"]


def test_an_unquoted_srcdoc_is_written_back_quoted():
    body = ("<iframe srcdoc=&lt;img&#32;src=https://t.example/o.gif&#32;width=1&#32;height=1&gt;"
            "&lt;p&gt;hello&#32;world&lt;/p&gt;></iframe>")
    policy = Policy(recipients=(BOB,), keep=frozenset({"iframes"}), notice=False)
    out = clean_message(_doc(body=body), policy).raw.decode()
    assert '<iframe srcdoc="<p>hello world</p>"></iframe>' in out
