"""Where the notice goes, so that the inbox preview stays the sender's.

A mail client's preview line is the first text it extracts from the message: the text/plain
part's first characters, or the HTML body's text content (a sender's hidden preheader
included, since clients read it though it is `display:none`), whitespace collapsed. The
notice keeps that preview when at least PREVIEW_CHARS characters of the sender's text come
before it (or all of it, in a shorter message).

`top` puts the notice at the first safe element boundary past that window: for a newsletter
whose preheader is padded (`&zwnj;&nbsp;` …, as senders do to fill the preview) that is right
after the preheader. `bottom` puts it at the end of the body, like a footer.

A boundary is safe when the notice placed there, parsed as an engine would (htmlscan: the
same tree building the detection trusts), sits in a plain, visible block container — no
hidden or revealable ancestor, no link, no paragraph, no cell that shares its row — and
leaves every element of the sender's document with the parent it had. Each candidate is
checked that way before it is taken.
"""
from __future__ import annotations

import html
import re
from dataclasses import dataclass
from itertools import islice
from typing import Literal

from pixelguard.css import StyleSheet
from pixelguard.detect.visibility import Visibility
from pixelguard.htmlscan import RAW_TEXT, Document, Element, scan

Position = Literal["top", "bottom"]

# Characters of extracted text that must stay the sender's: Exchange/Outlook stores the first
# 255 characters of a body as its preview (Microsoft Graph `bodyPreview`), the longest any
# common client keeps; Gmail's snippet and Apple Mail's few lines show fewer.
PREVIEW_CHARS = 255
# Whitespace as JavaScript's \s (and so as a client's script-side text collapse) knows it.
SPACE = "[\t\n\v\f\r \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]+"
_SPACE = re.compile(SPACE)
# An empty line and the text after it: a paragraph starts there.
_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\r?\n(?=[ \t\r\n]*\S)")
# Candidates are checked by parsing the document with the notice in place; a few suffice.
MAX_PROBES = 6

# Start tags the notice (a <table>) may go right before: blocks, which end an open <p> as a
# table does in standards mode (in quirks mode the check finds the notice inside the <p>).
_BEFORE = frozenset(("div", "p", "table", "center", "section", "article", "header", "footer",
                     "main", "hr", "ul", "ol", "dl", "blockquote", "nav", "aside", "figure",
                     "address"))
# Plain block containers the notice may sit in (its parent and the ancestors above it)...
_FLOW = frozenset(("html", "body", "div", "td", "th", "center", "section", "article", "main",
                   "header", "footer", "form", "blockquote"))
# ... and the table parts between an ancestor cell and its table.
_TABLE_CHAIN = frozenset(("table", "tbody", "thead", "tfoot", "tr"))
_CELLS = frozenset(("td", "th"))
_NOTICE_ELEMENTS = 3  # <table><tr><td>: the notice markup's start tags

# Between two start tags: comments (WHATWG endings; `<!-->` and `<!--->` are whole ones), end
# tags, bogus comments (doctype, `<![endif]>`, `<?…>`), and text. Each alternative consumes
# forward only: linear.
_GAP = re.compile(
    r"<!---?>|<!--.*?(?:--!?>|\Z)"
    r"|</([a-zA-Z][^\t\n\f\r />]*)[^>]*>"
    r"|<[!?/][^>]*>"
    r"|[^<]+|<",
    re.DOTALL,
)


@dataclass(frozen=True)
class _Mark:
    offset: int  # where the notice would be inserted
    chars: int  # characters of extracted text before it
    element: Element | None  # the start tag it precedes (None: an end tag or the end)
    end_tag: str = ""  # the end tag it precedes ("body", "html"), "" otherwise


def preview_text(text: str) -> str:
    """Whitespace collapsed and trimmed, as the preview is compared."""
    return _SPACE.sub(" ", text).strip(" ")


def html_position(text: str, doc: Document, sheets: list[tuple[StyleSheet, bool]],
                  position: Position, notice_html: str) -> int:
    """The offset in `text` (scanned as `doc`, with these stylesheets) to insert
    `notice_html` at."""
    marks, total = _marks(text, doc)
    need = min(PREVIEW_CHARS, total)
    vis = Visibility(doc, sheets)
    cells = _cell_counts(text, doc)
    tops = list(islice((m for m in marks if m.element is not None and m.chars >= need
                        and _plausible(doc, m.element, vis, cells)), MAX_PROBES))
    ends = [m for m in (_last(marks, "body"), _last(marks, "html"), marks[-1])
            if m is not None and m.chars >= need]
    for mark in tops + ends if position == "top" else ends + tops:
        if _verified(text, doc, sheets, mark.offset, notice_html):
            return mark.offset
    return len(text)  # nothing checks out: the very end, after all of the sender's text


def _last(marks: list[_Mark], end_tag: str) -> _Mark | None:
    return next((m for m in reversed(marks) if m.end_tag == end_tag), None)


def text_position(text: str, position: Position) -> int:
    """Where a text/plain notice goes: `bottom` at the end; `top` at the first paragraph
    start (after an empty line) with PREVIEW_CHARS characters of text before it, else the
    end."""
    if position == "top":
        count = _Counter()
        start = 0
        for m in _PARAGRAPH_BREAK.finditer(text):
            count.add(text[start : m.start()])
            start = m.start()
            if count.chars >= PREVIEW_CHARS:
                return m.end()
    return len(text)


def _marks(text: str, doc: Document) -> tuple[list[_Mark], int]:
    """Candidate offsets in document order (before start tags and before </body>/</html>,
    and the end), each with the characters of extracted text before it; and the total."""
    marks: list[_Mark] = []
    count = _Counter()
    pos = 0
    prev: Element | None = None
    for el in doc.elements:
        if el.in_mso or el.clone_of >= 0 or el.start < pos:
            continue  # inside a conditional comment, a copy, or inside the previous tag
        _gap(text, pos, el.start, prev, doc, count, marks)
        marks.append(_Mark(el.start, count.chars, el))
        pos = el.end
        prev = el
    _gap(text, pos, len(text), prev, doc, count, marks)
    end = len(text.rstrip())
    marks.append(_Mark(max(end, pos), count.chars, None))
    return marks, count.chars


class _Counter:
    """Characters of collapsed, trimmed text seen so far."""

    def __init__(self) -> None:
        self.chars = 0
        self._space = False  # a space pending: counted only if text follows

    def add(self, piece: str) -> None:
        collapsed = _SPACE.sub(" ", piece)
        if not collapsed:
            return
        lead = collapsed.startswith(" ")
        body = collapsed.strip(" ")
        if body:
            if self.chars and (lead or self._space):
                self.chars += 1
            self.chars += len(body)
            self._space = collapsed.endswith(" ")
        elif self.chars:
            self._space = True


def _raw_owner(doc: Document, el: Element | None) -> Element | None:
    """The raw-text element (style, script, title, textarea…) `el` is or is inside."""
    while el is not None:
        if el.tag in RAW_TEXT or el.tag == "template":
            return el
        el = doc.elements[el.parent] if el.parent >= 0 else None
    return None


def _gap(text: str, start: int, end: int, prev: Element | None, doc: Document,
         count: _Counter, marks: list[_Mark]) -> None:
    """Count the text between two start tags; note </body> and </html> end tags."""
    owner = _raw_owner(doc, prev)
    if owner is not None:
        # raw text (or markup read inside it) runs to its end tag: none of it is counted
        close = re.compile(rf"</{re.escape(owner.tag)}[\t\n\f\r />]",
                           re.IGNORECASE).search(text, start, end)
        if close is None:
            return
        start = close.start()
    for m in _GAP.finditer(text, start, end):
        token = m.group(0)
        if token[0] != "<" or token == "<":
            count.add(html.unescape(token) if "&" in token else token)
        elif m.group(1) is not None and m.group(1).lower() in ("body", "html"):
            marks.append(_Mark(m.start(), count.chars, None, m.group(1).lower()))


def _cell_counts(text: str, doc: Document) -> dict[int, int]:
    """Cells with content per table row (element index of the <tr> -> how many): the empty
    cells beside a centred column (`<td></td><td>content</td><td></td>`) do not count."""
    out: dict[int, int] = {}
    elements = doc.elements
    parents = {el.parent for el in elements}
    for el in elements:
        if el.tag not in _CELLS or el.parent < 0 or el.in_mso:
            continue
        if el.index not in parents:  # no element inside: is there text?
            end = elements[el.index + 1].start if el.index + 1 < len(elements) else len(text)
            count = _Counter()
            for m in _GAP.finditer(text, el.end, end):
                token = m.group(0)
                if token[0] != "<" or token == "<":
                    count.add(html.unescape(token) if "&" in token else token)
            if not count.chars:
                continue
        out[el.parent] = out.get(el.parent, 0) + 1
    return out


def _plausible(doc: Document, el: Element, vis: Visibility, cells: dict[int, int]) -> bool:
    """A cheap look at a start tag before checking it: a block in a plain container."""
    if el.tag not in _BEFORE or el.ns != "html":
        return False
    parent = doc.elements[el.parent] if el.parent >= 0 else None
    return parent is None or _container_ok(doc, parent, vis, cells)


def _container_ok(doc: Document, parent: Element, vis: Visibility,
                  cells: dict[int, int]) -> bool:
    """`parent` is a visible plain container, and so is everything it is in (table parts
    only between a cell and its table; a cell only alone in its row)."""
    if parent.tag not in _FLOW or vis.state(parent) is not None:
        return False
    el: Element | None = parent
    while el is not None:
        if el.in_mso or el.ns != "html" or not (el.tag in _FLOW or el.tag in _TABLE_CHAIN):
            return False
        if el.tag in _CELLS and cells.get(el.parent, 0) > 1:
            return False
        el = doc.elements[el.parent] if el.parent >= 0 else None
    return True


def _verified(text: str, doc: Document, sheets: list[tuple[StyleSheet, bool]], at: int,
              notice_html: str) -> bool:
    """The notice inserted at `at` parses as a visible block in a plain container, and every
    element of the sender's document keeps its tag and parent."""
    new_text = text[:at] + notice_html + text[at:]
    new = scan(new_text)
    old, now = doc.elements, new.elements
    if len(now) != len(old) + _NOTICE_ELEMENTS:
        return False
    first = next((i for i, el in enumerate(old) if el.start >= at), len(old))
    shift = _NOTICE_ELEMENTS

    def moved(index: int) -> int:
        return index if index < first else index + shift

    for i, el in enumerate(old):
        j = moved(i)
        if now[j].tag != el.tag or now[j].parent != (moved(el.parent) if el.parent >= 0 else -1):
            return False
    table, row, cell = now[first : first + shift]
    if (table.tag, row.tag, cell.tag) != ("table", "tr", "td") or cell.parent != row.index:
        return False
    if table.parent < 0:
        return True  # the document's top level: the body the engine implies
    vis = Visibility(new, sheets)
    return vis.state(cell) is None and _container_ok(new, now[table.parent], vis,
                                                    _cell_counts(new_text, new))
