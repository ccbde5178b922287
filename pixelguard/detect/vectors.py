"""Every place an HTML mail can make a client load something remote, as Resources that carry
the exact source edits that would neutralise them (for strip and for rewrite)."""
from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

from pixelguard import css
from pixelguard.budget import Deadline
from pixelguard.htmlscan import CHARREF, MAX_ATTRIBUTES, Document, Element, charref
from pixelguard.memo import MISSING, Memo
from pixelguard.urls import resolve

# 1x1 transparent GIF: what `rewrite` puts where a tracking image was, so layout stays.
INERT_IMAGE = "data:image/gif;base64,R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7"
CSS_INERT = "none"  # replaces url(...) in CSS: valid where an image is expected, inert elsewhere

_IMAGE_TAGS = {"img", "image"}
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
_NESTED_DOCUMENTS = {"iframe", "frame", "object", "embed"}
_LINK_STYLESHEET = {"stylesheet", "import"}
# <link rel> values that make an engine fetch (or connect to) the href and show nothing of it
# in a mail; others (canonical, alternate, author...) load nothing.
_LINK_FETCHES = {"prefetch", "preload", "modulepreload", "prerender", "dns-prefetch",
                 "preconnect", "icon", "apple-touch-icon", "apple-touch-icon-precomposed",
                 "mask-icon", "manifest"}
_SVG_TAGS = {"image", "use", "feimage"}
# On VML shapes href is the link a click follows (Outlook buttons), not a load.
_VML_SHAPES = {"v:rect", "v:roundrect", "v:oval", "v:shape", "v:line", "v:polyline", "v:arc",
               "v:curve", "v:group"}


class Edit(NamedTuple):
    """Replace text[start:end] of the document with `text`."""

    start: int
    end: int
    text: str


@dataclass
class Resource:
    url: str  # absolute http(s)
    where: str  # "img[src]", "td[background]", "style@import", ...
    kind: str  # image | background | css | stylesheet | import | font | media
    element: Element | None  # the element it belongs to (None for <style> rules)
    strip: list[Edit]
    rewrite: list[Edit]
    css_ref: css.CssRef | None = None
    extra: dict[str, str] = field(default_factory=dict)
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


def extract(doc: Document, base: str | None,
            sheets: list[tuple[css.StyleBlock, css.StyleSheet]] | None = None,
            deadline: Deadline | None = None) -> list[Resource]:
    """All remote resources of the document (BudgetExceeded past the `deadline`)."""
    resolve_url = _memo_resolve(doc.base_href or base, deadline)
    out: list[Resource] = []
    looked = 0
    for el in doc.elements:
        # most elements load nothing: only tags with loading attributes of their own, and
        # any tag whose source mentions background= or a style= that may load, need a look
        if el.clone_of >= 0:
            continue  # a copy the tree builder made: its tag's loads are its original's
        low = el.low
        tag = el.tag
        if len(low) > MAX_ATTRIBUTES and el.too_many_attributes:
            # removed whole, unread (what it hides or loads past the limit is not judged)
            strip = [Edit(el.start, el.end, "")]
            out.append(Resource("data:text/html", f"<{tag}>", "image", el, strip, strip,
                                over_limit=f"a tag with more than {MAX_ATTRIBUTES} attributes"))
            continue
        if tag in _SPECIAL_TAGS or tag.startswith("v:") or (
                "background" in low and _BACKGROUND_ATTR.search(low) is not None) or (
                "style" in low and ("url" in low or "&" in low or "\\" in low
                                    or "image-set" in low)):  # _may_load_in_style, inlined
            looked += 1
            if deadline is not None and (not looked & 63 or len(low) > _LONG_TAG):
                deadline.check()
            _element_resources(doc, el, resolve_url, out)
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
            out.append(Resource(url, ("mso " if block.in_mso else "") + where, kind, None,
                                [span], [span], css_ref=ref))
    return out


def _css_kind(ref: css.CssRef) -> tuple[str, str]:
    if ref.context == "@import":
        return "import", "style@import"
    if ref.context == "@font-face":
        return "font", "style@font-face"
    return "css", f"style {ref.prop} url()"


# Tags with a loading attribute of their own (every tag _tag_resources looks at); any other
# element can load only through background= and style= (checked for every element).
_SPECIAL_TAGS = frozenset(_IMAGE_TAGS | NEEDLESS.keys() | _SVG_TAGS
                          | {"input", "source", "video", "link", "meta", "html"})


# A background= attribute (a name is never spelled with entities; "background-color:" in a
# style does not match), as a cheap pre-check before the tag's attributes are parsed.
_BACKGROUND_ATTR = re.compile(r"background[\t\n\f\r ]*=")


def _may_load_in_style(low: str) -> bool:
    """A style= in this (lower-cased) tag source can load something only through url( or
    image-set( (or CSS escapes or HTML entities that spell them); other styles are parsed
    later, if visibility needs them."""
    return "url" in low or "&" in low or "\\" in low or "image-set" in low


# A srcset longer than this is removed whole, unread (real ones list a few candidates).
MAX_SRCSET_CHARS = 64 * 1024
_LONG_TAG = 64 * 1024  # a tag this long: the deadline is looked at before its attributes are read


def _memo_resolve(base: str | None,
                  deadline: Deadline | None = None) -> Callable[[str], str | None]:
    """resolve() against one document's base, each distinct reference resolved once (and
    kept between messages: mail from one template refers to the same images); the deadline
    is looked at every 64 distinct references."""
    done: dict[str, str | None] = {}
    base_cost = len(base) if base is not None else 0

    def resolve_url(raw: str) -> str | None:
        try:
            return done[raw]
        except KeyError:
            if deadline is not None and not len(done) & 63:
                deadline.check()
            key = (raw, base)
            url = _KEPT.get(key, MISSING)
            if url is MISSING:
                url = resolve(raw, base)
                _KEPT.put(key, url, len(raw) + base_cost + (len(url) if url else 0))
            done[raw] = url  # type: ignore[assignment]
            return url  # type: ignore[return-value]

    return resolve_url


_KEPT = Memo[tuple[str, "str | None"], object](entries=4096, chars=1 << 20, largest=4096)


def _attr_url(el: Element, name: str, resolve_url: Callable[[str], str | None]) -> str | None:
    a = el.attr(name)
    return resolve_url(a.value) if a is not None else None


def _element_resources(doc: Document, el: Element, resolve_url: Callable[[str], str | None],
                       out: list[Resource]) -> None:
    tag = el.tag
    if tag in _SPECIAL_TAGS or tag.startswith("v:"):
        _tag_resources(doc, el, resolve_url, out)
    url = _attr_url(el, "background", resolve_url)
    if url:
        e = _remove_attr(doc, el, "background")
        out.append(Resource(url, _label(el, "background"), "background", el, [e], [e]))
    if not _may_load_in_style(el.low):
        return
    style = el.attr("style")
    if style is not None and len(style.raw) > css.MAX_CSS_CHARS:
        # too long to read (and, past htmlscan.MAX_DECODED, its references are not decoded):
        # the whole attribute goes, so what is delivered is what was judged
        e = _remove_attr(doc, el, "style")
        out.append(Resource("data:text/css", _label(el, "style"), "background", el, [e], [e],
                            over_limit=f"a style attribute of {len(style.raw)} characters (the "
                                       f"limit is {css.MAX_CSS_CHARS})"))
        return
    if style is not None and _may_load_in_style(style.raw.lower()) and style.value.strip():
        _decls, refs = css.parse_inline(style.value)
        # CSS offsets are in the decoded text; map them back to the source when entities differ
        posmap = decode_with_map(style.raw)[1] if refs and "&" in style.raw else None
        for ref in refs:
            url = resolve_url(ref.url)
            if url is None:
                continue
            start, end = (ref.start, ref.end) if posmap is None else (posmap[ref.start], posmap[ref.end])
            e = Edit(style.vstart + start, style.vstart + end, CSS_INERT)
            out.append(Resource(url, _label(el, "style"), "background", el, [e], [e], css_ref=ref))


def _tag_resources(doc: Document, el: Element, resolve_url: Callable[[str], str | None],
                   out: list[Resource]) -> None:
    """Loads through the element's own attributes (src, srcset, href, poster, data...)."""
    tag = el.tag
    add = out.append

    def attr_url(name: str) -> str | None:
        return _attr_url(el, name, resolve_url)

    if tag in _IMAGE_TAGS or (tag == "input" and el.get("type").lower() == "image"):
        url = attr_url("src")
        if url:
            a = el.attr("src")
            add(Resource(url, _label(el, "src"), "image", el,
                         [Edit(el.start, el.end, "")], [Edit(a.vstart, a.vend, INERT_IMAGE)]))
        for name in ("lowsrc", "dynsrc"):
            url = attr_url(name)
            if url:
                e = _remove_attr(doc, el, name)
                add(Resource(url, _label(el, name), "image", el, [e], [e]))
    if tag in _IMAGE_TAGS or tag == "source":
        a = el.attr("srcset")
        if a is not None:
            e = _remove_attr(doc, el, "srcset")
            if len(a.raw) > MAX_SRCSET_CHARS:  # removed whole, unread
                add(Resource("data:text/plain", _label(el, "srcset"), "image", el, [e], [e],
                             over_limit=f"a srcset of {len(a.raw)} characters (the limit is "
                                        f"{MAX_SRCSET_CHARS})"))
            else:
                for raw in _srcset_urls(a.value):
                    url = resolve_url(raw)
                    if url:
                        add(Resource(url, _label(el, "srcset"), "image", el, [e], [e]))
    if tag in NEEDLESS:
        family, names = NEEDLESS[tag]
        for name in names:
            a = el.attr(name)
            if a is None:
                continue
            url = resolve_url(a.value)
            if url is None and tag in _NESTED_DOCUMENTS and a.value.strip():
                url = _inline_document(name, a.value)
            if url:
                e = _remove_attr(doc, el, name)
                add(Resource(url, _label(el, name), "media", el, [e], [e], needless=family))
    if tag == "video":
        url = attr_url("poster")
        if url:
            e = _remove_attr(doc, el, "poster")
            add(Resource(url, _label(el, "poster"), "image", el, [e], [e]))
    if tag == "link":
        url = attr_url("href")
        if url:
            rels = set(el.get("rel").lower().split())
            e = Edit(el.start, el.end, "")
            if rels & _LINK_STYLESHEET:
                add(Resource(url, _label(el, "href"), "stylesheet", el, [e], [e]))
            elif rels & _LINK_FETCHES:
                add(Resource(url, f"link[rel={' '.join(sorted(rels)) or '?'}]", "media", el,
                             [e], [e], needless="links"))
    if tag == "html":
        url = attr_url("manifest")
        if url:
            e = _remove_attr(doc, el, "manifest")
            add(Resource(url, "html[manifest]", "media", el, [e], [e], needless="manifest"))
    if tag == "meta" and el.get("http-equiv").strip().lower() == "refresh":
        url = refresh_target(el.get("content"), resolve_url)
        if url:
            e = Edit(el.start, el.end, "")
            add(Resource(url, "meta[http-equiv=refresh]", "refresh", el, [e], [e],
                         needless="refresh"))
    if tag in _SVG_TAGS:
        for name in ("href", "xlink:href"):
            url = attr_url(name)
            if url:
                e = _remove_attr(doc, el, name)
                add(Resource(url, _label(el, name), "image", el, [e], [e]))
    if tag.startswith("v:"):
        for name in ("src",) if tag in _VML_SHAPES else ("src", "href"):
            url = attr_url(name)
            if url:
                e = _remove_attr(doc, el, name)
                add(Resource(url, _label(el, name), "image", el, [e], [e]))


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
