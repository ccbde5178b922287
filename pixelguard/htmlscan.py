"""One linear pass over an HTML document with the stdlib tokenizer, recording what detection
needs and where it sits in the source: every start tag with its attribute spans, its parent,
every <style> block's text span, <base href>, and the markup inside Outlook conditional
comments (parsed as HTML too, since Outlook renders it).

Nothing here re-serialises HTML: offsets point into the text as the sender wrote it.
"""
from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

# Same shape as the stdlib tokenizer's own (tolerant) attribute pattern; no nested quantifiers.
_ATTR = re.compile(
    r"((?<=['\"\s/])[^\s/>][^\s/=>]*)(\s*=+\s*('[^']*'|\"[^\"]*\"|(?!['\"])[^>\s]*))?(?:\s|/(?!>))*"
)
_TAGNAME = re.compile(r"<([a-zA-Z][^\t\n\r\f />\x00]*)(?:\s|/(?!>))*")

VOID = frozenset(
    "area base br col embed hr img input link meta param source track wbr".split()
)
# Start tags that implicitly close an open element of the listed kinds (enough of the HTML
# tree-building rules to keep ancestors right in table-heavy mail).
# A start tag implicitly closes the nearest open element of these kinds (and everything opened
# inside it), unless a scope boundary comes first: the part of the HTML tree-building rules
# that decides ancestors in table-heavy mail.
_CLOSES = {
    "td": ("td", "th"), "th": ("td", "th"), "tr": ("tr",), "tbody": ("tbody", "thead", "tfoot"),
    "thead": ("tbody", "thead", "tfoot"), "tfoot": ("tbody", "thead", "tfoot"),
    "li": ("li",), "option": ("option",), "dt": ("dt", "dd"), "dd": ("dt", "dd"),
}
_SCOPE = {"td": ("tr", "table"), "th": ("tr", "table"), "tr": ("table",),
          "tbody": ("table",), "thead": ("table",), "tfoot": ("table",),
          "li": ("ul", "ol"), "dt": ("dl",), "dd": ("dl",), "option": ("select",)}
# Block-level start tags close an open <p> (up to a button/table/td scope boundary).
_CLOSES_P = frozenset(
    "address article aside blockquote center details dialog dir div dl fieldset figcaption "
    "figure footer form h1 h2 h3 h4 h5 h6 header hgroup hr main menu nav ol p pre section "
    "table ul".split()
)
_P_SCOPE = ("table", "td", "th", "button", "html", "body")
_COMMENT_END = re.compile(r"--!?>")
_ENDTAG_NAME = re.compile(r"[a-zA-Z][^\t\n\r\f />\x00]*")
_SVG_ELEMENTS = frozenset(
    "svg g path rect circle ellipse line polyline polygon image use defs symbol text tspan "
    "feimage filter lineargradient radialgradient stop clippath mask pattern".split()
)
MAX_DEPTH = 2000  # deeper open-element stacks are flattened (hostile mail)


@dataclass(slots=True)
class Attr:
    name: str  # lower-case
    value: str  # entities decoded
    start: int  # span of the whole attribute (name=value) in the document
    end: int
    vstart: int  # span of the raw value text, without quotes (== end when no value)
    vend: int


class Element:
    """A start tag. Its attributes are parsed on first use, and a lookup of an attribute
    whose name does not even occur in the tag's text costs one substring test."""

    __slots__ = ("index", "tag", "start", "end", "parent", "in_mso", "text", "_low", "_attrs",
                 "_raw")

    def __init__(self, index: int, tag: str, start: int, text: str, parent: int,
                 in_mso: bool) -> None:
        self.index = index
        self.tag = tag  # lower-case, may contain ':' (v:fill)
        self.start = start  # span of the start tag in the document
        self.end = start + len(text)
        self.parent = parent  # index of the parent element, -1 at top
        self.in_mso = in_mso  # inside an Outlook conditional comment
        self.text = text
        self._low = text.lower()
        self._attrs: dict[str, Attr] | None = None
        self._raw: dict[str, str] = {}

    def _parse(self) -> dict[str, Attr]:
        if self._attrs is None:
            _, attrs, self._raw, _ = _parse_attrs(self.text, self.start)
            self._attrs = {a.name: a for a in attrs}
        return self._attrs

    @property
    def attrs(self) -> list[Attr]:
        return list(self._parse().values())

    @property
    def raw_values(self) -> dict[str, str]:
        """Attribute name -> value text as written (entities not decoded)."""
        self._parse()
        return self._raw

    def mentions(self, text: str) -> bool:
        """The tag's source contains `text` (lower-case): a cheap pre-check."""
        return text in self._low

    def attr(self, name: str) -> Attr | None:
        if name not in self._low:
            return None
        return self._parse().get(name)

    def get(self, name: str, default: str = "") -> str:
        a = self.attr(name)
        return a.value if a is not None else default

    @property
    def classes(self) -> frozenset[str]:
        if "class" not in self._low:
            return _NO_CLASSES
        return frozenset(self.get("class").lower().split())


_NO_CLASSES: frozenset[str] = frozenset()


@dataclass
class StyleBlock:
    start: int  # span of the CSS text between <style> and </style>
    end: int
    element: int  # index of the <style> element
    in_mso: bool


@dataclass
class Document:
    text: str
    elements: list[Element] = field(default_factory=list)
    styles: list[StyleBlock] = field(default_factory=list)
    base_href: str | None = None
    body_start: int | None = None  # offset just after <body ...>
    head_end: int | None = None  # offset of </head>


def _parse_attrs(tag_text: str, offset: int) -> tuple[str, list[Attr], dict[str, str], int]:
    """Tag name, attributes (with document offsets), raw values, and where the scan stopped."""
    m = _TAGNAME.match(tag_text)
    if not m:
        return "", [], {}, 0
    tag = m.group(1).lower()
    attrs: list[Attr] = []
    raw: dict[str, str] = {}
    k = m.end()
    match = _ATTR.match
    unescape = html.unescape
    n = len(tag_text)
    while k < n:
        am = match(tag_text, k)
        if am is None or am.end() == k:
            break
        name = am.group(1).lower()
        if name in raw:  # HTML: the first of duplicate attributes wins
            k = am.end()
            continue
        vstart, vend = am.span(3)
        if vstart < 0:  # no value
            vstart = vend = end = am.end(1)
        else:
            end = vend
            q = tag_text[vstart]
            if (q == '"' or q == "'") and vend - vstart >= 2 and tag_text[vend - 1] == q:
                vstart, vend = vstart + 1, vend - 1
        value_raw = tag_text[vstart:vend]
        raw[name] = value_raw
        attrs.append(Attr(name, unescape(value_raw) if "&" in value_raw else value_raw,
                          offset + am.start(1), offset + end, offset + vstart, offset + vend))
        k = am.end()
    return tag, attrs, raw, k


class _Scanner(HTMLParser):
    def __init__(self, doc: Document, base: int, in_mso: bool, parent: int) -> None:
        # Text between tags is never looked at, so no entity decoding of it either.
        super().__init__(convert_charrefs=False)
        self.doc = doc
        self.base = base
        self.in_mso = in_mso
        self.stack: list[int] = [parent] if parent >= 0 else []
        # how many elements of each tag are open: lets a close that cannot match skip the
        # walk down the stack (keeps deep nesting linear)
        self._open: dict[str, int] = {}
        self._line_starts: list[int] = [0]
        self._style_open: tuple[int, int] | None = None
        self._shift = 0  # offset of self.rawdata[0] in the text being scanned
        self._comment_end_key: tuple[int, int] | None = None
        self._last_comment_end = -1

    def run(self, text: str) -> None:
        starts = self._line_starts
        i = text.find("\n")
        while i >= 0:
            starts.append(i + 1)
            i = text.find("\n", i + 1)
        # A tag still open at the end of the input is dropped by browsers; handing it to the
        # stdlib tokenizer would make it rescan to the end for every "<" (quadratic).
        gt = text.rfind(">")
        self.feed(text[: gt + 1])
        self._shift = gt + 1 - len(self.rawdata)
        self.close()

    def _offset(self) -> int:
        line, col = self.getpos()
        return self._line_starts[line - 1] + col

    # -- tokens -------------------------------------------------------------------------
    def parse_starttag(self, i: int) -> int:
        # Replaces the stdlib's own, which would parse and unescape every attribute of every
        # tag; here attributes are parsed only when detection asks for them.
        endpos = self.check_for_whole_start_tag(i)
        if endpos < 0:
            return endpos
        text = self.rawdata[i:endpos]
        m = _TAGNAME.match(text)
        if not m:
            return endpos
        name = m.group(1).lower()
        self.lasttag = name
        # "/>" closes only foreign (VML, SVG) elements; on HTML elements browsers ignore it.
        self_closing = text.endswith("/>") and (":" in name or name in _SVG_ELEMENTS)
        self._start(name, text, self.base + self._shift + i, self_closing)
        if not self_closing and name in self.CDATA_CONTENT_ELEMENTS:
            self.set_cdata_mode(name)
        return endpos

    def parse_comment(self, i: int, report: int = 1) -> int:
        # WHATWG comments: "<!-->" and "<!--->" end at once, "--!>" ends one too. An
        # unterminated "<!--" would make a naive search rescan to the end of the buffer for
        # every one of them (quadratic; CVE-2025-6069 class): the last end is found once.
        raw = self.rawdata
        if raw.startswith("<!-->", i):
            return i + 5
        if raw.startswith("<!--->", i):
            return i + 6
        key = (id(raw), len(raw))
        if self._comment_end_key != key:
            self._comment_end_key = key
            self._last_comment_end = max(raw.rfind("-->"), raw.rfind("--!>"))
        if self._last_comment_end < i + 4:
            return -1
        m = _COMMENT_END.search(raw, i + 4)
        if m is None:
            return -1
        if report:
            self.handle_comment(raw[i + 4 : m.start()])
        return m.end()

    def set_cdata_mode(self, elem: str, *args, **kwargs) -> None:
        # WHATWG: "</style" followed by whitespace, "/" or ">" ends the raw text element
        # ("</style x>" too), not only "</style>".
        super().set_cdata_mode(elem, *args, **kwargs)
        self.interesting = re.compile(r"</%s(?=[\t\n\r\f />])" % re.escape(self.cdata_elem), re.I)

    def parse_endtag(self, i: int) -> int:
        raw = self.rawdata
        gt = raw.find(">", i + 2)
        if gt < 0:
            return -1
        m = _ENDTAG_NAME.match(raw, i + 2)
        name = m.group(0).lower() if m else ""
        if self.cdata_elem is not None and name != self.cdata_elem:
            self.handle_data(raw[i : gt + 1])
            return gt + 1
        if name:
            self.handle_endtag(name)
        self.clear_cdata_mode()
        return gt + 1

    def _start(self, name: str, text: str, start: int, self_closing: bool) -> None:
        self._implicit_close(name)
        doc = self.doc
        el = Element(len(doc.elements), name, start, text,
                     self.stack[-1] if self.stack else -1, self.in_mso)
        doc.elements.append(el)
        if name == "base" and doc.base_href is None and el.attr("href") is not None:
            doc.base_href = el.get("href").strip()
        elif name == "body" and doc.body_start is None and not self.in_mso:
            doc.body_start = el.end
        elif name == "style" and not self_closing:
            self._style_open = (el.end, el.index)
        if name not in VOID and not self_closing and not name.startswith(("o:", "w:")):
            if len(self.stack) < MAX_DEPTH:
                self.stack.append(el.index)
                self._open[name] = self._open.get(name, 0) + 1

    def _implicit_close(self, name: str) -> None:
        if not self.stack:
            return
        if name in _CLOSES_P:
            self._close_nearest(("p",), _P_SCOPE)
        closes = _CLOSES.get(name)
        if closes:
            self._close_nearest(closes, _SCOPE.get(name, ("table",)))

    def _close_nearest(self, targets: tuple[str, ...], scope: tuple[str, ...]) -> None:
        if not any(self._open.get(t) for t in targets):
            return
        elements = self.doc.elements
        for depth in range(len(self.stack) - 1, -1, -1):
            tag = elements[self.stack[depth]].tag
            if tag in targets:
                self._pop_to(depth)
                return
            if tag in scope:
                return

    def _pop_to(self, depth: int) -> None:
        elements = self.doc.elements
        for index in self.stack[depth:]:
            tag = elements[index].tag
            if self._open.get(tag):
                self._open[tag] -= 1
        del self.stack[depth:]

    def handle_endtag(self, tag: str) -> None:
        tag = tag.lower()
        doc = self.doc
        if tag == "style" and self._style_open is not None:
            css_start, idx = self._style_open
            doc.styles.append(StyleBlock(css_start, self.base + self._offset(), idx, self.in_mso))
            self._style_open = None
        elif tag == "head" and doc.head_end is None:
            doc.head_end = self.base + self._offset()
        if not self._open.get(tag):
            return
        for depth in range(len(self.stack) - 1, -1, -1):
            if doc.elements[self.stack[depth]].tag == tag:
                self._pop_to(depth)
                return

    def parse_marked_section(self, i: int, report: int = 1) -> int:
        # HTML, not SGML: "<![" outside foreign content is a bogus comment that ends at the
        # first ">" (WHATWG). The stdlib would run a stray "<![endif]-->" on to the next "]>",
        # swallowing <body> and every image after it.
        j = self.rawdata.find(">", i + 3)
        return -1 if j < 0 else j + 1

    def handle_comment(self, data: str) -> None:
        # <!--[if mso]> ... <![endif]-->: Outlook renders the markup inside.
        if data[:3].lower() == "[if":
            close = data.find("]>")
            if close < 0:
                return
            inner_start = close + 2
            inner_end = data.rfind("<![endif]")
            if inner_end < inner_start:
                inner_end = len(data)
            comment_start = self.base + self._offset() + 4  # after "<!--"
            nested = _Scanner(
                self.doc, comment_start + inner_start, True, self.stack[-1] if self.stack else -1
            )
            nested.run(data[inner_start:inner_end])


def scan(text: str) -> Document:
    """Scan an HTML document. Never raises for malformed markup."""
    doc = Document(text)
    _Scanner(doc, 0, False, -1).run(text)
    doc.styles.sort(key=lambda s: s.start)
    return doc
