"""What an unwrapped destination is made of: a base64 token decoded whole (never a piece
of it), and written in ASCII whatever the part's charset (a non-ASCII host in IDNA form,
other non-ASCII bytes percent-encoded as the redirector would send them)."""
from __future__ import annotations

import base64

import pytest
from links_mail import href_after

from pixelguard import clean_message
from pixelguard.model import LinkOptions, Policy

KIT = "https://click.convertkit-mail2.com/abc/def/"


def test_a_standard_base64_token_with_slashes_is_decoded_whole():
    dest = "https://shop.example/pa?id=42&x=1"
    token = base64.b64encode(dest.encode()).decode()
    assert "/" in token  # the token spans two path segments
    assert href_after(KIT + token) == dest


def test_a_piece_of_a_token_gives_no_destination():
    token = base64.b64encode(b"https://shop.example/pa?id=42&x=1").decode()
    head = token.split("/")[0]  # the token cut at its '/' (decodes to https://shop.example/pa)
    for href in (KIT + head + "/page.html", KIT + head + "/zzzz"):
        assert href_after(href) == href


def test_a_mailjet_token_with_slashes_is_decoded_whole():
    dest = "https://shop.example/pa?id=42&x=1"
    token = base64.b64encode(dest.encode()).decode()
    href = "https://x1y2.mjt.lu/lnk/AAAAbbbb/1/CcDdEe/" + token
    assert href_after(href) == dest


def _message(charset: str, href: str, cte: str = "8bit") -> bytes:
    return (f"From: news@shop.example\r\nTo: bob@example.org\r\nSubject: Links\r\n"
            f"MIME-Version: 1.0\r\nContent-Type: text/html; charset={charset}\r\n"
            f"Content-Transfer-Encoding: {cte}\r\n\r\n"
            f'<html><body><p>Hi</p><a href="{href}">Shop</a>'
            '<img src="https://t.example/open.gif?u=1" width="1" height="1"></body></html>\r\n'
            ).encode("ascii")


CASES = [
    ("https://www.google.com/url?q=https://shop.example/%E2%82%AC/&sa=D",
     "https://shop.example/%E2%82%AC/"),
    ("https://www.google.com/url?q=https://ex.com/?q=caf%E9&sa=D", "https://ex.com/?q=caf%E9"),
    ("https://www.google.com/url?q=https%3A%2F%2Fex.com%2F%3Fq%3Dcaf%25E9", "https://ex.com/?q=caf%E9"),
    ("https://www.google.com/url?q=https://b%C3%BCcher.example/caf%C3%A9",
     "https://xn--bcher-kva.example/caf%C3%A9"),
]


@pytest.mark.parametrize("charset", ["us-ascii", "iso-8859-1", "utf-8"])
@pytest.mark.parametrize(("href", "dest"), CASES)
def test_non_ascii_destinations_are_written_in_ascii(charset, href, dest):
    r = clean_message(_message(charset, href), Policy(links=LinkOptions(unwrap=True)))
    assert r.error is None
    assert [f.url for f in r.findings] == ["https://t.example/open.gif?u=1"]  # pixel removed
    assert f'href="{dest}"'.encode() in r.raw
    assert b"\xef\xbf\xbd" not in r.raw and b"%EF%BF%BD" not in r.raw


def test_a_host_idna_2003_spells_differently_from_browsers_stays_wrapped():
    href = "https://www.google.com/url?q=https://stra%C3%9Fe.example/"
    assert href_after(href, unwrap=True, strip_params=False, mark=False) == href
