"""Content inside content: stylesheets and documents carried in a `data:` URL or a `srcdoc`
attribute. The engine loads what they hold as if it were in the message, so they are cleaned
with the same rules and put back in place, encoded as they came.
"""
from __future__ import annotations

import base64
import binascii
import codecs
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass

from pixelguard import css
from pixelguard.htmlscan import Document, Element
from pixelguard.urls import resolve

MAX_NESTING = 3  # a data: stylesheet importing a data: stylesheet...: deeper ones are removed
# Characters left as they are when a data: URL is percent-encoded again: what is safe inside
# a quoted HTML attribute and a quoted CSS url() string and means itself in a URL ("#" would
# start a fragment, "%" an escape).
_SAFE = "/:;,=+-_.!~*@?$[]{}"


@dataclass
class Nested:
    """One nested stylesheet or document of an HTML document."""

    kind: str  # "css" | "html"
    text: str  # decoded content
    where: str  # where it sits ("link[href] data:", "iframe[srcdoc]")
    start: int  # span of the source text that carries it (an attribute value, a url() token)
    end: int
    rewrap: Callable[[str], str]  # cleaned content -> the source text to put at start:end


@dataclass(frozen=True)
class DataUrl:
    mediatype: str  # lower-case, without parameters
    params: str  # ";charset=..." as written
    is_base64: bool
    text: str

    def encode(self, text: str) -> str:
        """A data: URL of the same type and encoding carrying `text`."""
        charset = _charset(self.params)
        data = text.encode(charset, "surrogateescape")
        head = f"data:{self.mediatype}{self.params}"
        if self.is_base64:
            return f"{head};base64,{base64.b64encode(data).decode('ascii')}"
        return f"{head},{urllib.parse.quote_from_bytes(data, safe=_SAFE)}"


def _charset(params: str) -> str:
    for p in params.split(";"):
        key, _, value = p.partition("=")
        if key.strip().lower() == "charset" and value.strip():
            try:
                return codecs.lookup(value.strip().strip('"')).name
            except LookupError:
                break
    return "utf-8"


def parse_data_url(url: str) -> DataUrl | None:
    """A data: URL's media type and decoded text (None when it is not one, or not text)."""
    url = url.strip()
    if url[:5].lower() != "data:":
        return None
    head, comma, body = url[5:].partition(",")
    if not comma:
        return None
    parts = head.split(";")
    mediatype = parts[0].strip().lower() or "text/plain"
    is_base64 = len(parts) > 1 and parts[-1].strip().lower() == "base64"
    params = "".join(";" + p for p in (parts[1:-1] if is_base64 else parts[1:]))
    try:
        data = (base64.b64decode(urllib.parse.unquote_to_bytes(body).translate(
                    None, b" \t\r\n\f"), validate=False) if is_base64
                else urllib.parse.unquote_to_bytes(body))
        text = data.decode(_charset(params), "surrogateescape")
    except (binascii.Error, ValueError, LookupError):
        return None
    return DataUrl(mediatype, params, is_base64, text)


def _attr_rewrap(quote: str) -> Callable[[str], str]:
    """Escape a new attribute value for the quotes it sits in; an unquoted value is written
    back in double quotes (the span replaced is the value alone)."""
    def wrap(value: str) -> str:
        value = value.replace("&", "&amp;")
        if quote == "'":
            return value.replace("'", "&#39;")
        value = value.replace('"', "&quot;")
        return value if quote else f'"{value}"'
    return wrap


def _quote_of(doc: Document, el: Element, name: str) -> str:
    a = el.attr(name)
    assert a is not None
    before = doc.text[a.vstart - 1] if a.vstart > 0 else ""
    return before if before in ("'", '"') and a.vend < a.end else ""


def find_nested(doc: Document, sheets: list[tuple[object, css.StyleSheet]],
                keep: frozenset[str]) -> list[Nested]:
    """Every data: stylesheet (<link rel=stylesheet>, @import) of the document, and, where the
    policy keeps iframes, every srcdoc or data: document they hold."""
    out: list[Nested] = []
    for el in doc.elements:
        if el.tag == "link" and "data:" in el.low and "stylesheet" in el.get("rel").lower():
            _data_attr(doc, el, "href", "css", out)
        elif el.tag in ("iframe", "frame") and "iframes" in keep:
            a = el.attr("srcdoc") if el.tag == "iframe" else None
            if a is not None:
                wrap = _attr_rewrap(_quote_of(doc, el, "srcdoc"))
                out.append(Nested("html", a.value, f"{el.tag}[srcdoc]", a.vstart, a.vend,
                                  wrap))
            elif "data:" in el.low:
                _data_attr(doc, el, "src", "html", out)
    for block, sheet in sheets:
        for ref in sheet.refs:
            if ref.context != "@import" or ref.url.strip()[:5].lower() != "data:":
                continue
            data = parse_data_url(ref.url)
            if data is None or data.mediatype != "text/css":
                continue
            out.append(Nested(
                "css", data.text, "style@import data:", block.start + ref.start,
                block.start + ref.end, lambda text, d=data: f'url("{d.encode(text)}")'))
    return out


def _data_attr(doc: Document, el: Element, name: str, kind: str, out: list[Nested]) -> None:
    a = el.attr(name)
    if a is None:
        return
    data = parse_data_url(a.value)
    want = "text/css" if kind == "css" else "text/html"
    if data is None or data.mediatype != want or resolve(a.value) is not None:
        return
    wrap = _attr_rewrap(_quote_of(doc, el, name))
    out.append(Nested(kind, data.text, f"{el.tag}[{name}] data:", a.vstart, a.vend,
                      lambda text, d=data: wrap(d.encode(text))))


def style_document(css_text: str) -> str | None:
    """The stylesheet as a document the scanner reads as one <style> block (None when the
    CSS would end that block early)."""
    if "</style" in css_text.lower():
        return None
    return f"<style>{css_text}</style>"


def unwrap_style(document: str) -> str:
    return document[len("<style>") : -len("</style>")]

