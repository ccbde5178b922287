"""Is an element tiny, hidden, or hidden-but-revealable? CSS semantics for mail HTML.

Hidden means "hidden by its own inline style, an ancestor's, or a top-level stylesheet rule".
Responsive mail hides mobile-only content inline and reveals it from a media query, so a hidden
element is only *never shown* when no stylesheet rule can reveal it (or its hiding ancestor).
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pixelguard.budget import Deadline
from pixelguard.css import Declaration, StyleSheet, parse_inline
from pixelguard.htmlscan import Document, Element, contains_any

if TYPE_CHECKING:
    from pixelguard.cache import Memory

_LENGTH = re.compile(r"([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))\s*(px|pt|em|rem|ex|ch|cm|mm|in|pc|q)?")
_UNIT_PX = {"px": 1.0, "pt": 4 / 3, "em": 16.0, "rem": 16.0, "ex": 8.0, "ch": 8.0,
            "cm": 37.8, "mm": 3.78, "in": 96.0, "pc": 16.0, "q": 0.945}
LARGE = float("inf")  # a relative size (%, vw, auto-fill): treated as "not tiny"
TINY_MAX = 3.0  # both sides at most this many px: a pixel, not a picture
OFFSCREEN_PX = -500.0

_REVEAL_PROPS = ("display", "visibility", "opacity", "max-height", "height", "max-width",
                 "width", "overflow", "position", "left", "top")


def length_px(value: str) -> float | None:
    """Pixels for an HTML/CSS length; LARGE for relative ones; None when absent/auto."""
    v = value.strip().lower()
    if len(v) > 32:  # no real length is this long; don't feed hostile text to the regex
        return LARGE if v.endswith("%") else None
    if not v or v in ("auto", "initial", "inherit", "unset", "none", "fit-content"):
        return None
    m = _LENGTH.fullmatch(v)
    if m:
        return float(m.group(1)) * _UNIT_PX[m.group(2) or "px"]
    if v.endswith(("%", "vw", "vh", "vmin", "vmax")) or "calc(" in v:
        return LARGE
    return None


def _last(decls: Sequence[Declaration], name: str) -> Declaration | None:
    """The declaration that wins for `name` (!important beats later normal ones)."""
    win = None
    for d in decls:
        if d.name == name and (win is None or d.important or not win.important):
            win = d
    return win


def box(el: Element, decls: Sequence[Declaration]) -> tuple[float | None, float | None]:
    """Upper bounds (px) of the rendered width and height; None when not stated."""
    out: list[float | None] = []
    for side in ("width", "height"):
        size = None
        d = _last(decls, side)
        if d is not None:
            size = length_px(d.value)
        if size is None:
            size = length_px(el.get(side))
        cap = _last(decls, "max-" + side)
        if cap is not None:
            limit = length_px(cap.value)
            if limit is not None and (size is None or limit < size):
                size = limit
        out.append(size)
    return out[0], out[1]


def inline_decls(el: Element, kept: Memory | None = None) -> tuple[Declaration, ...]:
    """The element's inline (style=) declarations (`kept`: see css.parse_inline)."""
    style = el.attr("style")
    return (parse_inline(style.value, kept)[0] if style is not None and style.value.strip()
            else ())


def tag_box(el: Element, kept: Memory | None = None) -> tuple[float | None, float | None]:
    """box() by the element's own attributes and inline style."""
    return box(el, inline_decls(el, kept))


def tiny_reason(w: float | None, h: float | None) -> str | None:
    """Why a box of this size cannot show a picture, or None."""
    if w is not None and w <= 0 or h is not None and h <= 0:
        return f"zero-sized ({_fmt(w)}x{_fmt(h)})"
    if w is not None and h is not None and w <= TINY_MAX and h <= TINY_MAX:
        return f"{_fmt(w)}x{_fmt(h)} px"
    if (w is not None and w <= 1 and h is None) or (h is not None and h <= 1 and w is None):
        return f"{_fmt(w)}x{_fmt(h)} px"
    return None


def _fmt(v: float | None) -> str:
    if v is None:
        return "?"
    if v == LARGE:
        return "%"
    return str(int(v)) if v == int(v) else f"{v:g}"


@dataclass(frozen=True)
class Hiding:
    reason: str  # "display:none"
    props: tuple[str, ...]  # properties a stylesheet rule must set to undo it
    important: bool  # hidden with !important inline: no stylesheet rule can undo it


_StyleFacts = tuple[tuple[Declaration, ...], Hiding | None, bool]
_NO_STYLE: _StyleFacts = ((), None, False)


# Every way _declarations_hiding finds an inline style hides an element starts from one of
# these properties (display also decides whether the hidden attribute and stylesheet rules
# apply).
HIDING_PROPERTIES = ("display", "visibility", "opacity", "overflow", "position")
# A style can hide only by naming one of them; CSS escapes and HTML entities could spell
# them, so their marks count too (this runs for every element on the way to each resource).
_may_hide_inline = contains_any(HIDING_PROPERTIES + ("\\", "&"))


def _style_facts(text: str, kept: Memory | None = None) -> _StyleFacts:
    """A style attribute's declarations, how they hide an element (or None), and whether they
    set display."""
    decls = parse_inline(text, kept)[0]
    return decls, _declarations_hiding(decls), _last(decls, "display") is not None


def _declarations_hiding(decls: Sequence[Declaration]) -> Hiding | None:
    d = _last(decls, "display")
    if d is not None and d.value == "none":
        return Hiding("display:none", ("display",), d.important)
    d = _last(decls, "visibility")
    if d is not None and d.value in ("hidden", "collapse"):
        return Hiding("visibility:hidden", ("visibility",), d.important)
    d = _last(decls, "opacity")
    if d is not None:
        try:
            if float(d.value.rstrip("%")) <= 0.01:
                return Hiding("opacity:0", ("opacity",), d.important)
        except ValueError:
            pass
    overflow = _last(decls, "overflow")
    if overflow is not None and overflow.value in ("hidden", "clip"):
        for prop in ("max-height", "height", "max-width", "width"):
            d = _last(decls, prop)
            if d is not None and length_px(d.value) == 0:
                return Hiding(f"{prop}:0 with overflow:hidden", (prop, "overflow"), d.important)
    pos = _last(decls, "position")
    if pos is not None and pos.value in ("absolute", "fixed"):
        for prop in ("left", "top"):
            d = _last(decls, prop)
            if d is not None:
                v = length_px(d.value)
                if v is not None and v != LARGE and v <= OFFSCREEN_PX:
                    return Hiding(f"off-screen ({prop}:{d.value})", ("position", prop), d.important)
    return None


@dataclass(frozen=True)
class _Compound:
    tag: str | None
    id: str | None
    classes: frozenset[str]
    exact: bool  # no parts we cannot evaluate (attribute selectors, pseudo-classes)


_COMPOUND_PART = re.compile(r"([.#]?)(-?[_a-zA-Z0-9\\-]+|\*)|(\[[^\]]*\]|::?[a-zA-Z-]+(\([^)]*\))?)")


def _last_compound(selector: str) -> _Compound:
    s = selector.strip()
    for comb in (">", "+", "~"):
        s = s.replace(comb, " ")
    last = s.split()[-1] if s.split() else ""
    tag = ident = None
    classes: set[str] = set()
    exact = True
    pos = 0
    while pos < len(last):
        m = _COMPOUND_PART.match(last, pos)
        if not m or m.end() == pos:
            exact = False
            break
        if m.group(3):
            exact = False
        else:
            kind, name = m.group(1), m.group(2).lower()
            if kind == ".":
                classes.add(name)
            elif kind == "#":
                ident = name
            elif name != "*":
                tag = name
        pos = m.end()
    return _Compound(tag, ident, frozenset(classes), exact)


def last_compound(selector: str) -> _Compound:
    """The compound selector an element itself must match (the last one of `selector`)."""
    return _last_compound(selector)


def matches(c: _Compound, el: Element) -> bool:
    """Does the element match the compound (tag, id and classes)?"""
    return _matches(c, el)


def compound_index(items: list) -> _Index:
    """(compound, value) pairs filed for quick lookup by element (see _Index)."""
    return _Index(items, {})


def _matches(c: _Compound, el: Element) -> bool:
    if c.tag is not None and c.tag != el.tag:
        return False
    if c.id is not None and c.id != el.get("id").lower():
        return False
    return c.classes <= el.classes


class _Index:
    """Compounds filed under the most selective thing they name (an id, else a class, else a
    tag), so an element only meets the rules that could match it: linear in practice even
    with thousands of stylesheet rules."""

    def __init__(self, items: list, class_counts: dict[str, int]) -> None:
        self.by_id: dict[str, list] = {}
        self.by_class: dict[str, list] = {}
        self.by_tag: dict[str, list] = {}
        self.generic: list = []
        for comp, value in items:
            if comp.id:
                self.by_id.setdefault(comp.id, []).append((comp, value))
            elif comp.classes:
                # under its rarest class in this document: an element meets the rule only
                # if it has that class, and few elements do
                rarest = min(sorted(comp.classes), key=lambda c: class_counts.get(c, 0))
                self.by_class.setdefault(rarest, []).append((comp, value))
            elif comp.tag:
                self.by_tag.setdefault(comp.tag, []).append((comp, value))
            else:
                self.generic.append((comp, value))
        # Rules naming nothing (`*`, `[x]`) match every element: a few of them are checked
        # as they are; a hostile flood of them is cut to a bounded number.
        del self.generic[64:]

    def __bool__(self) -> bool:
        return bool(self.by_id or self.by_class or self.by_tag or self.generic)

    def candidates(self, el: Element):
        # (an element's id and classes are read only when some rule is filed under one)
        if self.by_id:
            ident = el.get("id").lower()
            if ident and ident in self.by_id:
                yield from self.by_id[ident]
        if self.by_class:
            for cls in el.classes:
                yield from self.by_class.get(cls, ())
        yield from self.by_tag.get(el.tag, ())
        yield from self.generic


@dataclass(frozen=True)
class _Reveal:
    compound: _Compound
    props: frozenset[str]  # properties this rule sets to a showing value
    important: bool


def _sheet_cost(sheet: StyleSheet) -> int:
    """About the characters a parsed stylesheet holds, without walking its text: twice its
    text's, and 64 for each rule, declaration and ref (a sheet packed with short declarations,
    `a{b:c;b:c;...}`, holds an object for every four characters of text)."""
    declarations = sum(len(rule.declarations) for rule in sheet.rules)
    return 64 + 2 * sheet.chars + 64 * (len(sheet.rules) + declarations + len(sheet.refs))


def _sheet_facts(sheet: StyleSheet, kept: Memory | None) -> tuple[
        list[tuple[_Compound, _Reveal]], list[tuple[_Compound, Hiding]]]:
    """What one stylesheet's rules can reveal and hide, by selector (`kept`:
    cache.Cache.sheet_facts; mail from one template brings the same <style> blocks)."""
    if kept is not None:
        found = kept.get(sheet)
        if found is None:
            found = _sheet_facts(sheet, None)
            # (at the cost of the whole parsed sheet, which the key keeps alive: a huge
            # one is never kept)
            kept.put(sheet, found, _sheet_cost(sheet))
        return found  # type: ignore[return-value]
    reveal: list[tuple[_Compound, _Reveal]] = []
    hide: list[tuple[_Compound, Hiding]] = []
    for rule in sheet.rules:
        shows = frozenset(d.name for d in rule.declarations
                          if d.name in _REVEAL_PROPS and not _hides_value(d.name, d.value))
        important = any(d.important for d in rule.declarations if d.name in shows)
        disp = _last(rule.declarations, "display")
        for sel in rule.selector.split(","):
            if not sel.strip():
                continue
            comp = _last_compound(sel)
            if shows:
                reveal.append((comp, _Reveal(comp, shows, important)))
            if not rule.media and comp.exact and (comp.classes or comp.id) \
                    and disp is not None and disp.value == "none":
                hide.append((comp, Hiding(f"display:none from stylesheet rule '{sel.strip()}'",
                                          ("display",), False)))
    return reveal, hide


class Visibility:
    """Per-document hide/reveal facts, computed once per element, only for the elements
    asked about and their ancestors (linear)."""

    def __init__(self, doc: Document, sheets: list[StyleSheet | tuple[StyleSheet, bool]],
                 deadline: Deadline | None = None):
        """`sheets`: each stylesheet, or (stylesheet, read by Outlook only): a <style> inside
        an `<!--[if mso]>` comment hides only the markup that Outlook alone reads, since every
        other client sees no such rule."""
        self.doc = doc
        cache = doc.cache
        self._kept = cache.styles if cache is not None else None
        self._facts_kept = cache.style_facts if cache is not None else None
        facts_kept = cache.sheet_facts if cache is not None else None
        self._styles: dict[int, _StyleFacts] = {}  # element index -> its style= facts
        self._reveal_items: list[tuple[_Compound, _Reveal]] = []
        self._hide_items: list[tuple[_Compound, Hiding]] = []
        self._mso_hide_items: list[tuple[_Compound, Hiding]] = []
        for item in sheets:
            sheet, mso_only = item if isinstance(item, tuple) else (item, False)
            reveal, hide = _sheet_facts(sheet, facts_kept)
            self._reveal_items += reveal
            if mso_only:
                self._mso_hide_items += hide
            else:
                self._hide_items += hide
        # built on first use: most parts never need the reveal index (nothing hidden)
        self._indexes: dict[int, _Index] = {}  # id(items list) -> its index
        self._counts: dict[str, int] | None = None
        self._deadline = deadline
        # state per element, computed on first need (for an element and its ancestors):
        # None = shown, ("never", reason) or ("revealable", reason)
        self._state: dict[int, tuple[str, str] | None] = {}

    def _class_counts(self, items: list) -> dict[str, int]:
        """How many elements carry each class: only needed to pick the rarest class of a
        compound that names several (counted once per document, and only then)."""
        if not any(len(comp.classes) > 1 for comp, _ in items):
            return {}
        if self._counts is None:
            counts: dict[str, int] = {}
            for el in self.doc.elements:
                for c in el.classes:
                    counts[c] = counts.get(c, 0) + 1
            self._counts = counts
        return self._counts

    def _index(self, items: list) -> _Index:
        """The index of one of this document's lists of rules (reveal, hide, Outlook-only
        hide), built on first use."""
        found = self._indexes.get(id(items))
        if found is None:
            found = self._indexes[id(items)] = _Index(items, self._class_counts(items))
        return found

    def _style(self, el: Element) -> _StyleFacts:
        facts = self._styles.get(el.index)
        if facts is None:
            facts = _NO_STYLE
            low = el.low
            if "style" in low and _may_hide_inline(low):
                style = el.attr("style")
                if style is not None and style.value.strip():
                    facts = self._style_facts(style.value)
            self._styles[el.index] = facts
        return facts

    def _style_facts(self, text: str) -> _StyleFacts:
        kept = self._facts_kept
        if kept is None:
            return _style_facts(text)
        found = kept.get(text)
        if found is None:
            found = _style_facts(text, self._kept)
            kept.put(text, found, len(text))
        return found  # type: ignore[return-value]

    def _own_hiding(self, el: Element) -> Hiding | None:
        _decls, found, has_display = self._style(el)
        if found is None and not has_display and "hidden" in el.low \
                and el.attr("hidden") is not None:
            found = Hiding("hidden attribute", ("display",), False)
        if found is None and not has_display and self._hide_items:
            # (an inline display beats the sheet; the index is built on first use)
            for comp, how in self._index(self._hide_items).candidates(el):
                if _matches(comp, el):
                    return how
        if found is None and not has_display and el.in_mso and self._mso_hide_items:
            for comp, how in self._index(self._mso_hide_items).candidates(el):
                if _matches(comp, el):
                    return how
        return found

    def _revealable(self, el: Element, how: Hiding) -> bool:
        if how.important:
            return False  # inline !important beats every stylesheet rule
        inline = not how.reason.startswith("display:none from") and how.reason != "hidden attribute"
        for _, r in self._index(self._reveal_items).candidates(el):
            if inline and not r.important:
                continue  # inline style beats a normal stylesheet declaration
            if r.props.intersection(how.props) and _matches(r.compound, el):
                return True
        return False

    def _compute(self, el: Element) -> tuple[str, str] | None:
        inherited = self._state[el.parent] if el.parent >= 0 else None  # computed first
        if inherited is not None and inherited[0] == "never":
            return inherited
        how = self._own_hiding(el)
        if how is None:
            return inherited
        if self._revealable(el, how):
            return inherited or ("revealable", f"{how.reason} on <{el.tag}>, undone by a stylesheet rule")
        return ("never", f"{how.reason} on <{el.tag}>")

    def state(self, el: Element | None) -> tuple[str, str] | None:
        """None (shown), ("never", reason) or ("revealable", reason)."""
        if el is None:
            return None
        state = self._state
        if el.index in state:
            return state[el.index]
        elements = self.doc.elements
        chain = []  # el and its ancestors up to the first one already known
        index = el.index
        while index >= 0 and index not in state:
            chain.append(elements[index])
            index = elements[index].parent
        for e in reversed(chain):
            if self._deadline is not None and len(state) % 256 == 255:
                self._deadline.check()  # every 256 elements computed in this document
            state[e.index] = self._compute(e)
        return state[el.index]


def _hides_value(prop: str, value: str) -> bool:
    """A value of one of _REVEAL_PROPS that hides rather than shows."""
    if prop == "display":
        return value == "none"
    if prop == "visibility":
        return value in ("hidden", "collapse")
    if prop == "opacity":
        return value in ("0", "0.0", "0%")
    if prop in ("max-height", "height", "max-width", "width"):
        return length_px(value) == 0
    return prop == "overflow" and value in ("hidden", "clip")
