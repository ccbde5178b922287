"""`pixelguard report --html`: one self-contained page whose every name from the mail is
escaped, checked with a spec HTML parser (html5lib). Rendering is checked in
tests/browser/test_report_page.py."""
from __future__ import annotations

import re

import html5lib
import pytest

from pixelguard.cli import main as cli_main

HOSTILE_VENDORS = ["<script>alert(1)</script>", '"><img src=http://x.example/v>',
                   "</style><style>*{display:none}", "]]></svg><iframe src=//x.example>"]
HOSTILE_SENDER = "[<script>alert(2)</script>]"  # a domain literal keeps its brackets and text
XHTML = "{http://www.w3.org/1999/xhtml}"
SVG = "{http://www.w3.org/2000/svg}"
ALLOWED = {XHTML + t for t in ("html", "head", "meta", "title", "style", "body", "main", "h1",
                               "h2", "p", "section", "footer")} | {
    SVG + t for t in ("svg", "title", "desc", "g", "text", "rect", "defs", "clipPath")}


def hostile_mail(tmp_path):
    vendors = ", ".join(v.replace('"', "") for v in HOSTILE_VENDORS)
    for i, vendor_field in enumerate([f'"{vendors}"', '"<b>bold</b>"']):
        (tmp_path / f"{i}.eml").write_bytes(
            f"X-PixelGuard: removed=2; vendors={vendor_field}; rules=known-tracker\r\n"
            f"From: x <a@{HOSTILE_SENDER}>\r\nDate: Tue, 03 Mar 2026 10:00:00 +0000\r\n"
            "Subject: s\r\n\r\nbody\r\n".encode())
    return tmp_path


def write_page(tmp_path, *args: str) -> str:
    out = tmp_path / "out" / "report.html"
    out.parent.mkdir()
    assert cli_main(["report", "--html", str(out), *args]) == 0
    return out.read_text(encoding="utf-8")


def test_names_from_mail_are_text_never_markup(tmp_path, capsys):
    (tmp_path / "in").mkdir()
    page = write_page(tmp_path, str(hostile_mail(tmp_path / "in")))
    tree = html5lib.parse(page)
    tags = {el.tag for el in tree.iter()}
    assert tags <= ALLOWED, tags - ALLOWED
    for el in tree.iter():
        assert not any(a.lower().startswith("on") or a in ("src", "href") for a in el.attrib)
    text = "".join(tree.itertext())
    assert "<script>alert(2)</script>" in text  # the sender, shown as text
    assert "<b>bold</b>" in text
    for vendor in HOSTILE_VENDORS:
        assert vendor.replace('"', "") in text
    assert "<script" not in page and "<img" not in page and "<iframe" not in page


def test_the_page_loads_nothing_and_carries_its_style(tmp_path, capsys):
    from report_mail import maildir, varied_messages

    page = write_page(tmp_path, str(maildir(tmp_path / "Mail", varied_messages(40))))
    tree = html5lib.parse(page)
    csp = [m.get("content") for m in tree.iter(XHTML + "meta")
           if m.get("http-equiv") == "Content-Security-Policy"]
    assert csp and csp[0].startswith("default-src 'none'")
    assert "prefers-color-scheme:dark" in page
    assert not re.search(r"url\((?!#chart-[a-z]+-labels\))", page)  # only its own clip paths
    assert "@import" not in page
    charts = [s for s in tree.iter(SVG + "svg")]
    assert [c.get("id") for c in charts] == ["chart-months", "chart-vendors", "chart-senders"]
    for chart in charts:
        assert chart.get("role") == "img"
        assert chart.find(SVG + "title").text and chart.find(SVG + "desc").text
    headline = next(p for p in tree.iter(XHTML + "p") if p.get("class") == "headline").text
    assert headline.startswith("35 of 40 messages carried trackers")


def test_an_unwritable_page_is_a_clear_error(tmp_path, capsys):
    (tmp_path / "a.eml").write_bytes(b"From: a@b.example\r\n\r\nhi\r\n")
    assert cli_main(["report", "--html", str(tmp_path / "no" / "such" / "r.html"),
                     str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "cannot write" in err and "Traceback" not in err
    assert not list((tmp_path).glob(".pixelguard-report-*"))


@pytest.mark.parametrize("value, bar", [(0, False), (1, True), (1000, True)])
def test_a_bar_is_drawn_for_every_value_above_zero(value, bar):
    from pixelguard.report_html import bar_chart

    svg = bar_chart("c", "t", [("big", 1000, "1000"), ("this", value, str(value))])
    row = svg.split("<g>")[2]
    assert ("<rect" in row) is bar
    assert f">{value}</text>" in row


def test_a_page_for_no_mail_says_so(tmp_path, capsys):
    (tmp_path / "in").mkdir()
    page = write_page(tmp_path, str(tmp_path / "in"))
    tree = html5lib.parse(page)
    assert next(p for p in tree.iter(XHTML + "p") if p.get("class") == "headline").text == (
        "No messages read.")
    assert "Nothing to show." in "".join(tree.itertext())
