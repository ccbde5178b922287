"""One linear pass over an HTML document (the WHATWG tokenizer's states for tags, comments
and raw text, and the part of its tree building that decides ancestors), recording what
detection needs and where it sits in the source: every start tag with its attribute spans,
its parent, every <style> block's text span, <base href>, and the markup inside Outlook
conditional comments (parsed as HTML too, since Outlook renders it).

Nothing here re-serialises HTML: offsets point into the text as the sender wrote it.
"""
from __future__ import annotations

import html
import html.entities
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pixelguard.budget import Deadline

if TYPE_CHECKING:
    from pixelguard.cache import Cache, Memory

# One attribute of a start tag, by the WHATWG attribute states (the tag itself was matched by
# _TOKEN, so every quote here is closed): name, then a "quoted", 'quoted' or unquoted value.
_ATTR = re.compile(
    r"""[\t\n\f\r /]*+([^\t\n\f\r />][^\t\n\f\r />=]*+)
    (?:[\t\n\f\r ]*+=[\t\n\f\r ]*+
       (?:"([^"]*+)"|'([^']*+)'|([^\t\n\f\r >"'][^\t\n\f\r >]*+|(?=>))))?""",
    re.VERBOSE,
)
_TAGNAME = re.compile(r"<[a-zA-Z][^\t\n\r\f />\x00]*")

VOID = frozenset(
    "area base br col embed frame hr img input keygen link meta param source track wbr".split()
)
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
          "li": (), "dt": (), "dd": (), "option": ("select",)}
# li, dt and dd close an open one only when no special element (but address, div, p) is open
# inside it.
_LIST_ITEMS = frozenset(("li", "dt", "dd"))
_NOT_BLOCKING_ITEMS = frozenset(("address", "div", "p"))
# Attribute values longer than this are read as written, their character references not
# decoded (decoding costs up to 0.5 s per MiB): longer than any URL or style attribute is
# read (urls.MAX_URL_CHARS, css.MAX_CSS_CHARS), so such a value is removed whole, not judged.
MAX_DECODED = 256 * 1024
_CHECK_EVERY = 1023  # the deadline is looked at once per this many tokens (+1, a mask)
_ITEM_REACH = 64  # open special elements looked through for that
# Block-level start tags close an open <p> (up to a button/table/td scope boundary).
_CLOSES_P = frozenset(
    "address article aside blockquote center dd details dialog dir div dl dt fieldset "
    "figcaption figure footer form h1 h2 h3 h4 h5 h6 header hgroup hr li listing main menu "
    "nav ol p plaintext pre search section summary ul xmp".split()
)  # and <table>, outside quirks mode (_contextual_start)
_P_SCOPE = ("table", "td", "th", "button", "html", "body")
# A formatting <a> or <nobr>, and a <button>, end the open one (the adoption agency's effect
# on ancestors), unless a scope marker is open inside it.
_MARKERS = ("applet", "caption", "html", "table", "td", "th", "marquee", "object", "template")
_CLOSES_SAME = {"a": _MARKERS, "nobr": _MARKERS, "button": _MARKERS}
# Start tag -> the (targets, scope) pairs it closes, in the order they apply.
_IMPLICIT = {
    name: tuple(
        ([(("p",), _P_SCOPE)] if name in _CLOSES_P else [])
        + ([(_CLOSES[name], _SCOPE.get(name, ("table",)))] if name in _CLOSES else [])
        + ([((name,), _CLOSES_SAME[name])] if name in _CLOSES_SAME else [])
    )
    for name in _CLOSES_P | _CLOSES.keys() | _CLOSES_SAME.keys()
}
_HEADINGS = frozenset(("h1", "h2", "h3", "h4", "h5", "h6"))
_NAMESPACED = frozenset(("svg", "math", "image"))  # start tags that change namespace or name
# Start tags before which the tree builder does not re-open closed formatting elements.
_NO_RECONSTRUCT = _CLOSES_P | frozenset(
    "li dd dt table hr textarea iframe noembed noframes html head body base basefont bgsound "
    "link meta script style template title caption col colgroup tbody thead tfoot tr td th "
    "frame frameset param source track option optgroup".split())
# Start tags whose tree building depends on the current node or an open <select>.
_TABLE_PARTS = frozenset(("caption", "col", "colgroup", "tbody", "thead", "tfoot", "tr", "td",
                          "th"))
_CONTEXTUAL = _HEADINGS | _TABLE_PARTS | {"table", "select", "input", "keygen", "textarea",
                                          "form", "html", "head", "body"}
_SECTIONS = ("tbody", "thead", "tfoot")
_CELLS = ("td", "th")
_COMMENT_END = re.compile(r"--!?>")
# The attributes of a tag, by the WHATWG tokenizer's attribute states: a quote opens a quoted
# value only where a value starts (so `title=a=">"` cannot hide the markup after it), and a
# quoted value left open runs to the end of the input (then the tag does not match: dropped).
# Possessive quantifiers keep it linear: every state is taken once, never retried.
_ATTR_STATES = r"""
    (?:[\t\n\f\r /]++
      |[^\t\n\f\r />][^\t\n\f\r />=]*+
       (?:[\t\n\f\r ]*+=[\t\n\f\r ]*+
          (?:"[^"]*+(?:"|\Z)|'[^']*+(?:'|\Z)|[^\t\n\f\r >"'][^\t\n\f\r >]*+|(?=>)))?
    )*+"""
# Elements the WHATWG tree builder calls "special": an end tag of any other kind is ignored
# when one of them is open inside the element it names ("any other end tag").
_SPECIAL = frozenset(
    "address applet area article aside base basefont bgsound blockquote body br button caption "
    "center col colgroup dd details dialog dir div dl dt embed fieldset figcaption figure footer "
    "form frame frameset h1 h2 h3 h4 h5 h6 head header hgroup hr html iframe img input keygen li "
    "link listing main marquee menu meta nav noembed noframes noscript object ol p param "
    "plaintext pre script search section select source style summary table tbody td template "
    "textarea tfoot th thead title tr track ul wbr xmp".split()
)
# </body> and </html> leave them open to a browser: what follows still goes into the body.
_KEPT_OPEN = frozenset(("body", "html"))
# The adoption agency (misnested formatting elements) is followed this far: deeper misnesting
# is closed by popping, and at most this many earlier elements move into a copy.
_ADOPTION_REACH = 64
_ADOPTION_SCAN = 4096  # (per end tag, all rounds together)
# Start tags that do not begin the body (a <body> after them still starts an element).
_HEAD_CONTENT = frozenset("html head meta title link style script base noscript".split())
# Elements that put a marker on the list of active formatting elements.
_MARKER_ELEMENTS = frozenset("td th caption applet marquee object template".split())
_AFE_MAX = 64  # entries kept on that list (hostile mail may open any number)
# Copies of formatting elements made per document: past this, hostile mail (every image
# re-opening dozens of closed formatting elements) gets no more (bounded memory).
_COPIES_MAX = 20_000
_ROOT = frozenset(("html",))
# end tags that need more than closing the current element
_SLOW_END = _KEPT_OPEN | {"head", "form"}
_FORMATTING = frozenset("a b big code em font i nobr s small strike strong tt u".split())
# The scope an end tag's element must be in (no boundary element open inside it), or the
# browser ignores the end tag. Special and formatting elements not listed: the default scope.
_DEFAULT_SCOPE = _MARKERS
_TABLE_SCOPE = ("html", "table", "template")
_END_SCOPE = {
    **{tag: _DEFAULT_SCOPE for tag in _SPECIAL | _FORMATTING},
    **{tag: _TABLE_SCOPE for tag in ("td", "th", "tr", "tbody", "thead", "tfoot", "table",
                                     "caption")},
    "li": _DEFAULT_SCOPE + ("ol", "ul"),
    "p": _DEFAULT_SCOPE + ("button",),
}
# In SVG or MathML content, these start tags end the foreign content (the tree builder pops
# back to an HTML element) and are HTML elements: `<svg><style><img src=x>` loads x.
_BREAKOUT = frozenset(
    "b big blockquote body br center code dd div dl dt em embed h1 h2 h3 h4 h5 h6 head hr i "
    "img li listing menu meta nobr ol p pre ruby s small span strong strike sub sup table tt u "
    "ul var".split()
)
# Foreign elements whose content is HTML again (HTML and MathML text integration points).
_INTEGRATION = {"svg": frozenset(("foreignobject", "desc", "title")),
                "math": frozenset(("mi", "mo", "mn", "ms", "mtext", "annotation-xml"))}
# In a table, these start tags are table structure; any other element is "foster-parented":
# the engine puts it before the table, outside it (and outside a table that hides).
_TABLE_CONTEXT = frozenset(("table", "tbody", "thead", "tfoot", "tr"))
_TABLE_CONTENT = frozenset(
    "caption colgroup col tbody tfoot thead td th tr table style script template input".split()
)
_HIDDEN_INPUT = re.compile(
    r"""[\t\n\f\r /]type[\t\n\f\r ]*=[\t\n\f\r ]*["']?hidden["'\t\n\f\r />]""",
    re.IGNORECASE)
MAX_DEPTH = 2000  # deeper open-element stacks are flattened (hostile mail)


@dataclass(slots=True)
class Attr:
    name: str  # lower-case
    value: str  # entities decoded
    start: int  # span of the whole attribute (name=value) in the document
    end: int
    vstart: int  # span of the raw value text, without quotes (== end when no value)
    vend: int
    raw: str  # the value as written (entities not decoded)


def _make_attr(name: str, m: re.Match[str], offset: int) -> Attr:
    group = m.lastindex  # the value's group (2 "..", 3 '..', 4 unquoted), or 1: no value
    if group == 1:
        vstart = vend = end = m.end(1)
    else:
        vstart, vend = m.span(group)
        end = vend + 1 if group < 4 else vend  # past the closing quote
    raw = m.string[vstart:vend]
    return Attr(name, _decoded(raw) if "&" in raw else raw, offset + m.start(1),
                offset + end, offset + vstart, offset + vend, raw)


# A character reference as the tokenizer's character reference state reads it: numeric, or
# a name (the longest one known, with or without its ';').
CHARREF = re.compile(r"&(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?)")
_NAMED = html.entities.html5  # names with their ';', and the legacy ones also without


def charref(ref: str, next_char: str) -> str:
    """What one character reference `ref` (a CHARREF match) stands for in an attribute
    value, followed by `next_char`: a legacy named reference without ';' followed by '=' or
    an alphanumeric stays as written (so "&current_date=" is not "¤t_date="), and so does a
    longer name no reference starts."""
    if ref[1] == "#":
        return html.unescape(ref)
    name = ref[1:]
    if name in _NAMED and name.endswith(";"):
        return _NAMED[name]
    for end in range(len(name), 0, -1):  # the longest legacy name it starts with
        if name[:end] in _NAMED:
            after = name[end] if end < len(name) else next_char
            if after == "=" or after.isalnum():
                return ref
            return _NAMED[name[:end]] + name[end:]
    return ref


def _decoded(raw: str) -> str:
    """The value of an attribute written as `raw`; past MAX_DECODED characters only its
    start is decoded (enough to show its scheme: a URL's length alone then removes it)."""
    if len(raw) <= MAX_DECODED:
        return unescape_attr(raw)
    cut = raw.rfind("&", 0, _DECODED_HEAD)
    cut = cut if cut > _DECODED_HEAD - 64 else _DECODED_HEAD  # never inside a reference
    return unescape_attr(raw[:cut]) + raw[cut:]


_DECODED_HEAD = 4096


def unescape_attr(raw: str) -> str:
    """An attribute value with its character references decoded by the HTML standard's
    rules for attributes."""
    return CHARREF.sub(lambda m: charref(m.group(0), raw[m.end():m.end() + 1]), raw)


def _attr_matches(text: str) -> dict[str, re.Match[str]]:
    """A start tag's attributes by (lower-case) name, each the match of its source; past
    MAX_ATTRIBUTES the reading stops and the entry _TOO_MANY says so."""
    out: dict[str, re.Match[str]] = {}
    m = _TAGNAME.match(text)
    if m:
        for count, am in enumerate(_ATTR.finditer(text, m.end())):
            if count == MAX_ATTRIBUTES:
                out[_TOO_MANY] = am
                break
            name = am.group(1).lower()
            if name not in out:  # HTML: the first of duplicate attributes wins
                out[name] = am
    return out


# Attributes read of one tag (real mail uses a few dozen). A tag with more is removed whole,
# unread (detect.vectors): reading on would let one tag cost seconds.
MAX_ATTRIBUTES = 1000
_TOO_MANY = " "  # (no attribute name contains a space)


def contains_any(marks: tuple[str, ...]) -> Callable[[str], bool]:
    """A test for whether a text contains one of `marks` (substring tests: for a few marks
    they cost less than one search of an alternation; a mark containing another is left out).

    The test is one expression, `m0 in text or m1 in text or ...`, made the way dataclasses
    make their __init__: these tests run for every element of a message, and a loop over the
    marks cost some 50 ns more per mark than the written-out expression."""
    needed = tuple(m for m in marks if not any(o != m and o in m for o in marks))
    if not needed:
        return lambda text: False
    names = {f"m{i}": mark for i, mark in enumerate(needed)}  # (only names in the source)
    test: Callable[[str], bool] = eval(  # (source made of the names above alone)
        "lambda text: " + " or ".join(f"{name} in text" for name in names), names)
    return test


class Element:
    """A start tag. Its attributes are parsed on first use (and each made into an Attr on
    first lookup); a lookup of an attribute whose name does not even occur in the tag's
    text costs one substring test."""

    __slots__ = ("_attrs", "_classes", "_kept", "_matches", "clone_of", "end", "in_mso",
                 "index", "low", "ns", "parent", "start", "tag", "text")

    def __init__(self, index: int, tag: str, start: int, text: str, parent: int,
                 in_mso: bool, ns: str = "html", kept: Memory | None = None) -> None:
        self.index = index
        self.tag = tag  # lower-case, may contain ':' (v:fill); <image> in HTML is "img"
        self.ns = ns  # "html", "svg" or "math": the namespace the engine gives it
        # the index of the element this one copies (the tree builder re-opens formatting
        # elements as copies of a tag it already met), else -1: a copy loads nothing of its own
        self.clone_of = -1
        self.start = start  # span of the start tag in the document
        self.end = start + len(text)
        self.parent = parent  # index of the parent element, -1 at top
        self.in_mso = in_mso  # inside an Outlook conditional comment
        self.text = text
        self.low = text.lower()  # the tag source, lower-cased: for cheap substring pre-checks
        # the attributes' matches in `text` (shared with every tag of the same text kept in
        # `kept`, cache.Cache.tags: read only), and those already made into this element's Attrs
        self._kept = kept
        self._matches: dict[str, re.Match[str]] | None = None
        self._attrs: dict[str, Attr | None] | None = None
        self._classes: frozenset[str] | None = None

    def _parse(self) -> dict[str, re.Match[str]]:
        matches = self._matches
        if matches is None:
            text = self.text
            kept = self._kept
            matches = kept.get(text) if kept is not None else None
            if matches is None:
                matches = _attr_matches(text)
                if kept is not None:  # (a match costs about as much as 100 characters)
                    kept.put(text, matches, len(text) + 100 * len(matches))
            self._matches = matches
        return matches

    @property
    def too_many_attributes(self) -> bool:
        """More than MAX_ATTRIBUTES attributes: the rest were not read."""
        return len(self.text) > MAX_ATTRIBUTES and _TOO_MANY in self._parse()

    @property
    def attrs(self) -> list[Attr]:
        out = []
        for name in list(self._parse()):
            if name == _TOO_MANY:
                continue
            a = self.attr(name)
            if a is not None:
                out.append(a)
        return out

    def attr(self, name: str) -> Attr | None:
        if name not in self.low:
            return None
        made = self._attrs
        if made is None:
            made = self._attrs = {}
        elif name in made:
            return made[name]
        m = self._parse().get(name)
        a = made[name] = _make_attr(name, m, self.start) if m is not None else None
        return a

    def get(self, name: str, default: str = "") -> str:
        a = self.attr(name)
        return a.value if a is not None else default

    @property
    def classes(self) -> frozenset[str]:
        classes = self._classes
        if classes is None:
            if "class" not in self.low:
                classes = _NO_CLASSES
            else:
                classes = frozenset(self.get("class").lower().split())
            self._classes = classes
        return classes


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
    quirks: bool = False  # rendered in quirks mode (no doctype, or an old one)
    # tree-building state shared by the scans of one document (Outlook's comments included)
    roots_seen: set[str] = field(default_factory=set)  # html, head, body start tags met
    # for _Scanner._begun: per set of tag names, the first element not among them, and how
    # many elements were looked at
    first_beyond: dict[frozenset[str], int] = field(default_factory=dict)
    checked_for: dict[frozenset[str], int] = field(default_factory=dict)
    copies: int = 0  # elements the tree builder copied (formatting elements re-opened)
    # _name_info of its tag names (from KNOWN_NAMES, and the others it has met)
    names: dict[str, _NameInfo] = field(default_factory=lambda: dict(_KNOWN_NAMES))
    # what its readers may keep between messages (tags here, styles, URLs in detect)
    cache: Cache | None = None
    # the elements still open at the end of the document, outermost first (None: not known,
    # the document nests deeper than MAX_DEPTH)
    open_at_end: tuple[int, ...] | None = None


# Elements whose content is text, not markup, to the tokenizer (RAWTEXT, RCDATA and script
# data; <noscript> is markup, since mail is rendered with scripting off): a comment or tag
# inside them does not end them. The markup inside those that are not <style>/<script> is
# read anyway, as if it were elements of theirs: removing an image an engine would not load
# costs nothing, and a sloppy client might load it.
RAW_TEXT = frozenset(("style", "script", "textarea", "title", "xmp", "iframe", "noembed",
                      "noframes"))
_TEXT_READ_AS_MARKUP = RAW_TEXT - {"style", "script"}
# The next token at or after a position, by what follows its "<" (group numbers are the
# kinds run() dispatches on): 1 a start tag up to its '>' (attributes by _ATTR_STATES), 2 an
# end tag (its name, NUL included: "</div\0>" names no real element, and attributes by the
# same states: `</x a="></div>">` is one end tag), 3 "<!--"; a bogus comment (doctype,
# <![endif]>, <?...>, "</" and a non-letter) up to the first '>', no group; 4 any of those
# the input ends inside. A "<" followed by anything else is text, skipped by the search.
_TOKEN = re.compile(
    r"<(?:([a-zA-Z][^\t\n\f\r />]*+)" + _ATTR_STATES + r">"
    r"|/([a-zA-Z][^\t\n\f\r />]*+)" + _ATTR_STATES + r">"
    r"|(!--)"
    r"|/(?![a-zA-Z])[^>]*+>|![^>]*+>|\?[^>]*+>"
    r"|([a-zA-Z/!?]))",
    re.VERBOSE,
)


_Closes = tuple[tuple[tuple[str, ...], tuple[str, ...]], ...]  # (targets, scope) pairs
_NameInfo = tuple[_Closes | None, bool, bool, bool, bool, bool]
# Hostile mail can invent any number of tag names, of any length: a document's scan keeps
# what only its short names mean (every real element's name is), at most this many.
_NAMES_MAX = 4096
_NAME_KEPT_MAX = 32  # characters


def _name_info(name: str) -> _NameInfo:
    """What an HTML start tag's (lower-case) name means to the tree builder: the elements it
    implicitly closes, whether "/>" can close it (VML and Office tags, as Outlook reads them
    inside its conditional comments), whether it is pushed on the stack of open elements (not
    void), special, raw text, and whether it is noted (<base>, <body>)."""
    return (
        _IMPLICIT.get(name),
        ":" in name,
        name not in VOID,
        name in _SPECIAL,
        name in RAW_TEXT,
        name in ("base", "body"),
    )


# What the names of the elements real mail uses mean, worked out once (a document's scan
# starts from a copy and adds the names it meets).
_KNOWN_NAMES: dict[str, _NameInfo] = {
    name: _name_info(name)
    for name in (_IMPLICIT.keys() | VOID | _SPECIAL | RAW_TEXT | _FORMATTING | _CLOSES_P
                 | _TABLE_CONTENT | _BREAKOUT | _HEAD_CONTENT
                 | {"span", "label", "sup", "sub", "abbr", "center", "o:p", "v:rect",
                    "v:roundrect", "v:fill", "v:textbox", "v:imagedata", "w:anchorlock"})
}


class _Scanner:
    """A linear tag scanner for mail HTML: start tags (with offsets), end tags, comments
    (WHATWG endings; Outlook conditional comments parsed as markup), raw text elements.
    Text between tags is skipped, never decoded."""

    def __init__(self, doc: Document, base: int, in_mso: bool, parent: int,
                 deadline: Deadline | None = None) -> None:
        self.doc = doc
        self.deadline = deadline
        self.base = base
        self.in_mso = in_mso
        self.stack: list[int] = [parent] if parent >= 0 else []
        # Where (stack depths) the open elements of each tag are, and the open special ones:
        # the nearest element of a kind, or a scope boundary inside it, is found without
        # walking down the stack (deep nesting stays linear).
        self._pos: dict[str, list[int]] = {}
        self._special: list[int] = []
        # elements past MAX_DEPTH are not pushed; their end tags must not close pushed ones
        self._unpushed: dict[str, int] = {}
        self._form_open = False  # the tree builder's form element pointer is set
        # the list of active formatting elements: element indices, -1 for a marker (a cell,
        # caption, object, applet, marquee or template opened)
        self._afe: list[int] = []
        self._afe_closed = False  # some listed element may have been closed without its end tag
        self._no_end: dict[str, int] = {}  # raw text name -> offset after which no end tag

    def run(self, text: str) -> None:
        names = self.doc.names
        tags = self.doc.cache.tags if self.doc.cache is not None else None
        # The hot loop: one _TOKEN search per tag, so the common path is written out here.
        search = _TOKEN.search
        elements = self.doc.elements
        stack = self.stack
        positions = self._pos
        special = self._special
        base = self.base
        in_mso = self.in_mso
        afe = self._afe
        check = self.deadline.check if self.deadline is not None else None
        if check is not None:
            check()  # (a conditional comment's scanner: once per comment)
        tokens = 0
        pos = 0
        while True:
            m = search(text, pos)
            if m is None:
                return
            tokens += 1
            if not tokens & _CHECK_EVERY and check is not None:
                check()
            kind = m.lastindex
            if kind == 1:  # a start tag
                lt = m.start()
                end = m.end()
                name = m.group(1).lower()
                tag_text = text[lt:end]
                parent = stack[-1] if stack else -1
                current = elements[parent] if parent >= 0 else None
                ns = current.ns if current is not None else "html"
                if ns != "html" or name in _NAMESPACED:
                    ns, name = self._namespace(ns, name, tag_text)
                    parent = stack[-1] if stack else -1
                    current = elements[parent] if parent >= 0 else None
                if ns != "html":
                    # foreign content: no HTML tree-building rules, "/>" closes any element,
                    # and <style>/<script> are elements with markup inside, not raw text
                    el = Element(len(elements), name, base + lt, tag_text, parent, in_mso, ns,
                                 tags)
                    elements.append(el)
                    if tag_text[-2] != "/":
                        self._push_foreign(el)
                    if name == "style" and ns == "svg":
                        self._foreign_style(text, end)
                    pos = end
                    continue
                info = names.get(name)
                if info is None:
                    if "\x00" in name:
                        name = name[: name.index("\x00")]
                    info = _name_info(name)
                    if len(name) <= _NAME_KEPT_MAX and len(names) < _NAMES_MAX:
                        names[name] = info
                implicit, foreign, pushed, is_special, raw_text, noted = info
                current_tag = current.tag if current is not None else ""
                if name in _CONTEXTUAL or current_tag == "colgroup":
                    if self._contextual_start(name, tag_text):
                        pos = end
                        continue  # the tree builder ignores this start tag
                    parent = stack[-1] if stack else -1
                    current_tag = elements[parent].tag if parent >= 0 else ""
                if implicit is not None and stack:
                    for targets, scope in implicit:
                        self._close_nearest(targets, scope)
                    parent = stack[-1] if stack else -1
                    current_tag = elements[parent].tag if parent >= 0 else ""
                if name == "form" and self._in_table_mode():
                    pushed = False  # in a table, a form is inserted and popped at once
                elif current_tag in _TABLE_CONTEXT and (
                        name not in _TABLE_CONTENT or (
                            name == "input" and _HIDDEN_INPUT.search(tag_text) is None)):
                    parent = self._foster_parent()
                if afe:
                    if name in _CLOSES_SAME:
                        self._forget(name)  # a new <a> or <nobr> ends the listed one
                    if self._afe_closed and name not in _NO_RECONSTRUCT:
                        parent = self._reconstruct(parent)
                # "/>" is ignored on HTML elements; Outlook honours it on its VML and Office
                # tags inside its conditional comments
                self_closing = foreign and in_mso and tag_text[-2] == "/"
                el = Element(len(elements), name, base + lt, tag_text, parent, in_mso, "html",
                             tags)
                elements.append(el)
                if noted:
                    self._note(el)
                if pushed and not self_closing:
                    depth = len(stack)
                    if depth < MAX_DEPTH:
                        stack.append(el.index)
                        at = positions.get(name)
                        if at is None:
                            positions[name] = [depth]
                        else:
                            at.append(depth)
                        if is_special:
                            special.append(depth)
                        if name in _FORMATTING:
                            self._remember(el)
                        elif name in _MARKER_ELEMENTS:
                            afe.append(-1)
                    else:
                        self._unpushed[name] = self._unpushed.get(name, 0) + 1
                if raw_text and not self_closing:
                    pos = self._raw_text(text, end, name)
                else:
                    pos = end
            elif kind == 2:  # an end tag
                pos = m.end()
                tag = m.group(2).lower()
                at = positions.get(tag)
                top = len(stack) - 1
                if at and at[-1] == top and not self._unpushed and tag not in _SLOW_END:
                    stack.pop()  # the usual case: it closes the current element
                    at.pop()
                    if special and special[-1] == top:
                        special.pop()
                    if afe and (tag in _FORMATTING or tag in _MARKER_ELEMENTS):
                        self._forget(tag)
                else:
                    self._end_tag(tag, m.start())
            elif kind == 3:  # "<!--"
                pos = self._comment(text, m.start())
                if pos < 0:
                    return  # unterminated: the rest of the document is a comment
            elif kind == 4:
                return  # a tag still open at the end of the input: browsers drop it
            else:  # doctype, <![endif]>, <?...>, </ and a non-letter: a bogus comment
                pos = m.end()

    def _namespace(self, ns: str, name: str, tag_text: str) -> tuple[str, str]:
        """The namespace and name of a start tag whose current node is in `ns`, as the tree
        builder decides them; breaking out of foreign content closes it first."""
        stack = self.stack
        elements = self.doc.elements
        if ns != "html":
            current = elements[stack[-1]]
            at_integration = current.tag in _INTEGRATION[ns] and not (
                ns == "math" and name in ("mglyph", "malignmark"))
            if not at_integration:
                if name not in _BREAKOUT and not (name == "font" and _FONT_BREAKOUT.search(
                        tag_text.lower()) is not None):
                    return ns, name
                depth = len(stack)
                while depth > 0:  # pop to the nearest HTML element or integration point
                    top = elements[stack[depth - 1]]
                    if top.ns == "html" or top.tag in _INTEGRATION[top.ns]:
                        break
                    depth -= 1
                self._pop_to(depth)
        if name in ("svg", "math"):
            return name, name
        if name == "image":
            return "html", "img"  # the tree builder's rename: a void <img>
        return "html", name

    def _contextual_start(self, name: str, tag_text: str) -> bool:
        """The tree builder's steps for a start tag that depend on the current node or an
        open <select>, taken before it is inserted; True when it ignores the tag."""
        elements = self.doc.elements
        stack = self.stack
        current = elements[stack[-1]].tag if stack else ""
        if current == "colgroup" and name != "col":
            self._pop_to(len(stack) - 1)  # a column group holds only <col>
            current = elements[stack[-1]].tag if stack else ""
        select = self._pos.get("select")
        if select and name in ("select", "input", "keygen", "textarea") \
                and self._innermost(_MARKERS, select[-1]) < 0:
            self._pop_to(select[-1])  # these end an open <select>; <select> itself only that
            return name == "select"
        if name in ("html", "head", "body") and not self.in_mso:
            # once the document has begun, these start an element no more (an engine moves
            # their attributes to the one it has); a stray one must not enclose what follows
            seen = self.doc.roots_seen
            if name == "body":  # begun once anything but head content came
                begun = "body" in seen or self._begun(_HEAD_CONTENT)
            elif name == "head":  # begun once anything but <html> came
                begun = "head" in seen or self._begun(_ROOT)
            else:
                begun = bool(elements)
            seen.add(name)
            return begun
        if name == "form":
            if self._form_open:
                return True  # no form in a form: the engine drops the tag
            self._form_open = True
        elif name in _HEADINGS and current in _HEADINGS:
            self._pop_to(len(stack) - 1)  # a heading does not nest in a heading
        elif name == "table" and self._in_table_mode():
            self._pop_to(self._pos["table"][-1])  # "<table><table>": the first one ends
        elif name in _TABLE_PARTS:
            if not self._pos.get("table") and not self.in_mso:
                return True  # a table part outside any table: the engine drops the tag
            self._clear_to_table_context(name)
        elif name == "table" and not self.doc.quirks:
            self._close_nearest(("p",), _P_SCOPE)  # (a quirks-mode table goes into the <p>)
        return False

    def _begun(self, before: frozenset[str]) -> bool:
        """Has an element come (outside Outlook's comments) that is not one of `before`, the
        elements that may come before a <head> or <body>? Each element is looked at once per
        document and question."""
        doc = self.doc
        elements = doc.elements
        first = doc.first_beyond.get(before, -1)
        if first >= 0:
            return True
        checked = doc.checked_for.get(before, 0)
        for index in range(checked, len(elements)):
            el = elements[index]
            if el.tag not in before and not el.in_mso:
                doc.first_beyond[before] = index
                doc.checked_for[before] = index + 1
                return True
        doc.checked_for[before] = len(elements)
        return False

    def _in_table_mode(self) -> bool:
        """Is the tree builder in one of its table insertion modes: a table open, and no cell
        or caption open in it (elements foster-parented out of it leave the mode as it was)?"""
        t = self._depth_of("table")
        return t >= 0 and self._innermost(_CELLS + ("caption",), t) < 0

    def _remember(self, el: Element) -> None:
        """A formatting element joins the list (at most three alike since the last marker:
        the standard's "Noah's Ark" clause; the list is bounded)."""
        afe = self._afe
        elements = self.doc.elements
        alike = 0
        for k in range(len(afe) - 1, -1, -1):
            index = afe[k]
            if index < 0:
                break
            other = elements[index]
            if other.tag == el.tag and other.text == el.text:
                alike += 1
                if alike == 3:
                    del afe[k]
                    break
        afe.append(el.index)
        if len(afe) > _AFE_MAX:
            del afe[: len(afe) - _AFE_MAX]

    def _forget(self, tag: str) -> None:
        """An element of `tag` ended by its end tag: a formatting one leaves the list, a
        marker element clears the list back to its marker."""
        afe = self._afe
        elements = self.doc.elements
        if tag in _MARKER_ELEMENTS:
            while afe:
                if afe.pop() < 0:
                    break
            return
        for k in range(len(afe) - 1, -1, -1):
            if afe[k] < 0:
                return
            if elements[afe[k]].tag == tag:
                del afe[k]
                return

    def _open(self, index: int) -> bool:
        el = self.doc.elements[index]
        stack = self.stack
        return any(stack[d] == index for d in self._pos.get(el.tag, ()))

    def _reconstruct(self, parent: int) -> int:
        """Re-open, as copies in the current node, the formatting elements of the list that
        were closed without their end tag (a block closed them), as the tree builder does
        before it inserts most elements; the parent the new element then gets."""
        afe = self._afe
        first = len(afe)
        while first > 0 and afe[first - 1] >= 0 and not self._open(afe[first - 1]):
            first -= 1
        self._afe_closed = False
        if first == len(afe) or self.doc.copies >= _COPIES_MAX:
            return parent
        elements = self.doc.elements
        stack = self.stack
        for k in range(first, len(afe)):
            if len(stack) >= MAX_DEPTH:
                break
            copy = self._copy(elements[afe[k]], parent)  # (foster-parented, where it is)
            self._pos.setdefault(copy.tag, []).append(len(stack))
            stack.append(copy.index)
            parent = copy.index
        return parent

    def _copy(self, el: Element, parent: int) -> Element:
        """A copy of a formatting element, made by the tree builder (it loads nothing); it
        takes the element's place on the list of active formatting elements."""
        elements = self.doc.elements
        copy = Element(len(elements), el.tag, el.start, el.text, parent, el.in_mso, el.ns,
                       el._kept)
        copy.clone_of = el.clone_of if el.clone_of >= 0 else el.index
        elements.append(copy)
        self.doc.copies += 1
        afe = self._afe
        for k in range(len(afe) - 1, -1, -1):
            if afe[k] == el.index:
                afe[k] = copy.index
                break
        return copy

    def _depth_of(self, tag: str) -> int:
        at = self._pos.get(tag)
        return at[-1] if at else -1

    def _innermost(self, tags: tuple[str, ...], above: int) -> int:
        """Depth of the innermost open element of `tags` deeper than `above`, or -1."""
        best = -1
        for tag in tags:
            at = self._pos.get(tag)
            if at and at[-1] > above and at[-1] > best:
                best = at[-1]
        return best

    def _clear_to_table_context(self, name: str) -> None:
        """A table part's start tag ends what is open inside the innermost table down to
        the part that holds it: a cell goes into the open row, a row into the open section,
        a section or caption into the table (the rows and sections the engine implies are
        not on this stack, so they are closed by depth). Elements foster-parented out of the
        table, still open, end too."""
        stack = self.stack
        current = self.doc.elements[stack[-1]].tag if stack else ""
        if (current == "tr" and name in _CELLS) or (current == "table" and name != "td"
                                                    and name != "th"):
            return  # the usual case: already where it goes
        table = self._pos.get("table")
        if not table:
            return
        t = table[-1]
        holder = -1
        if name in _CELLS:
            holder = self._innermost(("tr",), t)
        if holder < 0 and name in _CELLS + ("tr",):
            holder = self._innermost(_SECTIONS, t)
        self._pop_to((holder if holder >= 0 else t) + 1)

    def _end_implied(self, tag: str) -> None:
        """</tbody> or </tr> with none open: it ends the one the engine implied, if a cell
        or row shows there is one (and no other section or row stands in for it)."""
        table = self._pos.get("table")
        if not table:
            return
        t = table[-1]
        if tag == "tbody":
            if self._innermost(_SECTIONS, t) < 0 and self._innermost(_CELLS + ("tr",), t) >= 0:
                self._pop_to(t + 1)
        elif self._innermost(_CELLS, t) >= 0:  # "tr"
            section = self._innermost(_SECTIONS, t)
            self._pop_to((section if section >= 0 else t) + 1)

    def _push_foreign(self, el: Element) -> None:
        """Push an SVG or MathML element (never special: run() pushes HTML ones itself)."""
        stack = self.stack
        depth = len(stack)
        if depth >= MAX_DEPTH:
            self._unpushed[el.tag] = self._unpushed.get(el.tag, 0) + 1
            return
        stack.append(el.index)
        self._pos.setdefault(el.tag, []).append(depth)

    def _foster_parent(self) -> int:
        """The parent an element gets when it appears where only table structure may: the
        element the innermost open table sits in."""
        at = self._pos.get("table")
        if not at:
            return self.stack[-1]
        depth = at[-1]
        return self.stack[depth - 1] if depth > 0 else -1

    def _foreign_style(self, text: str, end: int) -> None:
        """An SVG <style>: its text is a stylesheet the engine applies, but it is not raw
        text, so the scan goes on inside it (a tag there breaks out and loads); its CSS ends
        at its end tag or its first tag."""
        close = self._raw_end(text, end, "style")
        tag = _TAG_START.search(text, end, close)
        if tag is not None:
            close = tag.start()  # the tree builder reads a tag there as an element
        if close < len(text):
            self.doc.styles.append(StyleBlock(self.base + end, self.base + close,
                                              len(self.doc.elements) - 1, self.in_mso))

    def _raw_end(self, text: str, end: int, name: str) -> int:
        """_raw_text_end, remembering from where on no "</name" follows at all, so that many
        raw text elements never closed cost one search, not one each."""
        none_from = self._no_end.get(name)
        if none_from is not None and end >= none_from:
            return len(text)
        close = _raw_text_end(text, end, name)
        if close >= len(text) and _raw_end_pattern(name).search(text, end) is None:
            self._no_end[name] = end
        return close

    def _note(self, el: Element) -> None:
        """<base href> and where <body> starts."""
        doc = self.doc
        if el.tag == "base" and doc.base_href is None and el.attr("href") is not None:
            doc.base_href = el.get("href").strip()
        elif el.tag == "body" and doc.body_start is None and not self.in_mso:
            doc.body_start = el.end

    def _raw_text(self, text: str, end: int, name: str) -> int:
        """After the start tag of a raw text element ending at `end`: skip its text (record
        a style block, read other text as markup of its own); the offset to scan on from."""
        close = self._raw_end(text, end, name)
        if close >= len(text):
            # Never closed: a browser would swallow the rest as text, but sanitising
            # mail clients differ; read on as markup, so no load goes unjudged.
            return end
        index = len(self.doc.elements) - 1
        if name == "style":
            self.doc.styles.append(
                StyleBlock(self.base + end, self.base + close, index, self.in_mso)
            )
        elif name in _TEXT_READ_AS_MARKUP and "<" in text[end:close]:
            _Scanner(self.doc, self.base + end, self.in_mso, index).run(text[end:close])
        self._end_tag(name, close)
        gt = text.find(">", close)
        return len(text) if gt < 0 else gt + 1

    def _comment(self, text: str, lt: int) -> int:
        """Handle the comment at `lt`; return the offset after it, or -1 if unterminated."""
        if text.startswith("<!-->", lt):
            return lt + 5
        if text.startswith("<!--->", lt):
            return lt + 6
        m = _COMMENT_END.search(text, lt + 4)
        if m is None:
            return -1
        data = text[lt + 4 : m.start()]
        # <!--[if mso]> ... <![endif]-->: Outlook renders the markup inside.
        if data[:3].lower() == "[if":
            close = data.find("]>")
            if close >= 0:
                inner_start = close + 2
                inner_end = data.rfind("<![endif]")
                if inner_end < inner_start:
                    inner_end = len(data)
                nested = _Scanner(self.doc, self.base + lt + 4 + inner_start, True,
                                  self.stack[-1] if self.stack else -1, self.deadline)
                nested.run(data[inner_start:inner_end])
        return m.end()

    def _close_nearest(self, targets: tuple[str, ...], scope: tuple[str, ...]) -> None:
        """Close the nearest open element of `targets` (and all inside it), unless a `scope`
        element is open inside it."""
        positions = self._pos
        nearest = -1
        for tag in targets:
            at = positions.get(tag)
            if at and at[-1] > nearest:
                nearest = at[-1]
        if nearest < 0:
            return
        for tag in scope:
            at = positions.get(tag)
            if at and at[-1] > nearest:
                return
        if targets[0] in _LIST_ITEMS:
            elements, stack = self.doc.elements, self.stack
            special = self._special
            for k in range(len(special) - 1, max(len(special) - _ITEM_REACH, 0) - 1, -1):
                d = special[k]
                if d <= nearest:
                    break
                if elements[stack[d]].tag not in _NOT_BLOCKING_ITEMS:
                    return
            else:
                if len(special) > _ITEM_REACH and special[-_ITEM_REACH - 1] > nearest:
                    return  # (more open than this, hostile: left open)
        self._pop_to(nearest)

    def _pop_to(self, depth: int) -> None:
        elements = self.doc.elements
        positions = self._pos
        special = self._special
        stack = self.stack
        afe = self._afe
        for d in range(len(stack) - 1, depth - 1, -1):
            tag = elements[stack[d]].tag
            at = positions.get(tag)
            if at and at[-1] == d:
                at.pop()
            if special and special[-1] == d:
                special.pop()
            if afe:
                if tag in _FORMATTING:
                    self._afe_closed = True
                elif tag in _MARKER_ELEMENTS:
                    self._forget(tag)
        del stack[depth:]

    def _end_tag(self, tag: str, at: int) -> None:
        """An end tag, as the WHATWG tree builder reads it: it closes the nearest open element
        of its name only when that is in scope (for other than special and formatting
        elements: when no special element is open inside it); otherwise it is ignored."""
        doc = self.doc
        if tag == "head" and doc.head_end is None and not self.in_mso:
            doc.head_end = self.base + at
        if "\x00" in tag or tag in _KEPT_OPEN:  # "div\ufffd" names nothing open
            return
        if self._unpushed.get(tag):  # the innermost one of that name was never pushed
            self._unpushed[tag] -= 1
            if not self._unpushed[tag]:
                del self._unpushed[tag]
            return
        if tag == "form":
            self._form_open = False
        elif tag in _HEADINGS:  # any heading's end tag ends the open heading, whatever its level
            tag = next((h for h in sorted(_HEADINGS, key=lambda h: -self._depth_of(h))
                        if self._depth_of(h) >= 0), tag)
        depths = self._pos.get(tag)
        if not depths:
            if tag in ("tbody", "tr"):
                self._end_implied(tag)
            return
        depth = depths[-1]
        scope = _END_SCOPE.get(tag)
        if scope is None:  # any other end tag: a special element inside it blocks it
            if self._special and self._special[-1] > depth:
                return
        else:
            for boundary in scope:
                inside = self._pos.get(boundary)
                if inside and inside[-1] > depth:
                    return
        if tag in _FORMATTING and self._special and self._special[-1] > depth \
                and len(self.stack) - depth <= _ADOPTION_REACH \
                and self.doc.copies < _COPIES_MAX:
            self._adopt(depth)
        elif tag == "form" and len(self.stack) - depth <= _ADOPTION_REACH:
            self._remove_from_stack(depth)  # </form> ends the form alone: what it holds stays
        else:
            self._pop_to(depth)
        if self._afe and tag in _FORMATTING:
            self._forget(tag)

    def _adopt(self, depth: int) -> None:
        """The adoption agency's effect on ancestors, for a formatting element's end tag with
        a block (a special element) open inside it, round by round: the block moves up out of
        the formatting element (into copies of the formatting elements open between them),
        stays open, and what it holds goes into a copy of the formatting element (same tag
        and attributes: same hiding); the next block open inside it moves out in turn. Past
        the last block the copy ends, and formatting elements open in it are re-opened as
        copies in the block. Copies are Elements that load nothing of their own."""
        elements = self.doc.elements
        stack = self.stack
        old = stack[depth:]
        del stack[depth:]
        formatting = elements[old[0]]
        anchor = formatting.parent
        pos = 1
        budget = _ADOPTION_SCAN  # earlier elements looked at, for the whole end tag
        while True:
            block = next((i for i in range(pos, len(old)) if _is_special(elements[old[i]])), -1)
            if block < 0:
                for index in old[pos:]:  # the copy ends; formatting inside it re-opens
                    if elements[index].tag in _FORMATTING:
                        copy = self._copy(elements[index], anchor)
                        stack.append(copy.index)
                        anchor = copy.index
                break
            for index in old[pos:block]:  # formatting elements between: copies, chained
                if elements[index].tag in _FORMATTING:
                    copy = self._copy(elements[index], anchor)
                    stack.append(copy.index)
                    anchor = copy.index
            block_el = elements[old[block]]
            block_el.parent = anchor
            stack.append(block_el.index)
            wrapper = self._copy(formatting, block_el.index)
            first = max(block_el.index + 1, wrapper.index - budget)
            budget -= wrapper.index - first
            for el in elements[first : wrapper.index]:
                if el.parent == block_el.index:
                    el.parent = wrapper.index
            formatting, anchor, pos = wrapper, block_el.index, block + 1
        self._restack(depth, old)

    def _remove_from_stack(self, depth: int) -> None:
        """Take the element at `depth` off the stack, leaving what is open above it."""
        old = self.stack[depth:]
        del self.stack[depth]
        self._restack(depth, old)

    def _restack(self, depth: int, old: list[int]) -> None:
        """The stack changed from `depth` up (it held `old` there): so do the depths kept for
        it (changed in place: run() holds these objects)."""
        self._afe_closed = True
        elements = self.doc.elements
        stack = self.stack
        positions, special = self._pos, self._special
        for index in old:
            at = positions.get(elements[index].tag)
            while at and at[-1] >= depth:
                at.pop()
        while special and special[-1] >= depth:
            special.pop()
        for d in range(depth, len(stack)):
            el = elements[stack[d]]
            positions.setdefault(el.tag, []).append(d)
            if _is_special(el):
                special.append(d)


def _is_special(el: Element) -> bool:
    return el.tag in _SPECIAL and el.ns == "html"


# Script data's escape states: "<!--" escapes, "<script" in an escape double-escapes (a
# "</script" there does not end the script, only the double escape), "-->" ends both.
_SCRIPT_EVENTS = re.compile(r"<!--|-->|<(/?)script(?=[\t\n\r\f />])", re.IGNORECASE)


def _script_end(text: str, i: int) -> int:
    escaped = double = False
    pos = i
    while True:
        m = _SCRIPT_EVENTS.search(text, pos)
        if m is None:
            return len(text)
        token = m.group(0)
        if token == "<!--":
            escaped = escaped or not double
            pos = m.start() + 2  # its "--" may also begin "-->" ("<!-->")
            continue
        if token == "-->":
            if escaped or double:
                escaped = double = False
        elif m.group(1):  # "</script"
            if not double:
                return m.start()
            double, escaped = False, True  # back to escaped
        elif escaped:  # "<script" inside an escape
            double, escaped = True, False
        pos = m.end()


def _raw_text_end(text: str, i: int, name: str) -> int:
    """Offset of the "</name" (followed by whitespace, '/' or '>') that ends raw text
    started at i; len(text) when there is none."""
    if name == "script":
        return _script_end(text, i)
    m = _raw_end_pattern(name).search(text, i)
    return m.start() if m else len(text)


def _raw_end_pattern(name: str) -> re.Pattern[str]:
    pattern = _RAW_END.get(name)
    if pattern is None:
        pattern = _RAW_END[name] = re.compile(rf"</{re.escape(name)}(?=[\t\n\r\f />])",
                                              re.IGNORECASE)
    return pattern


_RAW_END: dict[str, re.Pattern[str]] = {}
_TAG_START = re.compile(r"</?[a-zA-Z]")
# <font> with one of these attributes breaks out of foreign content like the _BREAKOUT tags.
_FONT_BREAKOUT = re.compile(r"[\t\n\f\r /](?:color|face|size)[\t\n\f\r /=>]")


_DOCTYPE = re.compile(r"<!doctype([^>]*)>", re.IGNORECASE)
_DOCTYPE_PUBLIC = re.compile(r"""public\s*(["'])(.*?)\1\s*(["'])?""")
# Public identifiers that put a document into quirks mode (the common ones of the HTML
# standard's list), unless a system identifier makes a 4.01 one "limited quirks".
_QUIRKS_IDS = ("-//w3c//dtd html 4.0 ", "-//w3c//dtd html 3", "-//ietf//dtd html",
               "-//w3c//dtd html 4.01 transitional//", "-//w3c//dtd html 4.01 frameset//",
               "-//w3o//dtd w3 html", "-//netscape comm. corp.//")
_LIMITED_IF_SYSTEM = ("-//w3c//dtd html 4.01 transitional//", "-//w3c//dtd html 4.01 frameset//")
_DOCTYPE_REACH = 4096  # the doctype is looked for this far into the document


def _is_quirks(text: str) -> bool:
    """Quirks mode, by the doctype (after a BOM, white space and comments), as the tree
    builder decides it for the common doctypes."""
    i, n = 0, min(len(text), _DOCTYPE_REACH)
    while i < n:
        if text[i] in "\ufeff\t\n\f\r ":
            i += 1
        elif text.startswith("<!--", i):
            close = text.find("-->", i + 4)
            if close < 0:
                return True
            i = close + 3
        else:
            break
    m = _DOCTYPE.match(text, i)
    if m is None:
        return True
    decl = " ".join(m.group(1).lower().split())
    if not decl.startswith("html"):
        return True
    if "public" not in decl:
        return False
    ids = _DOCTYPE_PUBLIC.search(decl)
    if ids is None:
        return False
    public, has_system = ids.group(2), ids.group(3) is not None
    if public.startswith(_LIMITED_IF_SYSTEM):
        return not has_system  # with a system identifier: limited quirks
    return public.startswith(_QUIRKS_IDS)


def scan(text: str, deadline: Deadline | None = None, cache: Cache | None = None) -> Document:
    """Scan an HTML document. Never raises for malformed markup; raises BudgetExceeded
    past the `deadline` (looked at every thousand tags). `cache`: what its readers may keep
    between messages (Document.cache)."""
    doc = Document(text, quirks=_is_quirks(text), cache=cache)
    scanner = _Scanner(doc, 0, False, -1, deadline)
    scanner.run(text)
    doc.styles.sort(key=lambda s: s.start)
    doc.open_at_end = None if scanner._unpushed else tuple(scanner.stack)
    return doc
