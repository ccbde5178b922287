"""Where the notice goes: past the preview window at a safe block boundary (`top`), or at the
end of the body (`bottom`); never in a hidden element, a link, a paragraph or a cell that
shares its row; the sender's document keeps its tree; text/plain the same way."""
from __future__ import annotations

import dataclasses
import email
import email.policy
import re
from pathlib import Path

import pytest

from pixelguard import Policy, clean_message
from pixelguard.detect.visibility import Visibility
from pixelguard.htmlscan import scan
from pixelguard.notice.placement import PREVIEW_CHARS, SPACE, text_position

PIXEL = '<img src="https://t.example/open.gif?u=1" width="1" height="1">'


def preview_text(text: str) -> str:
    """Whitespace collapsed (SPACE, as the placement counts text) and trimmed: the preview as
    compared here."""
    return re.sub(SPACE, " ", text).strip(" ")


WORDS = "Our autumn collection has arrived, with new coats and boots for the cold days ahead. "
LONG = WORDS * 4  # past the preview window
assert len(LONG) > PREVIEW_CHARS
PADDED = ('<div style="display:none;max-height:0;overflow:hidden">Autumn is here'
          + "&zwnj;&nbsp;" * 130 + "</div>")
MARK = '<table data-pixelguard="notice"'


def _mail(body: str, head: str = "", doctype: str = "<!DOCTYPE html>\n") -> bytes:
    return (f"From: a@shop.example\nTo: bob@example.org\nSubject: s\nMIME-Version: 1.0\n"
            "Content-Type: text/html; charset=utf-8\n\n"
            f"{doctype}<html><head>{head}</head><body>{body}</body></html>\n").encode()


def _clean(raw: bytes, position: str = "top", **policy) -> str:
    result = clean_message(raw, dataclasses.replace(Policy(), notice_position=position, **policy))
    assert result.findings
    return result.raw.decode().split("\n\n", 1)[1]


def _notice_element(html: str):
    """The notice's <table> element in the cleaned document, with its Visibility."""
    doc = scan(html)
    (table,) = [el for el in doc.elements if el.tag == "table" and el.text.startswith(MARK)]
    return doc, table, Visibility(doc, [])


def _ancestors(doc, el) -> list[str]:
    out = []
    while el.parent >= 0:
        el = doc.elements[el.parent]
        out.append(el.tag)
    return out


def test_a_padded_preheader_takes_the_notice_right_after_it():
    html = _clean(_mail(f"{PADDED}<div><h1>Autumn</h1><p>{LONG}</p></div>{PIXEL}"))
    assert f"&zwnj;&nbsp;</div>{MARK}" in html  # after the preheader, before the content


def test_without_a_preheader_the_notice_follows_the_preview_window():
    html = _clean(_mail(f"<p>{WORDS * 2}</p><p>{WORDS * 2}</p><p>Last words.</p>{PIXEL}"))
    before = html[: html.index(MARK)]
    assert len(preview_text(re.sub("<[^>]*>", "", before))) >= PREVIEW_CHARS
    assert before.endswith("</p>") and "<p>Last words.</p>" in html[html.index(MARK):]


def test_a_short_preheader_alone_does_not_fill_the_window():
    body = ('<div style="display:none">Short preview</div>'
            f"<div><p>{WORDS}</p><p>{WORDS}</p><p>{WORDS}</p><p>{WORDS}</p></div>{PIXEL}")
    html = _clean(_mail(body))
    assert html.index(MARK) > html.index(f"<p>{WORDS}</p><p>{WORDS}</p>")


def test_the_notice_is_never_put_inside_a_hidden_wrapper():
    body = (f'<div class="wrap" style="display:none">{LONG}<div><p>more</p></div></div>'
            f"<div><p>{WORDS}</p></div>{PIXEL}")
    html = _clean(_mail(body))
    _doc, table, vis = _notice_element(html)
    assert vis.state(table) is None
    assert "wrap" not in html[html.rindex("<div", 0, html.index(MARK)):html.index(MARK)]


def test_the_notice_is_never_put_in_a_link_or_a_paragraph():
    body = f'<a href="https://shop.example/"><div>{LONG}</div><div>x</div></a>{PIXEL}'
    html = _clean(_mail(body))
    doc, table, _ = _notice_element(html)
    assert not {"a", "p"} & set(_ancestors(doc, table))


def test_a_cell_that_shares_its_row_with_content_does_not_take_the_notice():
    body = (f"<table><tr><td><div>{LONG}</div><div>left</div></td><td><p>right column</p>"
            f"</td></tr></table>{PIXEL}")
    html = _clean(_mail(body))
    doc, table, _ = _notice_element(html)
    assert "td" not in _ancestors(doc, table)


def test_a_centred_column_beside_empty_cells_takes_the_notice():
    body = (f"<table><tr><td>&nbsp;</td><td width=600><div>{LONG}</div><div>next</div></td>"
            f"<td></td></tr></table>{PIXEL}")
    html = _clean(_mail(body))
    assert f"{LONG}</div>{MARK}" in html


def test_the_senders_tree_is_unchanged_around_the_notice():
    body = f"<div><p>{LONG}<div>in a p? no: the div closed it</div><span>{WORDS}</span></div>{PIXEL}"
    raw = _mail(body)
    html = _clean(raw)
    old = scan(raw.decode().split("\n\n", 1)[1])
    new = scan(html)
    kept = [el for el in new.elements if not _inside_notice(new, el)]
    assert [e.tag for e in kept] == [e.tag for e in old.elements if e.tag != "img"]


def _inside_notice(doc, el) -> bool:
    while el is not None:
        if el.text.startswith(MARK):
            return True
        el = doc.elements[el.parent] if el.parent >= 0 else None
    return False


def test_bottom_goes_before_the_end_of_the_body():
    html = _clean(_mail(f"{PADDED}<div><p>{LONG}</p></div>{PIXEL}<p>Footer</p>"), "bottom")
    assert "<p>Footer</p>" + MARK in html and html.rstrip().endswith("</table></body></html>")


def test_no_body_tag_and_no_doctype():
    raw = (b"From: a@shop.example\nTo: bob@example.org\nSubject: s\nMIME-Version: 1.0\n"
           b"Content-Type: text/html; charset=utf-8\n\n"
           + f"<p>{LONG}</p><p>second</p>{PIXEL}".encode())
    html = _clean(raw)
    assert html.startswith(f"<p>{LONG}</p>{MARK}")
    assert _clean(raw, "bottom").rstrip().endswith("</td></tr></table>")


def test_outlook_conditional_markup_never_takes_the_notice():
    body = (f"<div>{LONG}</div><!--[if mso]><table><tr><td><div>outlook</div></td></tr>"
            f"</table><![endif]--><div>after</div>{PIXEL}")
    html = _clean(_mail(body))
    assert f"<![endif]-->{MARK}" in html


def test_a_message_shorter_than_the_window_gets_the_notice_after_all_its_text():
    html = _clean(_mail(f"<div>Hi Bob</div>{PIXEL}<div>See you</div>"))
    assert html.index(MARK) > html.index("See you")


@pytest.mark.parametrize("position", ["top", "bottom"])
def test_notice_off_changes_only_the_trackers(position):
    raw = _mail(f"{PADDED}<div><p>{LONG}</p></div>{PIXEL}")
    assert MARK not in _clean(raw, position, notice=False)


# --- text/plain -------------------------------------------------------------------------

PARAGRAPHS = "\n\n".join([WORDS.strip()] * 5) + "\n"


def test_text_top_goes_after_the_paragraph_that_fills_the_window():
    at = text_position(PARAGRAPHS, "top")
    assert len(preview_text(PARAGRAPHS[:at])) >= PREVIEW_CHARS
    assert PARAGRAPHS[at:].startswith("Our autumn") and PARAGRAPHS[at - 2 : at] == "\n\n"


def test_text_bottom_and_short_text_go_to_the_end():
    assert text_position(PARAGRAPHS, "bottom") == len(PARAGRAPHS)
    assert text_position("Hello Bob.\n\nBye.\n", "top") == len("Hello Bob.\n\nBye.\n")


@pytest.mark.parametrize("position", ["top", "bottom"])
def test_the_text_twin_keeps_its_preview_and_its_line_endings(position):
    plain = PARAGRAPHS.replace("\n", "\r\n")
    raw = ("From: a@shop.example\r\nTo: bob@example.org\r\nSubject: s\r\nMIME-Version: 1.0\r\n"
           'Content-Type: multipart/alternative; boundary="b"\r\n\r\n--b\r\n'
           "Content-Type: text/plain; charset=utf-8\r\n\r\n" + plain + "--b\r\n"
           "Content-Type: text/html; charset=utf-8\r\n\r\n"
           f"<html><body><p>{LONG}</p>{PIXEL}</body></html>\r\n--b--\r\n").encode()
    out = clean_message(raw, Policy(notice_position=position)).raw.decode()
    text = out.split("Content-Type: text/plain; charset=utf-8\r\n\r\n", 1)[1].split("--b\r\n")[0]
    assert preview_text(text)[:PREVIEW_CHARS] == preview_text(plain)[:PREVIEW_CHARS]
    assert "\n" not in text.replace("\r\n", "")  # CRLF kept throughout
    assert text.replace("[pixelguard removed 1 tracker from this message.]\r\n\r\n", "", 1) \
        in (plain, plain + "\r\n") or position == "bottom"
    if position == "bottom":
        assert text == plain + "\r\n[pixelguard removed 1 tracker from this message.]\r\n"


def _plain_parts(raw: bytes) -> list[str]:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    return [p.get_content() for p in msg.walk()
            if p.get_content_type() == "text/plain" and not p.is_multipart()]


FIXTURES = sorted((Path(__file__).resolve().parent.parent / "fixtures").glob("*.eml"))


@pytest.mark.parametrize("position", ["top", "bottom"])
@pytest.mark.parametrize("fixture", FIXTURES, ids=lambda p: p.name)
def test_every_fixtures_text_preview_stays_the_senders(fixture, position):
    raw = fixture.read_bytes()
    out = clean_message(raw, Policy(recipients=("bob@example.org",), notice_position=position))
    before, after = _plain_parts(raw), _plain_parts(out.raw)
    assert len(before) == len(after)
    for old, new in zip(before, after):
        old, new = preview_text(old), preview_text(new)
        if len(old) >= PREVIEW_CHARS:
            assert new[:PREVIEW_CHARS] == old[:PREVIEW_CHARS]
        else:
            assert new.startswith(old)


def test_bottom_never_goes_into_a_wrapper_left_open_and_hidden():
    body = (f"<div><p>{LONG}</p></div><div style='display:none'>unclosed hidden footer"
            f"{PIXEL}")
    raw = _mail(body).replace(b"</body></html>\n", b"")
    html = _clean(raw, "bottom")
    _doc, table, vis = _notice_element(html)
    assert vis.state(table) is None  # moved to the top rule's place, before the wrapper
    assert html.index(MARK) < html.index("unclosed hidden footer")


@pytest.mark.parametrize("ending", ["<!-- an open comment", '<div class="open'])
def test_bottom_never_goes_into_a_comment_or_tag_the_mail_ends_in(ending):
    raw = _mail(f"<div><p>{LONG}</p></div>{PIXEL}").replace(
        b"</body></html>\n", ending.encode())
    html = _clean(raw, "bottom")
    # no safe place after all of its text: no notice in the body (the header still says)
    assert MARK not in html and html.endswith(ending)


def test_the_scan_records_what_is_left_open():
    doc = scan("<html><body><div><p>text<span>x</span>")
    assert [doc.elements[i].tag for i in doc.open_at_end] == ["html", "body", "div", "p"]


def _same_tree(raw: bytes, html: str) -> bool:
    """The cleaned document, without the notice, has the original's elements and parents."""
    old = scan(raw.decode().split("\n\n", 1)[1])
    new = scan(html)
    index = {}
    kept = []
    for el in new.elements:
        if not _inside_notice(new, el):
            index[el.index] = len(kept)
            kept.append(el)
    want = [(e.tag, e.parent) for e in old.elements if e.tag != "img"]
    have = [(e.tag, index.get(e.parent, -1)) for e in kept]
    return [t for t, _ in want] == [t for t, _ in have] and \
        [p for _, p in want] == [p for _, p in have]


def test_in_quirks_mode_an_open_paragraph_does_not_take_the_notice():
    raw = _mail(f"<p>{LONG}<div>block ends the p only in standards mode</div>"
                f"<div>x</div>{PIXEL}", doctype="")
    html = _clean(raw)
    doc, table, _ = _notice_element(html)
    assert "p" not in _ancestors(doc, table)
    assert _same_tree(raw, html)


def test_a_block_moved_before_its_table_does_not_take_the_notice():
    raw = _mail(f"<table><tr><td>{LONG}</td></tr><div>fostered</div><div>too</div></table>"
                f"<div>after</div>{PIXEL}")
    html = _clean(raw)
    assert html.index(MARK) > html.index("</table>")
    assert _same_tree(raw, html)


def test_start_tags_the_tree_builder_ignores_are_not_counted_as_text():
    """A preheader before the doctype (as some senders' tools write it) starts the body, so
    the <html> and <head> tags after it are ignored: their text is markup, not preview."""
    head = '<html lang="en" ' + 'data-x="y" ' * 40 + "><head><title>t</title></head>"
    raw = ("From: a@shop.example\nTo: bob@example.org\nSubject: s\nMIME-Version: 1.0\n"
           "Content-Type: text/html; charset=utf-8\n\n"
           '<span style="display:none">Pre</span>\n<!DOCTYPE html>\n' + head
           + f"<body><div>{WORDS}</div><div>{WORDS}</div><div>{WORDS}</div><div>{WORDS}</div>"
           f"<div>end</div>{PIXEL}</body></html>\n").encode()
    html = _clean(raw)
    before = re.sub(r"<title>t</title>|<[^>]*>", "", html[: html.index(MARK)])
    assert len(preview_text(before)) >= PREVIEW_CHARS
