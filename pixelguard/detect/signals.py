"""Signals: the facts about one remote resource that rules read. Each is a small function of
the resource and its document, declared in SIGNALS, computed when a rule first reads it and
then shared by every later rule (a rule declares the signals it reads: detect.rules)."""
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple

from pixelguard import css
from pixelguard.detect.generated import hidden_reason
from pixelguard.detect.leak import Forms, find_leak
from pixelguard.detect.shape import url_facts
from pixelguard.detect.vectors import Kind, Resource
from pixelguard.detect.visibility import Visibility, tag_box, tiny_reason
from pixelguard.htmlscan import Element
from pixelguard.model import Policy
from pixelguard.trackers import TrackerList, TrackerMatch

if TYPE_CHECKING:
    from pixelguard.cache import Cache

SPACER_REPEATS = 3  # the same token-less tiny URL this often in one part: a layout spacer
SIZED = (Kind.IMAGE, Kind.BACKGROUND, Kind.MEDIA)  # kinds whose element's box shows the load


class UrlFacts(NamedTuple):
    """What the URL says to this policy and tracker list (the same for every element of the
    document that loads it), worked out once per document."""

    host: str
    known: TrackerMatch | None
    shape: str | None
    token: bool
    query_token: bool
    leak: str | None
    host_verdict: str | None
    spacer_name: bool
    over_limit: str | None


def _url_facts(url: str, policy: Policy, trackers: TrackerList,
               leaks: tuple[Forms, ...], cache: Cache | None) -> UrlFacts:
    if cache is None:
        own = url_facts(url)
        known = trackers.match(url) if own.over_limit is None else None
    else:
        key = (trackers, url)
        found = cache.urls.get(key)
        if found is None:
            own = url_facts(url)
            found = own, (trackers.match(url) if own.over_limit is None else None)
            cache.urls.put(key, found, 2 * len(url))  # (its host, shape and match are shorter)
        own, known = found  # type: ignore[misc]
    if own.over_limit is not None:  # judged by its length alone: nothing else reads it
        return UrlFacts("", None, None, False, False, None, None, False, own.over_limit)
    return UrlFacts(
        host=own.host, known=known, shape=own.shape, token=own.token,  # type: ignore[arg-type]
        query_token=own.query_token, leak=find_leak(url, leaks),
        host_verdict=policy.host_verdict(own.host), spacer_name=own.spacer_name,
        over_limit=None,
    )


class Shared(NamedTuple):
    """What every resource of one document shares: its visibility, the policy, the tracker
    list, and facts worked out once per document (the recipients' address forms, boxes by
    element, facts by URL)."""

    vis: Visibility
    policy: Policy
    trackers: TrackerList
    elements: list[Element]
    repeats: dict[str, int]  # how often each URL is loaded in the document
    generated: dict[int, list[Element]]  # id(Resource) -> elements showing generated content
    leaks: tuple[Forms, ...]  # leak.recipients_forms(policy.recipients)
    cache: Cache | None  # what may be kept between messages
    boxes: dict[int, tuple[float | None, float | None]]
    urls: dict[str, UrlFacts]


class Signals:
    """The facts about one resource. Each attribute named in SIGNALS is computed on first
    read (see that table for what each means); the URL's facts, which every resource's rules
    read first, are set when it is made, and so are the signals that cost less to work out
    than a first read costs (`shown`, `print_or_forward`, `kept`)."""

    def __init__(self, res: Resource, doc: Shared) -> None:
        self.res = res
        self.doc = doc
        _facts(self)
        own = self.__dict__
        own["shown"] = _shown(self)
        own["print_or_forward"] = _print_or_forward(self)
        own["kept"] = doc.policy.keep


class _Lazy:
    """A signal as an attribute of Signals: computed on first read and then kept in the
    instance (whose attribute is found before this class attribute on every later read)."""

    __slots__ = ("compute", "name")

    def __init__(self, name: str, compute: Callable[[Signals], object]) -> None:
        self.name = name
        self.compute = compute

    def __get__(self, s: Signals | None, owner: type | None = None) -> object:
        if s is None:
            return self
        value = s.__dict__[self.name] = self.compute(s)
        return value


# --- the signals ------------------------------------------------------------------------------

def _facts(s: Signals) -> UrlFacts:
    urls = s.doc.urls
    url = s.res.url
    found = urls.get(url)
    if found is None:
        found = urls[url] = _url_facts(url, s.doc.policy, s.doc.trackers, s.doc.leaks,
                                       s.doc.cache)
    # the signals that are its fields, set at once (each would cost a call here)
    own = s.__dict__
    own["facts"] = found
    own["host"] = found.host
    own["known"] = found.known
    own["shape"] = found.shape
    own["token"] = found.token
    own["query_token"] = found.query_token
    own["leak"] = found.leak
    own["host_verdict"] = found.host_verdict
    own["over_limit"] = s.res.over_limit or found.over_limit
    return found


# VML elements that paint into the shape around them (its size is theirs).
_VML_FILLS = frozenset(("v:fill", "v:imagedata", "v:stroke", "v:textbox"))
_CONTEXT_STEPS = 64  # how far to look for the element that shows a resource


def _stand_in(elements: list[Element], el: Element) -> Element | None:
    """The element that decides the size and hiding of what `el` loads, when it is not `el`:
    a <picture>'s <img> for its <source>s (the engine shows the chosen source in the img)."""
    if el.tag == "source" and el.parent >= 0 and elements[el.parent].tag == "picture":
        for other in elements[el.index + 1 : el.index + 1 + _CONTEXT_STEPS]:
            if other.parent == el.parent and other.tag == "img":
                return other
    return None


def _viewport(elements: list[Element], el: Element) -> Element | None:
    """The element whose box bounds what `el` paints: the nearest <svg> around an SVG
    element, the VML shape around a fill or image."""
    if el.ns == "svg":
        index = el.parent
        for _ in range(_CONTEXT_STEPS):
            if index < 0:
                return None
            up = elements[index]
            if up.tag == "svg":
                return up
            index = up.parent
    elif el.tag in _VML_FILLS and el.parent >= 0:
        return elements[el.parent]
    return None


def _tag_box(el: Element, cache: Cache | None) -> tuple[float | None, float | None]:
    """visibility.tag_box, kept by the tag's text (the same text always gives the same box)."""
    if cache is None:
        return tag_box(el)
    found = cache.boxes.get(el.text)
    if found is None:
        found = tag_box(el, cache.styles)
        cache.boxes.put(el.text, found, len(el.text))
    return found  # type: ignore[return-value]


def _element_box(elements: list[Element], el: Element,
                 cache: Cache | None) -> tuple[float | None, float | None]:
    """The element's box, or its viewport's when that is too small to show anything."""
    w, h = _tag_box(el, cache)
    around = _viewport(elements, el)
    if around is not None and tiny_reason(w, h) is None:
        aw, ah = _tag_box(around, cache)
        if tiny_reason(aw, ah) is not None:
            return aw, ah
    return w, h


def _shown(s: Signals) -> Element | None:
    """The element whose box shows the load (None when no box decides it)."""
    el = s.res.element
    if el is None or s.res.kind not in SIZED:
        return None
    return _stand_in(s.doc.elements, el) or el


def _box(s: Signals) -> tuple[float | None, float | None] | None:
    shown = s.shown
    if shown is None:
        return None
    boxes = s.doc.boxes
    if shown.index not in boxes:
        boxes[shown.index] = _element_box(s.doc.elements, shown, s.doc.cache)
    return boxes[shown.index]


def _tiny(s: Signals) -> str | None:
    box = _box(s)  # (not s.box: _box keeps each element's box, and a first read costs more)
    return None if box is None else tiny_reason(*box)


def _unsized(s: Signals) -> bool:
    box = s.box
    return box is not None and s.res.kind == Kind.IMAGE and box[0] is None and box[1] is None


def _hidden(s: Signals) -> tuple[str, str] | None:
    el = s.res.element
    vis = s.doc.vis
    shown = s.shown
    if shown is not None:
        return vis.state(el) or (vis.state(shown) if shown is not el else None)
    generated_in = s.doc.generated.get(id(s.res))
    if el is None and generated_in is not None:
        return hidden_reason(generated_in, vis)
    return vis.state(el)


def _spacer(s: Signals) -> bool:
    facts = s.facts
    return (facts.known is None and facts.leak is None and not facts.token
            and (s.doc.repeats[s.res.url] >= SPACER_REPEATS or facts.spacer_name))


def _print_or_forward(s: Signals) -> str | None:
    ref = s.res.css_ref
    if ref is None or s.res.element is not None:
        return None
    if css.is_print_media(ref.media):
        return "when the mail is printed"
    if css.is_forward_detection_selector(ref.selector):
        return "when the mail is forwarded or replied to"
    return None


# name -> how it is computed. The names rules may read (and declare in `needs`):
SIGNALS: dict[str, Callable[[Signals], object]] = {
    "facts": _facts,  # UrlFacts of the URL (the signals below read them)
    "host": lambda s: s.facts.host,
    # shipped or user list entry that matches the URL
    "known": lambda s: s.facts.known,
    "shape": lambda s: s.facts.shape,  # generic open-tracking URL shape
    "token": lambda s: s.facts.token,  # an opaque per-message/per-recipient token in the URL
    "query_token": lambda s: s.facts.query_token,  # such a token in the query string
    "leak": lambda s: s.facts.leak,  # how the URL carries the recipient's address
    "host_verdict": lambda s: s.facts.host_verdict,  # "allow" | "deny" | None (user's lists)
    # why the URL (or the resource) is past a limit (urls.over_limit), or None
    "over_limit": lambda s: s.res.over_limit or s.facts.over_limit,
    "shown": _shown,  # the element whose box shows the load
    "box": _box,  # its (width, height) upper bounds in px, or None
    "tiny": _tiny,  # why it is too small to show anything ("1x1 px"), or None
    "unsized": _unsized,  # an image with no stated width or height anywhere
    # ("never"|"revealable", reason) for it or an ancestor, or None
    "hidden": _hidden,
    "spacer": _spacer,  # repeated, token-less or spacer-named: a layout spacer
    "print_or_forward": _print_or_forward,  # CSS that applies only when printed or forwarded
    "kept": lambda s: s.doc.policy.keep,  # families of needless elements the policy keeps
}
for _name, _compute in SIGNALS.items():
    setattr(Signals, _name, _Lazy(_name, _compute))
