"""Vectors are declared units: extract()'s prefilters are generated from the declarations, so
they never skip an element a vector would find a load in, and a new vector is one entry."""
from __future__ import annotations

import random
import sys
from pathlib import Path

import pytest
from support import html_texts

from pixelguard import Policy, clean_message
from pixelguard.detect import vectors
from pixelguard.detect.vectors import ANY, VECTORS, Kind, Resource, Vector, VectorIndex, extract
from pixelguard.htmlscan import MAX_ATTRIBUTES, scan

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import compare_outputs


def _texts() -> list[str]:
    out = []
    for p in sorted((ROOT / "fixtures").glob("*")):
        out.extend(html_texts(p.read_bytes()))
    rng = random.Random(7)
    out += ["<html><body>" + compare_outputs._fill(s, rng) + "</body></html>"
            for s in compare_outputs.SNIPPETS]
    # CSS loading functions spelt with entities and escapes
    out += ['<div style="background:url&#40;https://t.example/e.gif)">',
            '<div style="background:\\75 rl(https://t.example/f.gif)">',
            ('<div style="background-image:-webkit-image-set(&quot;https://t.example/i.gif&quot;'
            ' 1x)">')]
    # every declared tag with every declared attribute, spelt as mail spells it
    for v in VECTORS:
        for tag in v.tags:
            name = "div" if tag == ANY else tag + "fill" if tag.endswith(":") else tag
            for attr in v.attributes:
                value = ("background:url(https://t.example/a.gif)" if attr == "style"
                         else "https://t.example/a.gif")
                out.append(f'<{name} {attr}="{value}" rel="stylesheet" type="image" '
                           f'http-equiv="refresh" content="0;url=https://t.example/r">')
                out.append(f"<{name.upper()} {attr.upper()} = 'https://t.example/b.gif'>")
    return out


def _everything(doc, monkeypatch, base=None) -> list[tuple[str, str, str]]:
    """What the vectors find with no prefilter: every vector of a tag on every element."""
    found: list[Resource] = []
    monkeypatch.setattr(vectors, "_may_call", lambda low: True)
    resolve_url = vectors._memo_resolve(doc.base_href or base)
    for el in doc.elements:
        if el.clone_of >= 0 or (len(el.low) > MAX_ATTRIBUTES and el.too_many_attributes):
            continue
        for v in VECTORS:
            if any(t == ANY or el.tag == t or (t.endswith(":") and el.tag.startswith(t))
                   for t in v.tags):
                before = len(found)
                v.find(doc, el, resolve_url, found.append)
                for res in found[before:]:
                    assert res.kind in v.kinds, (v.name, res.kind)
    return [(r.url, r.where, r.kind) for r in found]


def test_the_prefilters_skip_no_element_a_vector_finds_a_load_in(
        monkeypatch: pytest.MonkeyPatch) -> None:
    looked = 0
    for text in _texts():
        doc = scan(text)
        got = [(r.url, r.where, r.kind) for r in extract(doc, None)]
        with monkeypatch.context() as m:
            assert sorted(got) == sorted(_everything(doc, m)), text[:200]
        looked += bool(got)
    assert looked > 100


def test_every_kind_has_a_vector_and_kinds_are_an_enum() -> None:
    declared = {k for v in VECTORS + (vectors.STYLE_BLOCK,) for k in v.kinds}
    assert declared == set(Kind)
    with pytest.raises(ValueError):
        Kind("picture")


def test_a_new_vector_is_one_entry(monkeypatch: pytest.MonkeyPatch) -> None:
    raw = (b"From: a@shop.example\nTo: bob@example.org\nContent-Type: text/html\n\n"
           b'<p>x</p><marquee data-src="https://t.example/p.gif" width="1" height="1">'
           b"</marquee>\n")
    assert clean_message(raw, Policy()).findings == []

    def find(doc, el, resolve_url, add):
        vectors._removed_attrs(doc, el, ("data-src",), Kind.IMAGE, resolve_url, add)

    new = Vector("marquee-data-src", ("marquee",), ("data-src",), (Kind.IMAGE,), find)
    monkeypatch.setattr(vectors, "INDEX", VectorIndex(VECTORS + (new,)))
    found = clean_message(raw, Policy()).findings
    assert [(f.rule, f.where) for f in found] == [("size", "marquee[data-src]")]


@pytest.mark.parametrize("img", [
    '<img src="https&colon;t.example/wf/open?u=1" width="1" height="1">',
    '<img src="&sol;&sol;t.example/wf/open?u=2" width="1" height="1">',
    '<img src="https&#58;//t.example/wf/open?u=3" width="1" height="1">',
    '<img src="HTTPS://t.example/wf/open?u=4" width="1" height="1">',
])
def test_a_part_that_spells_its_only_remote_url_with_entities_is_looked_at(img: str) -> None:
    raw = ("From: a@shop.example\nTo: bob@example.org\nContent-Type: text/html\n\n<p>x</p>"
           + img + "\n").encode()
    assert [f.rule for f in clean_message(raw, Policy()).findings] == ["url-shape"]


def test_the_first_look_at_a_part_knows_every_nested_document_tag() -> None:
    from pixelguard import core

    for tag in vectors.NESTED_DOCUMENTS:
        assert core._may_load_remote(f"<p>x</p><{tag.upper()} srcdoc='&lt;p&gt;'>")
    assert not core._may_load_remote("<p>plain text, no link</p>")


@pytest.mark.parametrize("src", ["ht\ttps:\t/\t/t.example/o.gif", "h\nttps:t.example/o.gif",
                                 "/\r\n/t.example/o.gif"])
def test_the_first_look_at_a_part_sees_a_url_spelt_with_tabs_or_newlines(src: str) -> None:
    # resolve() drops them, as browsers do: the URL loads, so the part must be looked at
    raw = ("From: a@shop.example\nTo: bob@example.org\nContent-Type: text/html\n\n<p>x</p>"
           f'<img src="{src}" width="1" height="1">\n').encode()
    assert [f.rule for f in clean_message(raw, Policy()).findings] == ["size"]


def test_a_style_past_the_css_limit_is_removed_whatever_else_the_tag_holds() -> None:
    # no url( in it: only its length says it must go (unread, so it is never parsed)
    from pixelguard import css

    style = "color:red;" + "a" * (css.MAX_CSS_CHARS + 10)
    raw = f'<html><body><div data-x="curl" style="{style}">hi</div></body></html>'.encode()
    result = clean_message(raw, Policy())
    assert [(f.rule, f.where) for f in result.findings] == [("over-limit", "div[style]")]
    assert b"aaaa" not in result.raw
