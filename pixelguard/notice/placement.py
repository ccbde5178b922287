"""Where the notice goes, so that the inbox preview stays the sender's.

A mail client's preview line is the first text it extracts from the message: the text/plain
part's first characters, or the HTML body's text content (a sender's hidden preheader
included, since clients read it though it is `display:none`), whitespace collapsed. The
notice keeps that preview when at least PREVIEW_CHARS characters of the sender's text come
before it (or all of it, in a shorter message).

`top` puts the notice at the first safe element boundary past that window: for a newsletter
whose preheader is padded (`&zwnj;&nbsp;` …, as senders do to fill the preview) that is right
after the preheader. `bottom` puts it at the end of the body, like a footer.

A boundary is safe when the notice placed there sits in a plain, visible block container —
no hidden or revealable ancestor, no link, no paragraph, no cell that shares its row with
content — and ends what the start tag it precedes would end, so every element of the sender's
document keeps its parent. The scanned document (htmlscan: the tree building detection
trusts) says so. Before a start tag: the notice is a <table>, which ends what the block start
tags it may precede end (an open <p>, in standards mode; in quirks mode none may be open),
opens and closes the same state (a cell's marker keeps the sender's open formatting out of
its text), and is moved before a table only where they would be too (so none may be open
there but its ancestors). At the end: the elements the scan leaves open are its ancestors.
"""
from __future__ import annotations

import html
import re
from collections.abc import Iterator
from dataclasses import dataclass
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
# Elements whose content is no extracted text (raw text, and a template's inert content).
_NOT_TEXT = RAW_TEXT | {"template"}
# Start tags looked at past the window before giving up on `top` (each check walks the
# element's ancestors: bounded work on hostile mail)
MAX_CANDIDATES = 256

# Start tags the notice (a <table>) may go right before: blocks, which end an open <p> as a
# table does in standards mode (in quirks mode a table does not: see _element_ok).
_BEFORE = frozenset(("div", "p", "table", "center", "section", "article", "header", "footer",
                     "main", "hr", "ul", "ol", "dl", "blockquote", "nav", "aside", "figure",
                     "address"))
# Plain block containers the notice may sit in (its parent and the ancestors above it)...
_FLOW = frozenset(("html", "body", "div", "td", "th", "center", "section", "article", "main",
                   "header", "footer", "form", "blockquote"))
# ... and the table parts between an ancestor cell and its table.
_TABLE_CHAIN = frozenset(("table", "tbody", "thead", "tfoot", "tr"))
_CELLS = frozenset(("td", "th"))

# Between two start tags the scan kept: comments (WHATWG endings; `<!-->` and `<!--->` are
# whole ones), end tags, start tags the tree builder ignores (a second <html>, a <head> in the
# body), bogus comments (doctype, `<![endif]>`, `<?…>`), and text. Each alternative consumes
# forward only: linear.
_GAP = re.compile(
    r"<!---?>|<!--.*?(?:--!?>|\Z)"
    r"|</([a-zA-Z][^\t\n\f\r />]*)[^>]*>"
    r"|<[a-zA-Z][^>]*>"
    r"|<[!?/][^>]*>"
    r"|[^<]+|<",
    re.DOTALL,
)

# ... and only comments and the end tags the walk counts, once no more text is counted.
_END_TAGS = re.compile(r"<!---?>|<!--.*?(?:--!?>|\Z)|</(table|p)(?=[\t\n\f\r />])[^>]*>",
                       re.DOTALL | re.IGNORECASE)


@dataclass(frozen=True)
class _Mark:
    element: Element  # the start tag the notice would go right before
    chars: int  # characters of extracted text before it
    open_tables: int  # <table>s open there, by their start and end tags in the source
    previous: Element | None  # the start tag before it
    p_ends: int  # </p> end tags between that one and this one


def html_position(text: str, doc: Document, sheets: list[tuple[StyleSheet, bool]],
                  position: Position, notice_html: str) -> int | None:
    """The offset in `text` (scanned as `doc`, with these stylesheets) to insert
    `notice_html` at: at `position`, else at the other one; None when neither is safe (the
    mail ends inside a comment, say, with no block after its text): then the body gets no
    notice, rather than one nobody sees or one that changes the preview."""
    place = _Placement(text, doc, sheets, notice_html)
    first, second = (place.top, place.bottom) if position == "top" else (place.bottom, place.top)
    at = first()
    return second() if at is None else at


class _Placement:
    """The candidates of one document, judged on its scan (see the module's docstring)."""

    def __init__(self, text: str, doc: Document, sheets: list[tuple[StyleSheet, bool]],
                 notice_html: str) -> None:
        self.text, self.doc, self.sheets, self.notice_html = text, doc, sheets, notice_html
        self.vis = Visibility(doc, sheets)
        self.cells = _Cells(text, doc)
        self._shown: bool | None = None

    def top(self) -> int | None:
        """Before the first block start tag with PREVIEW_CHARS characters of text before it
        (or all of a shorter document's text) that checks out."""
        seen: list[_Mark] = []
        count = _Counter()
        looked = 0
        for mark in _marks(self.text, self.doc, count):
            if mark.chars >= PREVIEW_CHARS:
                if mark.element.tag not in _BEFORE:
                    continue
                looked += 1
                if self._element_ok(mark):
                    return mark.element.start
                if looked >= MAX_CANDIDATES:
                    return None
            elif mark.element.tag in _BEFORE:
                seen.append(mark)
        # a document shorter than the window: the marks after all of its text
        for mark in seen[-MAX_CANDIDATES:]:
            if mark.chars >= count.chars and self._element_ok(mark):
                return mark.element.start
        return None

    def bottom(self) -> int | None:
        """At the end of the body: before the last </body> when only end tags follow it,
        else at the very end; when the elements the document leaves open there are plain,
        visible containers and it does not end inside a tag or comment."""
        doc, text = self.doc, self.text
        stack = doc.open_at_end
        if stack is None or not self._notice_shown():
            return None
        last = next((el for el in reversed(doc.elements)
                     if not el.in_mso and el.clone_of < 0), None)
        tail = last.end if last is not None else 0
        if not _ends_closed(text, tail):
            return None
        for index in stack:
            el = doc.elements[index]
            if el.in_mso or el.ns != "html" or el.tag not in _FLOW | _TABLE_CHAIN:
                return None
        if stack and not _container_ok(doc, doc.elements[stack[-1]], self.vis, self.cells):
            return None  # (a table part on top: the notice would be moved before its table)
        end = len(text.rstrip())
        body_end = [m.start() for m in _BODY_END.finditer(text, tail)][-1:]
        if body_end and not _ENDS_ONLY.fullmatch(text, body_end[0], end):
            body_end = []
        return body_end[0] if body_end else end

    def _element_ok(self, mark: _Mark) -> bool:
        """A cheap look at a start tag: a block in a visible plain container, not inside a
        table outside its cells (it would be moved before the table), no <p> it ends."""
        el, doc = mark.element, self.doc
        if el.tag not in _BEFORE or el.ns != "html" or not self._notice_shown():
            return False
        parent = doc.elements[el.parent] if el.parent >= 0 else None
        if parent is not None and not _container_ok(doc, parent, self.vis, self.cells):
            return False
        tables = 0
        up = parent
        while up is not None:
            tables += up.tag == "table"
            up = doc.elements[up.parent] if up.parent >= 0 else None
        if tables != mark.open_tables:
            return False
        # what is open before the tag lies on the previous tag's chain, down to the parent;
        # in quirks mode a <table> does not end a <p>, so each <p> there must have been ended
        # by its end tag already
        up, p_open = mark.previous, 0
        while up is not None and up is not parent:
            p_open += up.tag == "p"
            up = doc.elements[up.parent] if up.parent >= 0 else None
        return up is parent and (not doc.quirks or p_open <= mark.p_ends)

    def _notice_shown(self) -> bool:
        """No rule of the sender's stylesheets hides the notice's own elements (a rule for
        `table` or `td`, say) wherever it goes."""
        if self._shown is None:
            # (with the document's cache: the facts of its stylesheets are kept there)
            alone = scan(self.notice_html, cache=self.doc.cache)
            vis = Visibility(alone, self.sheets)
            self._shown = all(vis.state(el) is None for el in alone.elements)
        return self._shown


_BODY_END = re.compile(r"</body[\t\n\f\r />]", re.IGNORECASE)
# What may follow a </body> the notice goes before: end tags of body and html, comments, space.
_ENDS_ONLY = re.compile(r"(?:</(?:body|html)[^>]*>|<!--.*?-->|\s)*", re.IGNORECASE | re.DOTALL)


def _ends_closed(text: str, start: int) -> bool:
    """The document after `start` (after its last start tag) ends outside any tag and
    comment, so what is appended there is markup of its own."""
    for m in _GAP.finditer(text, start):
        token = m.group(0)
        after = text[m.end() : m.end() + 1]
        if token == "<" and after and (after.isalpha() or after in "/!?"):
            return False  # a tag the document ends inside
        if token.startswith("<!--") and not token.endswith(">"):
            return False  # a comment left open
    return True


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


def _marks(text: str, doc: Document, count: _Counter) -> Iterator[_Mark]:
    """The start tags of the document in order, each with the characters of extracted text
    before it (counted in `count`, which holds the whole document's when they run out) and
    the tables open there."""
    tables = [0]
    pos = 0
    prev: Element | None = None
    # element index -> the raw-text element (or template) it is or is inside, if any
    owners: dict[int, Element | None] = {}
    for el in doc.elements:
        owners[el.index] = el if el.tag in _NOT_TEXT else owners.get(el.parent)
        if el.in_mso or el.clone_of >= 0 or el.start < pos:
            continue  # inside a conditional comment, a copy, or inside the previous tag
        owner = owners[prev.index] if prev is not None else None
        p_ends = _gap(text, pos, el.start, owner, count, tables)
        yield _Mark(el, count.chars, tables[0], prev, p_ends)
        if el.tag == "table" and el.ns == "html":
            tables[0] += 1
        pos = el.end
        prev = el
    _gap(text, pos, len(text), owners[prev.index] if prev is not None else None, count, tables)


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


def _gap(text: str, start: int, end: int, owner: Element | None, count: _Counter,
         tables: list[int]) -> int:
    """Count the text between two start tags and the </table> end tags there; the number of
    </p> end tags there. `owner`: the raw-text element the previous tag is in, if any."""
    if owner is not None:
        # raw text (or markup read inside it) runs to its end tag: none of it is counted
        close = re.compile(rf"</{re.escape(owner.tag)}[\t\n\f\r />]",
                           re.IGNORECASE).search(text, start, end)
        if close is None:
            return 0
        start = close.start()
    p_ends = 0
    if count.chars >= PREVIEW_CHARS:  # the window is full: only the end tags matter now
        for m in _END_TAGS.finditer(text, start, end):
            name = (m.group(1) or "").lower()
            if name == "table" and tables[0]:
                tables[0] -= 1
            p_ends += name == "p"
        return p_ends
    for m in _GAP.finditer(text, start, end):
        token = m.group(0)
        if token[0] != "<" or token == "<":
            count.add(html.unescape(token) if "&" in token else token)
        elif m.group(1) is not None:
            name = m.group(1).lower()
            if name == "table" and tables[0]:
                tables[0] -= 1
            p_ends += name == "p"
    return p_ends


class _Cells:
    """Cells with content per table row, counted when asked: the empty cells beside a
    centred column (`<td></td><td>content</td><td></td>`) do not count."""

    def __init__(self, text: str, doc: Document) -> None:
        self.text, self.doc = text, doc
        self._rows: dict[int, list[Element]] | None = None
        self._parents: set[int] = set()
        self._counts: dict[int, int] = {}

    def in_row(self, row: int) -> int:
        found = self._counts.get(row)
        if found is None:
            if self._rows is None:
                self._rows = {}
                for el in self.doc.elements:
                    self._parents.add(el.parent)
                    if el.tag in _CELLS and el.parent >= 0 and not el.in_mso:
                        self._rows.setdefault(el.parent, []).append(el)
            found = sum(self._has_content(c) for c in self._rows.get(row, ()))
            self._counts[row] = found
        return found

    def _has_content(self, cell: Element) -> bool:
        if cell.index in self._parents:
            return True
        elements = self.doc.elements
        end = elements[cell.index + 1].start if cell.index + 1 < len(elements) else len(self.text)
        count = _Counter()
        for m in _GAP.finditer(self.text, cell.end, end):
            token = m.group(0)
            if token[0] != "<" or token == "<":
                count.add(html.unescape(token) if "&" in token else token)
        return count.chars > 0


def _container_ok(doc: Document, parent: Element, vis: Visibility, cells: _Cells) -> bool:
    """`parent` is a visible plain container, and so is everything it is in (table parts
    only between a cell and its table; a cell only alone in its row)."""
    if parent.tag not in _FLOW or vis.state(parent) is not None:
        return False
    el: Element | None = parent
    while el is not None:
        if el.in_mso or el.ns != "html" or not (el.tag in _FLOW or el.tag in _TABLE_CHAIN):
            return False
        if el.tag in _CELLS and cells.in_row(el.parent) > 1:
            return False
        el = doc.elements[el.parent] if el.parent >= 0 else None
    return True
