"""pixelguard's scanner against an independent spec parser (html5lib): which images exist and
whether an ancestor hides them, for the same document.

An image is an HTML <img> with a src (an <image> is one too, as the tree builder renames it);
hidden means the element or an ancestor has the `hidden` attribute or `display:none` in its
style. Only tree construction is compared here; CSS is judged elsewhere.
"""
from __future__ import annotations

from collections import Counter

import html5lib

from pixelguard.htmlscan import Element, scan

HTML_NS = "http://www.w3.org/1999/xhtml"


def _hides(attrs: dict[str, str]) -> bool:
    style = attrs.get("style", "").replace(" ", "").lower()
    return "hidden" in attrs or "display:none" in style


def oracle(html: str) -> Counter[tuple[str, bool]]:
    """(src, hidden) of every image in the tree html5lib builds (scripting off)."""
    tree = html5lib.HTMLParser(tree=html5lib.getTreeBuilder("etree"),
                               namespaceHTMLElements=True).parse(html)
    out: Counter[tuple[str, bool]] = Counter()

    def walk(node, hidden: bool) -> None:
        tag = node.tag if isinstance(node.tag, str) else ""
        attrs = {k if isinstance(k, str) else k[1]: v for k, v in node.attrib.items()}
        hidden = hidden or _hides(attrs)
        if tag == f"{{{HTML_NS}}}img" and "src" in attrs:
            out[(attrs["src"], hidden)] += 1
        if tag == f"{{{HTML_NS}}}template":
            return  # template content is inert: nothing in it loads
        for child in node:
            walk(child, hidden)

    walk(tree, False)
    return out


def ours(html: str) -> Counter[tuple[str, bool]]:
    """The same, from pixelguard's scan (markup inside Outlook's conditional comments, which
    an engine reads as a comment, and inside <template>, which never loads, is left out)."""
    doc = scan(html)
    elements = doc.elements
    memo: dict[int, bool] = {}

    def hidden(el: Element) -> bool:
        chain = []
        index = el.index
        while index >= 0 and index not in memo:
            chain.append(elements[index])
            index = elements[index].parent
        state = memo[index] if index >= 0 else False
        for e in reversed(chain):
            state = state or _hides({a.name: a.value for a in e.attrs})
            memo[e.index] = state
        return memo[el.index]

    def in_template(el: Element) -> bool:
        index = el.parent
        while index >= 0:
            if elements[index].tag == "template":
                return True
            index = elements[index].parent
        return False

    out: Counter[tuple[str, bool]] = Counter()
    for el in elements:
        if el.tag == "img" and el.ns == "html" and not el.in_mso and el.attr("src") is not None \
                and not in_template(el):
            out[(el.get("src"), hidden(el))] += 1
    return out


# How a disagreement can go, from the worst: an image the engine builds and pixelguard does
# not see (a load nobody judges); one the engine shows and pixelguard thinks hidden (content
# at risk); one the engine hides and pixelguard thinks shown (a hidden tracker judged as
# shown: caught only by its other signals); one pixelguard sees that the engine never builds
# (inside raw text, <template>, <select>: judging it costs nothing, since it never loads).
MISSED, FALSELY_HIDDEN, HIDING_MISSED, EXTRA = ("missed", "falsely-hidden", "hiding-missed",
                                                "extra")


def disagreements(html: str) -> list[tuple[str, str]]:
    """(kind, words) for each image the two trees disagree on (empty when they agree)."""
    theirs, mine = oracle(html), ours(html)
    out = []
    for src in sorted({src for src, _ in theirs} | {src for src, _ in mine}):
        t_shown, t_hidden = theirs[(src, False)], theirs[(src, True)]
        m_shown, m_hidden = mine[(src, False)], mine[(src, True)]
        if (t_shown, t_hidden) == (m_shown, m_hidden):
            continue
        if t_shown + t_hidden > m_shown + m_hidden:
            kind = MISSED
        elif t_shown > m_shown:
            kind = FALSELY_HIDDEN
        elif t_hidden > m_hidden:
            kind = HIDING_MISSED
        else:
            kind = EXTRA
        out.append((kind, (f"img {src!r}: html5lib {t_shown} shown/{t_hidden} hidden, "
                           f"pixelguard {m_shown} shown/{m_hidden} hidden")))
    return out
