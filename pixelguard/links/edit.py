"""The link edits of one HTML document: each `<a href>` and `<area href>` judged once.

For a link that may be changed (http(s), not an unsubscribe or preference link, not in a
quoted reply), in this order:
- unwrap (`unwrap`): a redirector whose destination is in its URL is replaced by that
  destination, again for a redirector inside it (up to MAX_HOPS); security wrappers only
  with `unwrap_security`, and never when the destination is an unsubscribe page;
- strip (`strip_params`): tracking parameters removed from the destination (or the plain
  link); never from a click tracker's or a security wrapper's own URL;
- mark (`mark`): a link that still goes through a redirector or click tracker gets a
  `title` saying who learns of the click, unless it has a title already.

Only the href value's bytes change (re-escaped for HTML), or a title attribute is inserted
after the tag name; an edit that would overlap one of the tracker edits is not made.
"""
from __future__ import annotations

import bisect
import html
from collections.abc import Callable, Iterable
from urllib.parse import SplitResult, urlsplit

from pixelguard import cache as _cache
from pixelguard.budget import LINKS_SHARE, MAX_LINKS_PER_PART, BudgetExceeded, Deadline
from pixelguard.cache import Cache, ListsNotLoaded
from pixelguard.detect.vectors import Edit
from pixelguard.htmlscan import Attr, Document, Element
from pixelguard.links.keep import KeptRegions, unsubscribe_context, unsubscribe_url
from pixelguard.links.rules import LinkListError, LinkRules, Redirector
from pixelguard.links.strip import strip_params
from pixelguard.links.unwrap import MAX_URL, destination, valid_url
from pixelguard.model import LinkChange, LinkOptions

MAX_HOPS = 4  # redirectors inside redirectors unwrapped at most this deep
_TAGS = ("a", "area")
_Step = tuple[str, str, str | None]  # (action, the URL after it, vendor)
# (the new href or None, the unwrap/strip steps, the vendor still told of a click or None)
_Plan = tuple[str | None, list[_Step], str | None]

__all__ = ["MAX_HOPS", "edit_links"]


def edit_links(doc: Document, options: LinkOptions, part: str,
               title_for: Callable[[str], str],
               taken: Iterable[Edit] = (),
               deadline: Deadline | None = None,
               cache: Cache | None = None) -> tuple[list[LinkChange], list[Edit], str | None]:
    """The changes to make to the links of `doc`, the edits that make them, and why some or
    all links were left as sent (None when every link was judged). `title_for` gives the
    title of a link that reports clicks to a vendor; `taken` are the edits already planned
    (a link edit overlapping one is not made); `cache` holds the user's link lists
    (`options.lists`, loaded by the caller; None: the process default).

    The step fails closed for itself only: past its share of the `deadline` (LINKS_SHARE of
    the time left), with a list that cannot be read, or on any error inside it, no link edit
    is made and the reason says so; the tracker edits stand. Links past the first
    MAX_LINKS_PER_PART of the document stay as sent."""
    own = deadline.share(LINKS_SHARE) if deadline is not None else None
    try:
        rules = (cache or _cache.default()).link_rules(options.lists)
        return _edit_links(doc, options, rules, part, title_for, taken, own)
    except BudgetExceeded:
        why = f"over {own.seconds:.2g} s" if own is not None else "over the time budget"
    except (LinkListError, ListsNotLoaded) as exc:
        why = str(exc)
    except Exception as exc:  # noqa: BLE001 - a link edit is never worth the tracker edits
        why = f"internal error: {type(exc).__name__}"
    return [], [], _reason(part, f"links not edited ({why})")


def _reason(part: str, why: str) -> str:
    """A `skipped` reason for the header: no `;` (it separates fields), no line breaks."""
    text = " ".join(f"part {part} {why}".replace(";", ",").split())
    return text[:200]


def _edit_links(doc: Document, options: LinkOptions, rules: LinkRules, part: str,
                title_for: Callable[[str], str], taken: Iterable[Edit],
                deadline: Deadline | None) -> tuple[list[LinkChange], list[Edit], str | None]:
    busy = _Taken(taken)
    kept: KeptRegions | None = None
    changes: list[LinkChange] = []
    edits: list[Edit] = []
    judged = 0
    left: str | None = None
    plans: dict[str, _Plan | None] = {}  # newsletters repeat their links: each URL judged once
    for el in doc.elements:
        if el.tag not in _TAGS or el.ns != "html" or el.clone_of >= 0:
            continue
        attr = el.attr("href")
        if attr is None:
            continue
        if deadline is not None:
            deadline.check()
        judged += 1
        if judged > MAX_LINKS_PER_PART:
            left = _reason(part, f"links past the first {MAX_LINKS_PER_PART} left as sent")
            break
        if attr.vend - attr.vstart > MAX_URL:
            continue
        url = attr.value.strip()
        if url not in plans:
            plans[url] = _judge(url, options, rules)
        plan = plans[url]
        if plan is None:
            continue
        # the context is read only for a link that would change
        if unsubscribe_context(doc, el):
            continue
        if kept is None:
            kept = KeptRegions(doc)
        if kept.quoted(el):
            continue
        new_url, link_changes, vendor = plan
        where = f"{el.tag}[href]"
        planned: list[Edit] = []
        if new_url is not None and new_url != url:
            planned.append(Edit(attr.vstart, attr.vend, _href_text(doc.text, attr, new_url)))
        marked = vendor is not None and options.mark and el.attr("title") is None
        if marked:
            at = _after_name(doc.text, el)
            if at is not None:
                title = html.escape(title_for(vendor), quote=True)
                title = title.encode("ascii", "xmlcharrefreplace").decode("ascii")
                planned.append(Edit(at, at, f' title="{title}"'))
            else:
                marked = False
        if not planned or any(busy.overlaps(e) for e in planned):
            continue
        edits += planned
        changes += [LinkChange(action, url, new, v, part, where)
                    for action, new, v in link_changes]
        if marked:
            changes.append(LinkChange("marked", new_url or url, None, vendor, part, where))
    return changes, edits, left


def _judge(url: str, options: LinkOptions, rules: LinkRules) -> _Plan | None:
    """The plan for one href, or None when it may not be changed: not an absolute http(s)
    URL (mailto:, tel:, #anchors, relative, protocol-relative, malformed) or an
    unsubscribe or preference page."""
    if not url[:5].lower().startswith(("http:", "https")) or not valid_url(url):
        return None
    if unsubscribe_url(url):
        return None
    return _plan(url, options, rules)


def _plan(url: str, options: LinkOptions, rules: LinkRules) -> _Plan | None:
    """What to do with one link, or None when it stays as it is and unmarked."""
    current = url
    changes: list[_Step] = []
    told: str | None = None  # the vendor the link still reports to
    unwrapped_by: str | None = None  # the outermost redirector removed
    wrapped = False
    for _ in range(MAX_HOPS + 1):
        parts = urlsplit(current)
        r = rules.find(current, parts)
        if r is None:
            break
        if r.kind == "security" and not (options.unwrap and options.unwrap_security):
            wrapped = True  # left wrapped, and nothing inside it changed
            break
        if r.kind == "tracker":
            told = r.vendor
            break
        target = _unwrapped(current, parts, r) if options.unwrap else None
        if target is None:
            told = r.vendor if r.kind == "redirect" else None
            break
        unwrapped_by = unwrapped_by or r.vendor
        current = target
    else:
        return _result(url, url, [], None)  # deeper than MAX_HOPS: left as sent
    if current != url:  # one change per link, however many redirectors it went through
        changes.append(("unwrapped", current, unwrapped_by))
    if told is None and not wrapped and options.strip_params:
        stripped = strip_params(current, rules)
        if stripped is not None:
            changes.append(("stripped", stripped, None))
            current = stripped
    return _result(url, current, changes, told)


def _result(url: str, current: str, changes: list[_Step], told: str | None) -> _Plan | None:
    if current == url and told is None:
        return None
    return (current if current != url else None), changes, told


def _unwrapped(url: str, parts: SplitResult, r: Redirector) -> str | None:
    target = destination(url, parts, r)
    # hrefs are written in ASCII only: any part charset can carry them
    if target is None or target == url or not target.isascii() or unsubscribe_url(target):
        return None
    return target


def _href_text(text: str, attr: Attr, url: str) -> str:
    """The new value as the attribute's quoting needs it (an unquoted value gets quotes)."""
    quoted_with = text[attr.vstart - 1] if attr.end == attr.vend + 1 else ""
    value = url.replace("&", "&amp;")
    if quoted_with == "'":
        return value.replace("'", "&#39;")
    value = value.replace('"', "&quot;")
    return value if quoted_with == '"' else f'"{value}"'


def _after_name(text: str, el: Element) -> int | None:
    """The offset just after the tag's name (where an attribute can be inserted)."""
    at = el.start + 1 + len(el.tag)
    if text[el.start + 1 : at].lower() != el.tag or text[at : at + 1] not in (" ", "\t", "\n", "\r", "\f", ">", "/"):
        return None
    return at


class _Taken:
    """The spans of the edits already planned: does a new edit overlap one? (A span
    [s, end) and an edit [a, b) overlap when s < b and a < end; an insertion at p = a = b
    conflicts when it falls strictly inside a span.)"""

    def __init__(self, edits: Iterable[Edit]) -> None:
        spans = sorted((e.start, e.end) for e in edits)
        self.starts = [s for s, _ in spans]
        self.reach: list[int] = []  # the furthest end among the spans up to each one
        furthest = -1
        for _, end in spans:
            furthest = max(furthest, end)
            self.reach.append(furthest)

    def overlaps(self, e: Edit) -> bool:
        i = bisect.bisect_left(self.starts, e.end)  # the spans starting before the edit ends
        return i > 0 and self.reach[i - 1] > e.start
