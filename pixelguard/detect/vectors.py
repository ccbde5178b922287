"""Every place an HTML mail can make a client load something remote, as Resources that carry
the exact source edits that would neutralise them (for strip and for rewrite)."""
from __future__ import annotations

import dataclasses
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, NamedTuple

from pixelguard import css
from pixelguard.budget import Deadline
from pixelguard.htmlscan import CHARREF, MAX_ATTRIBUTES, Document, Element, charref, contains_any
from pixelguard.urls import resolve

if TYPE_CHECKING:
    from pixelguard.cache import Memory

# 1x1 transparent GIF: what `rewrite` puts where a tracking image was, so layout stays.
INERT_IMAGE = "data:image/gif;base64,R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7"
CSS_INERT = "none"  # replaces url(...) in CSS: valid where an image is expected, inert elsewhere

# Elements no mail needs and only a tracker would use, by the family a policy may keep
# (Policy.keep): the attributes through which each loads something. A nested document
# (iframe, frame, object, embed) is neutralised whatever it loads, remote or data:, cid: or
# srcdoc, since what it holds could load anything; the others only when they load remotely.
NEEDLESS: dict[str, tuple[str, tuple[str, ...]]] = {
    "iframe": ("iframes", ("src", "srcdoc")),
    "frame": ("iframes", ("src",)),
    "object": ("objects", ("data",)),
    "embed": ("objects", ("src",)),
    "applet": ("objects", ("code", "archive", "codebase")),
    "audio": ("media", ("src",)),
    "video": ("media", ("src",)),
    "source": ("media", ("src",)),
    "track": ("media", ("src",)),
    "bgsound": ("media", ("src",)),
    "script": ("scripts", ("src",)),
}
# Those that hold a nested document (which core.py's first look at a part must not miss).
NESTED_DOCUMENTS = frozenset(("iframe", "frame", "object", "embed"))
_LINK_STYLESHEET = {"stylesheet", "import"}
# <link rel> values that make an engine fetch (or connect to) the href and show nothing of it
# in a mail; others (canonical, alternate, author...) load nothing.
_LINK_FETCHES = {"prefetch", "preload", "modulepreload", "prerender", "dns-prefetch",
                 "preconnect", "icon", "apple-touch-icon", "apple-touch-icon-precomposed",
                 "mask-icon", "manifest"}
# On VML shapes href is the link a click follows (Outlook buttons), not a load.
_VML_SHAPES = {"v:rect", "v:roundrect", "v:oval", "v:shape", "v:line", "v:polyline", "v:arc",
               "v:curve", "v:group"}


class Kind(StrEnum):
    """What a load is, which decides the rules that can judge it."""

    IMAGE = "image"  # a picture the element shows (src, srcset, poster, SVG/VML href)
    BACKGROUND = "background"  # a background= attribute or an inline style url()
    CSS = "css"  # a url() in a <style> rule
    STYLESHEET = "stylesheet"  # <link rel=stylesheet>
    IMPORT = "import"  # @import
    FONT = "font"  # @font-face src
    MEDIA = "media"  # a load no mail needs (iframe, audio, script, <link rel=preload>...)
    REFRESH = "refresh"  # <meta http-equiv=refresh>


ANY = "*"  # in Vector.tags: every element


@dataclass(frozen=True)
class Vector:
    """One way an element makes the engine load something: the tags and attributes it reads,
    the CSS functions it finds URLs in, the kinds of Resource it yields, and `find`, which
    adds them. extract()'s prefilters are generated from these declarations."""

    name: str
    tags: tuple[str, ...]  # tag names; "v:" every tag with that prefix; ANY every element
    attributes: tuple[str, ...]
    kinds: tuple[Kind, ...]
    find: Callable[[Document, Element, Callable[[str], str | None],
                    Callable[[Resource], None]], None] | None
    css_functions: tuple[str, ...] = ()
    # whether a lower-cased tag source can load through this vector's attributes, the cheap
    # test for ANY-element vectors (the name with an "=" after it; for CSS, also a loading
    # function, or an escape or entity that could spell one), in steps for extract()'s loop:
    # a name the source must contain, the length past which it may load whatever it contains,
    # then the test of a source that contains the name
    hint: tuple[str, int, Callable[[str], object]] = field(init=False, repr=False,
                                                           compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "hint", _hint_for(self))


def css_marks(functions: tuple[str, ...]) -> tuple[str, ...]:
    """What lower-cased CSS source must contain to call one of `functions`: a name with its
    "(", or an escape or entity that could spell one."""
    return tuple(f + "(" for f in functions) + ("&", "\\")


def _hint_for(vector: Vector) -> tuple[str, int, Callable[[str], object]]:
    # (a substring test first: it rules out most tags, and costs far less than a search)
    longest = sys.maxsize
    if vector.css_functions:
        test: Callable[[str], object] = contains_any(css_marks(vector.css_functions))
        # (a tag longer than the CSS limit may carry a style past it: removed unread, so
        # the vector must see it whatever it contains)
        longest = css.MAX_CSS_CHARS
    else:  # (a name is never spelled with entities; "background-color:" does not match)
        test = re.compile("|".join(re.escape(n) + r"[\t\n\f\r ]*="
                                   for n in vector.attributes)).search
    if len(vector.attributes) == 1:
        return vector.attributes[0], longest, test
    names = re.compile("|".join(re.escape(n) for n in vector.attributes)).search
    return "", longest, lambda low: names(low) is not None and test(low)


class Edit(NamedTuple):
    """Replace text[start:end] of the document with `text`."""

    start: int
    end: int
    text: str


@dataclass
class Resource:
    url: str  # absolute http(s)
    where: str  # "img[src]", "td[background]", "style@import", ...
    kind: Kind
    element: Element | None  # the element it belongs to (None for <style> rules)
    strip: list[Edit]
    rewrite: list[Edit]
    css_ref: css.CssRef | None = None
    # the family of a load no mail needs (NEEDLESS, "links", "manifest", "refresh"), or None
    needless: str | None = None
    # why it is removed unread, past a limit (a style attribute over css.MAX_CSS_CHARS)
    over_limit: str | None = None


def _remove_attr(doc: Document, el: Element, name: str) -> Edit:
    a = el.attr(name)
    assert a is not None
    start = a.start
    if start > 0 and doc.text[start - 1] in " \t\r\n":
        start -= 1
    return Edit(start, a.end, "")


def _label(el: Element, attr: str) -> str:
    if el.tag.startswith("v:"):
        return f"vml {el.tag}[{attr}]"
    prefix = "mso " if el.in_mso else ""
    return f"{prefix}{el.tag}[{attr}]"


def _srcset_urls(value: str) -> list[str]:
    """URLs of a srcset attribute (WHATWG candidate parsing, simplified, linear)."""
    urls: list[str] = []
    i, n = 0, len(value)
    while i < n:
        while i < n and (value[i].isspace() or value[i] == ","):
            i += 1
        j = i
        while j < n and not value[j].isspace():
            j += 1
        url = value[i:j]
        if url.endswith(","):
            url = url.rstrip(",")
            i = j
        else:
            k = value.find(",", j)
            i = n if k < 0 else k + 1
        if url:
            urls.append(url)
    return urls


def decode_with_map(raw: str) -> tuple[str, list[int]]:
    """HTML-decode an attribute value, with a map from decoded offsets to raw offsets."""
    if "&" not in raw:
        return raw, list(range(len(raw) + 1))  # callers skip the map when there is no "&"
    out: list[str] = []
    pos: list[int] = []
    i = 0
    for m in CHARREF.finditer(raw):
        for k in range(i, m.start()):
            out.append(raw[k])
            pos.append(k)
        repl = charref(m.group(0), raw[m.end():m.end() + 1])
        for ch in repl:
            out.append(ch)
            pos.append(m.start())
        i = m.end()
    for k in range(i, len(raw)):
        out.append(raw[k])
        pos.append(k)
    pos.append(len(raw))
    return "".join(out), pos


def _css_kind(ref: css.CssRef) -> tuple[Kind, str]:
    if ref.context == "@import":
        return Kind.IMPORT, "style@import"
    if ref.context == "@font-face":
        return Kind.FONT, "style@font-face"
    return Kind.CSS, f"style {ref.prop} url()"


# A srcset longer than this is removed whole, unread (real ones list a few candidates).
MAX_SRCSET_CHARS = 64 * 1024
_LONG_TAG = 64 * 1024  # a tag this long: the deadline is looked at before its attributes are read


_MISSING = object()


def _memo_resolve(base: str | None, deadline: Deadline | None = None,
                  kept: Memory | None = None) -> Callable[[str], str | None]:
    """resolve() against one document's base, each distinct reference resolved once (and
    kept in `kept`, cache.Cache.resolved: mail from one template refers to the same images);
    the deadline is looked at every 64 distinct references."""
    done: dict[str, str | None] = {}
    base_cost = len(base) if base is not None else 0

    def resolve_url(raw: str) -> str | None:
        try:
            return done[raw]
        except KeyError:
            if deadline is not None and not len(done) & 63:
                deadline.check()
            if kept is None:
                url = done[raw] = resolve(raw, base)
                return url
            key = (raw, base)
            url = kept.get(key, _MISSING)
            if url is _MISSING:
                url = resolve(raw, base)
                kept.put(key, url, len(raw) + base_cost + (len(url) if url else 0))
            done[raw] = url  # type: ignore[assignment]
            return url  # type: ignore[return-value]

    return resolve_url

Resolve = Callable[[str], "str | None"]
Add = Callable[[Resource], None]


def _attr_url(el: Element, name: str, resolve_url: Resolve) -> str | None:
    a = el.attr(name)
    return resolve_url(a.value) if a is not None else None


def _removed_attrs(doc: Document, el: Element, names: tuple[str, ...], kind: Kind,
                   resolve_url: Resolve, add: Add) -> None:
    """A load through each attribute in `names`, removed with its attribute."""
    for name in names:
        url = _attr_url(el, name, resolve_url)
        if url:
            e = _remove_attr(doc, el, name)
            add(Resource(url, _label(el, name), kind, el, [e], [e]))


# --- the vectors: one function each, declared in VECTORS below --------------------------------

def _image_src(doc: Document, el: Element, resolve_url: Resolve, add: Add) -> None:
    if el.tag == "input" and el.get("type").lower() != "image":
        return
    url = _attr_url(el, "src", resolve_url)
    if url:
        a = el.attr("src")
        add(Resource(url, _label(el, "src"), Kind.IMAGE, el,
                     [Edit(el.start, el.end, "")], [Edit(a.vstart, a.vend, INERT_IMAGE)]))
    _removed_attrs(doc, el, ("lowsrc", "dynsrc"), Kind.IMAGE, resolve_url, add)


def _srcset(doc: Document, el: Element, resolve_url: Resolve, add: Add) -> None:
    a = el.attr("srcset")
    if a is None:
        return
    e = _remove_attr(doc, el, "srcset")
    if len(a.raw) > MAX_SRCSET_CHARS:  # removed whole, unread
        add(Resource("data:text/plain", _label(el, "srcset"), Kind.IMAGE, el, [e], [e],
                     over_limit=f"a srcset of {len(a.raw)} characters (the limit is "
                                f"{MAX_SRCSET_CHARS})"))
        return
    for raw in _srcset_urls(a.value):
        url = resolve_url(raw)
        if url:
            add(Resource(url, _label(el, "srcset"), Kind.IMAGE, el, [e], [e]))


def _needless(doc: Document, el: Element, resolve_url: Resolve, add: Add) -> None:
    tag = el.tag
    family, names = NEEDLESS[tag]
    for name in names:
        a = el.attr(name)
        if a is None:
            continue
        url = resolve_url(a.value)
        if url is None and tag in NESTED_DOCUMENTS and a.value.strip():
            url = _inline_document(name, a.value)
        if url:
            e = _remove_attr(doc, el, name)
            add(Resource(url, _label(el, name), Kind.MEDIA, el, [e], [e], needless=family))


def _poster(doc: Document, el: Element, resolve_url: Resolve, add: Add) -> None:
    _removed_attrs(doc, el, ("poster",), Kind.IMAGE, resolve_url, add)


def _link(doc: Document, el: Element, resolve_url: Resolve, add: Add) -> None:
    url = _attr_url(el, "href", resolve_url)
    if not url:
        return
    rels = set(el.get("rel").lower().split())
    e = Edit(el.start, el.end, "")
    if rels & _LINK_STYLESHEET:
        add(Resource(url, _label(el, "href"), Kind.STYLESHEET, el, [e], [e]))
    elif rels & _LINK_FETCHES:
        add(Resource(url, f"link[rel={' '.join(sorted(rels)) or '?'}]", Kind.MEDIA, el,
                     [e], [e], needless="links"))


def _manifest(doc: Document, el: Element, resolve_url: Resolve, add: Add) -> None:
    url = _attr_url(el, "manifest", resolve_url)
    if url:
        e = _remove_attr(doc, el, "manifest")
        add(Resource(url, "html[manifest]", Kind.MEDIA, el, [e], [e], needless="manifest"))


def _refresh(doc: Document, el: Element, resolve_url: Resolve, add: Add) -> None:
    if el.get("http-equiv").strip().lower() != "refresh":
        return
    url = refresh_target(el.get("content"), resolve_url)
    if url:
        e = Edit(el.start, el.end, "")
        add(Resource(url, "meta[http-equiv=refresh]", Kind.REFRESH, el, [e], [e],
                     needless="refresh"))


def _svg_href(doc: Document, el: Element, resolve_url: Resolve, add: Add) -> None:
    _removed_attrs(doc, el, ("href", "xlink:href"), Kind.IMAGE, resolve_url, add)


def _vml(doc: Document, el: Element, resolve_url: Resolve, add: Add) -> None:
    names = ("src",) if el.tag in _VML_SHAPES else ("src", "href")
    _removed_attrs(doc, el, names, Kind.IMAGE, resolve_url, add)


def _background_attr(doc: Document, el: Element, resolve_url: Resolve, add: Add) -> None:
    _removed_attrs(doc, el, ("background",), Kind.BACKGROUND, resolve_url, add)


def _style_attr(doc: Document, el: Element, resolve_url: Resolve, add: Add) -> None:
    style = el.attr("style")
    if style is not None and len(style.raw) > css.MAX_CSS_CHARS:
        # too long to read (and, past htmlscan.MAX_DECODED, its references are not decoded):
        # the whole attribute goes, so what is delivered is what was judged
        e = _remove_attr(doc, el, "style")
        add(Resource("data:text/css", _label(el, "style"), Kind.BACKGROUND, el, [e], [e],
                     over_limit=f"a style attribute of {len(style.raw)} characters (the "
                                f"limit is {css.MAX_CSS_CHARS})"))
        return
    if style is not None and _may_call(style.raw.lower()) and style.value.strip():
        _decls, refs = css.parse_inline(style.value, doc.cache and doc.cache.styles)
        # CSS offsets are in the decoded text; map them back to the source when entities differ
        posmap = decode_with_map(style.raw)[1] if refs and "&" in style.raw else None
        for ref in refs:
            url = resolve_url(ref.url)
            if url is None:
                continue
            start, end = (ref.start, ref.end) if posmap is None else (posmap[ref.start], posmap[ref.end])
            e = Edit(style.vstart + start, style.vstart + end, CSS_INERT)
            add(Resource(url, _label(el, "style"), Kind.BACKGROUND, el, [e], [e], css_ref=ref))


# Every vector, in the order an element's loads are listed (findings of one element follow it).
# A tag name ending in ":" stands for every tag with that prefix (VML); ANY for every element.
VECTORS: tuple[Vector, ...] = (
    Vector("image", ("img", "image", "input"), ("src", "lowsrc", "dynsrc"), (Kind.IMAGE,),
           _image_src),
    Vector("srcset", ("img", "image", "source"), ("srcset",), (Kind.IMAGE,), _srcset),
    Vector("needless", tuple(NEEDLESS), tuple(sorted({a for _f, names in NEEDLESS.values()
                                                       for a in names})),
           (Kind.MEDIA,), _needless),
    Vector("video-poster", ("video",), ("poster",), (Kind.IMAGE,), _poster),
    Vector("link", ("link",), ("href", "rel"), (Kind.STYLESHEET, Kind.MEDIA), _link),
    Vector("html-manifest", ("html",), ("manifest",), (Kind.MEDIA,), _manifest),
    Vector("meta-refresh", ("meta",), ("http-equiv", "content"), (Kind.REFRESH,), _refresh),
    Vector("svg-href", ("image", "use", "feimage"), ("href", "xlink:href"), (Kind.IMAGE,),
           _svg_href),
    Vector("vml", ("v:",), ("src", "href"), (Kind.IMAGE,), _vml),
    Vector("background-attribute", (ANY,), ("background",), (Kind.BACKGROUND,),
           _background_attr),
    Vector("style-attribute", (ANY,), ("style",), (Kind.BACKGROUND,), _style_attr,
           css_functions=css.LOADING_FUNCTIONS),
)
# (<style> blocks and <link>ed data: stylesheets are read by css.parse_stylesheet and
# detect.nested; STYLE_BLOCK declares what they load through.)
STYLE_BLOCK = Vector("style-block", ("style",), (), (Kind.CSS, Kind.IMPORT, Kind.FONT), None,
                     css_functions=css.LOADING_FUNCTIONS)
_STYLE_MARKS = css_marks(css.LOADING_FUNCTIONS)


_may_call = contains_any(_STYLE_MARKS)


class VectorIndex:
    """The vectors by the tags they read: extract()'s prefilters, generated from the
    declarations so that no vector can be left out of them. An element is looked at only
    when its tag has a vector of its own, or an ANY-element vector's `hint` holds for it."""

    def __init__(self, vectors: tuple[Vector, ...]) -> None:
        by_tag: dict[str, list[Vector]] = {}
        by_prefix: dict[str, list[Vector]] = {}
        anywhere: list[Vector] = []
        for v in vectors:
            for tag in v.tags:
                if tag == ANY:
                    anywhere.append(v)
                elif tag.endswith(":"):
                    by_prefix.setdefault(tag, []).append(v)
                else:
                    by_tag.setdefault(tag, []).append(v)
        self.vectors = vectors
        self.by_tag = {tag: tuple(vs) for tag, vs in by_tag.items()}
        self.by_prefix = {p: tuple(vs) for p, vs in by_prefix.items()}
        if any(p.index(":") != len(p) - 1 for p in self.by_prefix):
            raise ValueError("a tag prefix is a namespace with its colon (\"v:\")")
        self.anywhere = tuple(anywhere)
        self.anywhere_hints = tuple(v.hint + (v,) for v in anywhere)

    def of_tag(self, tag: str) -> tuple[Vector, ...]:
        """The vectors of a tag name (in declaration order; ANY-element ones not included)."""
        found = self.by_tag.get(tag, ())
        colon = tag.find(":")
        if colon >= 0:
            prefixed = self.by_prefix.get(tag[:colon + 1])
            if prefixed:
                found = (tuple(v for v in self.vectors if v in found or v in prefixed) if found
                         else prefixed)
        return found


INDEX = VectorIndex(VECTORS)


def extract(doc: Document, base: str | None,
            sheets: list[tuple[css.StyleBlock, css.StyleSheet]] | None = None,
            deadline: Deadline | None = None, index: VectorIndex | None = None) -> list[Resource]:
    """All remote resources of the document (BudgetExceeded past the `deadline`), found by
    the vectors of `index` (INDEX: every vector of VECTORS)."""
    index = index or INDEX
    of_tag = index.of_tag
    by_tag = index.by_tag
    anywhere_hints = index.anywhere_hints
    resolve_url = _memo_resolve(doc.base_href or base, deadline,
                                doc.cache.resolved if doc.cache is not None else None)
    out: list[Resource] = []
    add = out.append
    looked = 0
    for el in doc.elements:
        if el.clone_of >= 0:
            continue  # a copy the tree builder made: its tag's loads are its original's
        low = el.low
        tag = el.tag
        if len(low) > MAX_ATTRIBUTES and el.too_many_attributes:
            # removed whole, unread (what it hides or loads past the limit is not judged)
            strip = [Edit(el.start, el.end, "")]
            add(Resource("data:text/html", f"<{tag}>", Kind.IMAGE, el, strip, strip,
                         over_limit=f"a tag with more than {MAX_ATTRIBUTES} attributes"))
            continue
        own = by_tag.get(tag, ()) if ":" not in tag else of_tag(tag)
        anywhere = None
        for first, longest, then, vector in anywhere_hints:
            if first in low and (len(low) > longest or then(low)):
                if anywhere is None:
                    anywhere = [vector]
                else:
                    anywhere.append(vector)
        if not own and anywhere is None:
            continue  # most elements load nothing
        looked += 1
        if deadline is not None and (not looked & 63 or len(low) > _LONG_TAG):
            deadline.check()
        for vector in own:
            vector.find(doc, el, resolve_url, add)
        for vector in anywhere or ():
            vector.find(doc, el, resolve_url, add)
    for block, sheet in sheets or ():
        media = doc.elements[block.element].get("media").strip().lower()
        for ref in sheet.refs:
            if media and media != "all":  # <style media="print">: as if inside @media print
                ref = dataclasses.replace(ref, media=(f"@media {media}",) + ref.media)
            url = resolve_url(ref.url)
            if url is None:
                continue
            kind, where = _css_kind(ref)
            span = Edit(block.start + ref.start, block.start + ref.end, CSS_INERT)
            add(Resource(url, ("mso " if block.in_mso else "") + where, kind, None,
                         [span], [span], css_ref=ref))
    return out


def _inline_document(name: str, value: str) -> str:
    """What a Finding names for a nested document that is not a remote URL: srcdoc markup,
    or the data:/cid: reference (shortened)."""
    if name == "srcdoc":
        return "about:srcdoc"
    value = value.strip()
    return value if len(value) <= 80 else value[:79] + "\u2026"


def refresh_target(content: str, resolve_url: Callable[[str], str | None]) -> str | None:
    """The remote URL a <meta http-equiv=refresh content=...> navigates to (the HTML
    standard's "shared declarative refresh steps"), or None."""
    i, n = 0, len(content)
    while i < n and content[i] in " \t\n\f\r":
        i += 1
    while i < n and (content[i].isdigit() or content[i] == "."):
        i += 1
    while i < n and content[i] in " \t\n\f\r;,":
        i += 1
    rest = content[i:]
    if rest[:3].lower() == "url":
        after = rest[3:].lstrip(" \t\n\f\r")
        if after.startswith("="):
            rest = after[1:].lstrip(" \t\n\f\r")
    if rest[:1] in ("'", '"'):
        quote = rest[0]
        rest = rest[1:]
        end = rest.find(quote)
        if end >= 0:
            rest = rest[:end]
    return resolve_url(rest) if rest.strip() else None
