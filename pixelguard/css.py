"""CSS reading with tinycss2: where a stylesheet or a style attribute loads remote resources,
and which declarations hide, size or reveal an element.

Every position returned is a character offset into the CSS text exactly as given, so callers
can splice the original source. tinycss2 reports (line, column) on its newline-normalised
copy; `_Positions` maps those back.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import tinycss2
from tinycss2 import ast

if TYPE_CHECKING:
    from pixelguard.cache import Memory


# Functions whose bare string arguments are URLs too (image-set("a.png" 1x)).
_IMAGE_SET = ("image-set", "-webkit-image-set")
# Every CSS function a URL is found in (detect.vectors declares them for its prefilters).
LOADING_FUNCTIONS = ("url",) + _IMAGE_SET
_FORWARD_SELECTORS = (
    "outlookmessageheader", "gmail_quote", "moz-cite-prefix", "wordsection1",
    "divrplyfwdmsg", "yahoo_quoted", "applemailsignature", "ms-outlook",
)


@dataclass(frozen=True)
class CssRef:
    """One remote-capable reference inside CSS."""

    url: str  # the URL as written (CSS escapes already decoded by tinycss2)
    start: int  # span of the whole url(...) / string token in the CSS text
    end: int
    context: str  # "declaration", "@import", "@font-face"
    prop: str  # property name ("background-image"), or "" for @import
    selector: str  # selector text of the enclosing rule ("" for inline styles)
    media: tuple[str, ...] = ()  # enclosing @media / @supports preludes, lower-cased


@dataclass(frozen=True)
class Declaration:
    name: str  # lower-case property name
    value: str  # serialized value, lower-case, without !important
    important: bool


@dataclass
class StyleRule:
    selector: str  # lower-case selector text
    declarations: list[Declaration]
    media: tuple[str, ...]


@dataclass(eq=False)  # (one parsed text: kept and looked up by identity, cache.Cache.sheet_facts)
class StyleSheet:
    refs: list[CssRef] = field(default_factory=list)
    rules: list[StyleRule] = field(default_factory=list)
    chars: int = 0  # the length of the text it was read from


_NEWLINE = re.compile(r"\r\n|[\r\n\f]")


class _Positions:
    """Maps tinycss2 (line, column) to offsets in the original text (CRLF, CR, FF = newline)."""

    def __init__(self, text: str) -> None:
        self.starts = [0] + [m.end() for m in _NEWLINE.finditer(text)]

    def offset(self, node: ast.Node) -> int:
        line = min(max(node.source_line, 1), len(self.starts))
        return self.starts[line - 1] + node.source_column - 1


def _token_end(text: str, start: int) -> int:
    """End offset of the url(...) function/token or string starting at `start`."""
    n = len(text)
    i = start
    if text[i : i + 1] in ("'", '"'):
        return _string_end(text, i)
    # url( ... ) or image-set-like: skip to the matching ')' honouring strings and escapes.
    i = text.find("(", i)
    return n if i < 0 else _scan_to(text, i + 1, ")", strings=True)


def _string_end(text: str, i: int) -> int:
    return _scan_to(text, i + 1, text[i] + "\n", strings=False)


def _scan_to(text: str, i: int, stops: str, strings: bool) -> int:
    """Offset just past the first of `stops` from i, skipping backslash escapes and, when
    `strings`, quoted strings."""
    n = len(text)
    while i < n:
        c = text[i]
        if c == "\\":
            i += 2
        elif strings and c in ("'", '"'):
            i = _string_end(text, i)
        elif c in stops:
            return i + 1
        else:
            i += 1
    return n


def _walk_values(tokens, pos: _Positions, text: str, out: list[tuple[str, int, int]]) -> None:
    """Collect (url, start, end) for url() tokens and image-set strings in a value."""
    for tok in tokens:
        if tok.type == "url":
            start = pos.offset(tok)
            out.append((tok.value, start, _token_end(text, start)))
        elif tok.type == "function":
            name = tok.lower_name
            if name == "url":
                strings = [a for a in tok.arguments if a.type == "string"]
                if strings:
                    start = pos.offset(tok)
                    out.append((strings[0].value, start, _token_end(text, start)))
                continue
            if name in _IMAGE_SET:
                for a in tok.arguments:
                    if a.type == "string":
                        start = pos.offset(a)
                        out.append((a.value, start, _string_end(text, start)))
            _walk_values(tok.arguments, pos, text, out)
        elif tok.type in ("() block", "[] block", "{} block"):
            _walk_values(tok.content, pos, text, out)


def _declarations(nodes) -> list[ast.Declaration]:
    return [n for n in nodes if n.type == "declaration"]


def _decl_value(d: ast.Declaration) -> Declaration:
    value = tinycss2.serialize(d.value).strip().lower()
    return Declaration(d.lower_name, value, d.important)


# What only the tokenizer reads right: a loading function, escapes, comments, strings, blocks.
_NEEDS_TOKENIZER = tuple(f + "(" for f in LOADING_FUNCTIONS) + ("\\", "/*", "'", '"', "{", "}")


# The longest CSS text (a stylesheet, a style attribute) read rule by rule: the CSS parser
# cannot be stopped midway, so this bounds what one text costs past the time budget (about a
# second). A longer <style> block or style attribute is removed whole, unread
# (detect.detect_html, detect.vectors).
MAX_CSS_CHARS = 256 * 1024


def parse_inline(text: str, kept: Memory | None = None) -> tuple[tuple[Declaration, ...],
                                                                  tuple[CssRef, ...]]:
    """Declarations and remote references of a style="" attribute value.

    `kept`: results kept by text (templates repeat the same styles, within a message and
    between messages; the values are immutable): cache.Cache.styles. Styles with nothing a
    tokenizer is needed for (no url(), escapes, comments, strings) take a fast path.
    """
    if kept is None:
        return _parse_inline(text)
    found = kept.get(text)
    if found is None:
        found = _parse_inline(text)
        kept.put(text, found, len(text))
    return found  # type: ignore[return-value]


def _parse_inline(text: str) -> tuple[tuple[Declaration, ...], tuple[CssRef, ...]]:
    if len(text) > MAX_CSS_CHARS:  # (detect.vectors removes such an attribute unread)
        return (), ()
    low = text.lower()
    if not any(marker in low for marker in _NEEDS_TOKENIZER):
        return tuple(_simple_declarations(low)), ()
    try:
        decls, refs = _parse_inline_tokens(text)
    except (ValueError, RecursionError, OverflowError):
        return (), tuple(unparsed_refs(text))
    return tuple(decls), tuple(refs)


def unparsed_refs(text: str) -> list[CssRef]:
    """Every url( in CSS that the parser could not read (hostile: huge numbers, deep
    nesting). Context '@unparsed': the caller fails closed and removes them all."""
    out: list[CssRef] = []
    low = text.lower()
    i = low.find("url(")
    while i >= 0:
        end = _token_end(text, i)
        inner = text[i + 4 : max(i + 4, end - 1)].strip().strip("'\"")
        out.append(CssRef(inner, i, end, "@unparsed", "", ""))
        i = low.find("url(", max(end, i + 4))
    return out


def _simple_declarations(low: str):
    for chunk in low.split(";"):
        name, colon, value = chunk.partition(":")
        name = name.strip()
        if not colon or not name:
            continue
        value = " ".join(value.split())
        important = False
        bang = value.rfind("!")
        if bang >= 0 and value[bang + 1 :].strip() == "important":
            important, value = True, value[:bang].rstrip()
        yield Declaration(name, value, important)


def _parse_inline_tokens(text: str) -> tuple[list[Declaration], list[CssRef]]:
    pos = _Positions(text)
    nodes = tinycss2.parse_blocks_contents(text, skip_comments=True, skip_whitespace=True)
    decls: list[Declaration] = []
    refs: list[CssRef] = []
    for d in _declarations(nodes):
        decls.append(_decl_value(d))
        found: list[tuple[str, int, int]] = []
        _walk_values(d.value, pos, text, found)
        refs.extend(CssRef(u, s, e, "declaration", d.lower_name, "") for u, s, e in found)
    return decls, refs


def parse_stylesheet(text: str, kept: Memory | None = None) -> StyleSheet:
    """Rules (for hide/reveal reasoning) and remote references of a <style> block.

    `kept`: results kept by text (cache.Cache.sheets; mail from one template repeats its
    <style> blocks). Callers must not modify the result."""
    if kept is None:
        return _parse_stylesheet(text)
    found = kept.get(text)
    if found is None:
        found = _parse_stylesheet(text)
        kept.put(text, found, len(text))
    return found  # type: ignore[return-value]


def _parse_stylesheet(text: str) -> StyleSheet:
    if len(text) > MAX_CSS_CHARS:  # (detect_html removes such a <style> block unread)
        return StyleSheet(refs=unparsed_refs(text), chars=len(text))
    pos = _Positions(text)
    sheet = StyleSheet(chars=len(text))
    try:
        nodes = tinycss2.parse_stylesheet(text, skip_comments=True, skip_whitespace=True)
        _walk_rules(nodes, (), pos, text, sheet, depth=0)
    except (ValueError, RecursionError, OverflowError):
        return StyleSheet(refs=unparsed_refs(text), chars=len(text))
    return sheet


def _walk_rules(nodes, media: tuple[str, ...], pos, text, sheet: StyleSheet, depth: int) -> None:
    if depth > 32:  # deeper nesting than any real mail; refuse to recurse further
        return
    for node in nodes:
        if node.type == "qualified-rule":
            selector = tinycss2.serialize(node.prelude).strip().lower()
            body = tinycss2.parse_blocks_contents(node.content, skip_comments=True, skip_whitespace=True)
            decls = _declarations(body)
            sheet.rules.append(StyleRule(selector, [_decl_value(d) for d in decls], media))
            for d in decls:
                found: list[tuple[str, int, int]] = []
                _walk_values(d.value, pos, text, found)
                sheet.refs.extend(
                    CssRef(u, s, e, "declaration", d.lower_name, selector, media) for u, s, e in found
                )
            # CSS nesting: nested qualified rules inside the block.
            nested = [n for n in body if n.type in ("qualified-rule", "at-rule")]
            if nested:
                _walk_rules(nested, media, pos, text, sheet, depth + 1)
        elif node.type == "at-rule":
            kw = node.lower_at_keyword
            prelude = tinycss2.serialize(node.prelude).strip().lower()
            if kw == "import":
                found: list[tuple[str, int, int]] = []
                for tok in node.prelude:
                    if tok.type == "string":
                        start = pos.offset(tok)
                        found.append((tok.value, start, _string_end(text, start)))
                        break
                    if tok.type in ("url", "function"):
                        _walk_values([tok], pos, text, found)
                        break
                sheet.refs.extend(CssRef(u, s, e, "@import", "", "", media) for u, s, e in found)
            elif kw == "font-face" and node.content is not None:
                body = tinycss2.parse_blocks_contents(node.content, skip_comments=True, skip_whitespace=True)
                for d in _declarations(body):
                    found = []
                    _walk_values(d.value, pos, text, found)
                    sheet.refs.extend(
                        CssRef(u, s, e, "@font-face", d.lower_name, "@font-face", media)
                        for u, s, e in found
                    )
            elif node.content is not None:
                # @media, @supports, @document, @layer, @container...: rules inside
                inner = tinycss2.parse_rule_list(node.content, skip_comments=True, skip_whitespace=True)
                _walk_rules(inner, media + (f"@{kw} {prelude}",), pos, text, sheet, depth + 1)


def is_forward_detection_selector(selector: str) -> bool:
    """Selectors that only match once the mail is forwarded/replied (Outlook, Gmail quotes)."""
    s = selector.lower()
    # Outlook.com prefixes the classes of a forwarded mail with "x_".
    return any(marker in s for marker in _FORWARD_SELECTORS) or s.startswith(("div.x_", ".x_"))


def is_print_media(media: tuple[str, ...]) -> bool:
    """Applies only when printed: some enclosing @media list is print-only in every query."""
    for m in media:
        if not m.startswith("@media"):
            continue
        queries = [q.strip() for q in m[len("@media"):].split(",")]
        if queries and all("print" in q and "not print" not in q for q in queries):
            return True
    return False
