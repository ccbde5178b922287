"""MIME handling: every charset and transfer encoding, byte fidelity of what is not changed."""
from __future__ import annotations

import email
import email.policy

from support import BOB, fixture, html_texts, plain_texts

from pixelguard import Policy, clean_message
from pixelguard.headers import header_end

PIXEL = "media.mailer.example/m/open.gif"


def _clean(name: str, **kw):
    raw = fixture(name)
    return raw, clean_message(raw, Policy(recipients=(BOB,), **kw))


def _without_our_header(out: bytes) -> bytes:
    assert out.startswith(b"X-PixelGuard: ")
    # our header may be folded: drop it and its continuation lines
    lines = out.splitlines(keepends=True)
    i = 1
    while i < len(lines) and lines[i][:1] in (b" ", b"\t"):
        i += 1
    return b"".join(lines[i:])


def test_alternative_qp_cleans_html_and_notes_it_in_the_text_part() -> None:
    raw, result = _clean("mime-alternative-qp.eml")
    assert [f.rule for f in result.findings] == ["url-shape"]
    out = _without_our_header(result.raw)
    assert out[: header_end(out)] == raw[: header_end(raw)]  # headers byte-identical
    assert b"This is a multi-part message in MIME format.\n" in out  # preamble
    assert out.endswith(b"--alt-1--\nepilogue stays\n")  # epilogue
    (html,) = html_texts(result.raw)
    assert PIXEL not in html and "cdn.shop.example/hero.jpg" in html
    assert "pixelguard removed 1 tracker" in html
    (plain,) = plain_texts(result.raw)
    # the reader's preview (the first text) stays the sender's; the notice follows it
    assert plain.startswith("Hello Bob") and "\n[pixelguard removed 1 tracker" in plain
    part = next(p for p in email.message_from_bytes(result.raw).walk()
                if p.get_content_type() == "text/html")
    assert part["Content-Transfer-Encoding"] == "quoted-printable"


def test_base64_crlf_keeps_encoding_line_endings_and_attachment() -> None:
    raw, result = _clean("mime-base64-crlf.eml")
    assert len(result.findings) == 1
    out = result.raw
    assert b"\n" not in out.replace(b"\r\n", b"")  # CRLF throughout, no bare LF
    pdf_start = raw.index(b"Content-Type: application/pdf")
    assert out.endswith(raw[pdf_start:])  # the attachment and all after it: byte-identical
    msg = email.message_from_bytes(out, policy=email.policy.default)
    html_part = next(p for p in msg.walk() if p.get_content_type() == "text/html")
    assert html_part["Content-Transfer-Encoding"] == "base64"
    body_lines = html_part.get_payload().split("\r\n") if "\r\n" in html_part.get_payload() else html_part.get_payload().split("\n")
    assert max(len(line) for line in body_lines) <= 76
    assert PIXEL not in html_texts(out)[0]


def test_latin1_part_keeps_its_charset_and_characters() -> None:
    _raw, result = _clean("mime-latin1.eml")
    assert len(result.findings) == 1
    assert b"Gr\xfc\xdfe aus K\xf6ln \xa3" in result.raw  # still ISO-8859-1 bytes
    assert b"charset=iso-8859-1" in result.raw


def test_missing_charset_utf8_body_round_trips() -> None:
    _raw, result = _clean("mime-no-charset.eml")
    assert len(result.findings) == 1
    assert "Grüße aus Köln £".encode() in result.raw


def test_wrong_charset_keeps_the_original_bytes() -> None:
    _raw, result = _clean("mime-wrong-charset.eml")
    assert len(result.findings) == 1
    assert b"Gr\xfc\xdfe aus K\xf6ln \x80" in result.raw  # cp1252 bytes untouched


def test_attached_message_html_is_cleaned_too() -> None:
    _raw, result = _clean("mime-attached-rfc822.eml")
    assert len(result.findings) == 1
    assert result.findings[0].part.startswith("2")
    assert all(PIXEL not in h for h in html_texts(result.raw))
    assert b"From: Partner <hello@partner.example>\nTo: alice@example.net\n" in result.raw


def test_unparseable_input_is_returned_unchanged_with_an_error() -> None:
    raw, result = _clean("bad-not-a-message.eml")
    assert result.raw == raw
    assert result.error


def test_truncated_base64_is_read_as_clients_read_it() -> None:
    """Broken base64 is decoded leniently (what Python's email and clients show): the
    truncated tag in it loads nothing, so the message comes out byte-identical."""
    raw, result = _clean("bad-broken-base64.eml")
    assert email.message_from_bytes(raw).get_payload(decode=True).startswith(b"<html><body><img")
    assert result.raw == raw
    assert result.findings == [] and result.skipped == [] and result.error is None


def test_pixel_in_broken_base64_is_removed_and_the_part_written_out_anew() -> None:
    raw, result = _clean("mime-broken-base64-pixel.eml")
    assert [f.rule for f in result.findings] == ["url-shape"]
    head = result.raw.split(b"\nFrom: ", 1)[0].replace(b"\n ", b" ")
    assert head.startswith(b"X-PixelGuard: removed=1;") and head.endswith(b"; reencoded=1")
    (html,) = html_texts(result.raw)
    assert PIXEL not in html and "cdn.shop.example/hero.jpg" in html
    body = result.raw.split(b"\n\n", 1)[1]
    assert b"!*" not in body and b"!*" in raw  # well-formed base64 now
    assert max(len(line) for line in body.splitlines()) <= 76


def test_html_after_a_header_block_without_an_empty_line_is_cleaned() -> None:
    """A delivery notification whose headers run straight into the first boundary: clients
    show its HTML, so its 1x1 pixel goes; the other parts stay byte-identical."""
    raw, result = _clean("mime-no-header-separator.eml")
    assert [(f.url, f.rule, f.part) for f in result.findings] == [
        ("https://media.mailer.example/m/dsn-open.gif", "size", "1")]
    out = _without_our_header(result.raw)
    assert out.startswith(raw[: raw.index(b"--dsn-4\n")] + b"--dsn-4\n")  # headers, delimiter
    assert out.endswith(raw[raw.index(b"\n--dsn-4\nContent-Type: message/delivery-status"):])
    (html,) = html_texts(result.raw)
    assert "dsn-open.gif" not in html and "Your parcel was delivered." in html


def test_bare_html_document_is_cleaned() -> None:
    raw = fixture("bare-document.html")
    result = clean_message(raw, Policy())
    assert [f.rule for f in result.findings] == ["size"]
    assert b"media.mailer.example/bare.gif" not in result.raw
    assert b"cdn.shop.example/hero.jpg" in result.raw
    assert not result.raw.startswith(b"X-PixelGuard")


def test_notice_can_be_switched_off() -> None:
    _raw, result = _clean("mime-alternative-qp.eml", notice=False)
    assert len(result.findings) == 1
    assert "pixelguard removed" not in html_texts(result.raw)[0]
    assert not plain_texts(result.raw)[0].startswith("[pixelguard")
    assert result.raw.startswith(b"X-PixelGuard: removed=1;")


def test_header_names_vendors_and_rules() -> None:
    _raw, result = _clean("known-sendgrid.eml")
    first = result.raw.split(b"\n", 1)[0]
    assert first.startswith(b'X-PixelGuard: removed=1; vendors="SendGrid"; rules=known-tracker')


def test_unknown_transfer_encoding_is_read_as_8bit_and_edited_in_place() -> None:
    raw = (b"From: a@shop.example\nTo: bob@example.org\nContent-Type: text/html\n"
           b"Content-Transfer-Encoding: 8bit+\n\n<p>Gr\xfc\xdfe</p>"
           b'<img src="https://media.mailer.example/x.gif" width="1" height="1">\n')
    result = clean_message(raw, Policy(recipients=(BOB,), notice=False))
    assert [f.rule for f in result.findings] == ["size"]
    assert result.raw.endswith(b"Content-Transfer-Encoding: 8bit+\n\n<p>Gr\xfc\xdfe</p>\n")


def test_header_block_ends_at_the_first_line_that_cannot_be_a_header() -> None:
    """The rule trust.drop_own_results relies on: body lines are never header fields."""
    raw = fixture("mime-no-header-separator.eml")
    assert raw[header_end(raw) :].startswith(b"--dsn-4\nContent-Type: text/html")
    assert header_end(b"From: a\r\rbody\r") == len(b"From: a\r\r")
