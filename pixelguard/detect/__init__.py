"""Detection: one HTML document in, the trackers it loads (with the edits that remove them) out."""
from __future__ import annotations

import dataclasses
from collections import Counter
from dataclasses import dataclass
from typing import NamedTuple

from pixelguard import css
from pixelguard.budget import Deadline
from pixelguard.detect.generated import generated_images, hidden_reason
from pixelguard.detect.leak import find_leak
from pixelguard.detect.nested import MAX_NESTING, find_nested, style_document, unwrap_style
from pixelguard.detect.rules import RULE_IDS, RULES, Signals
from pixelguard.detect.shape import url_facts
from pixelguard.detect.vectors import Edit, Resource, extract
from pixelguard.detect.visibility import Visibility, tag_box, tiny_reason
from pixelguard.htmlscan import Document, Element, scan
from pixelguard.model import Finding, Policy
from pixelguard.trackers import TrackerList, TrackerMatch

__all__ = ["RULE_IDS", "Detection", "clean_nested", "detect_html"]

SPACER_REPEATS = 3  # the same token-less tiny URL this often in one part: a layout spacer
_SHOWN_URL = 1024  # an over-limit finding's URL is cut to this (reports and logs show it)


@dataclass
class Detection:
    findings: list[Finding]
    edits: list[Edit]  # for the policy's action, possibly overlapping
    body_start: int | None
    head_end: int | None
    doc: Document  # the scanned document (the notice's placement reads it)
    sheets: list[tuple[css.StyleSheet, bool]]  # its stylesheets, each with "Outlook only"


def detect_html(text: str, policy: Policy, trackers: TrackerList, part: str,
                base: str | None = None, sender_allowed: bool = False,
                deadline: Deadline | None = None, depth: int = 0) -> Detection:
    """Find every tracker in one HTML document (and in the stylesheets and documents nested
    in it, `depth` levels down already). Raises BudgetExceeded past the deadline."""
    deadline = deadline or Deadline(policy.time_budget)
    doc = scan(text, deadline)
    deadline.check()
    sheets = []
    findings: list[Finding] = []
    edits: list[Edit] = []
    for block in doc.styles:
        deadline.check()
        if block.end - block.start > css.MAX_CSS_CHARS and not sender_allowed:
            # past the limit the whole stylesheet goes, so what is delivered is what was judged
            findings.append(Finding("data:text/css", "over-limit", None, "style", part,
                                    f"a stylesheet of {block.end - block.start} characters (the "
                                    f"limit is {css.MAX_CSS_CHARS}): removed unchecked"))
            edits.append(Edit(block.start, block.end, ""))
            continue
        if block.end - block.start > css.MAX_CSS_CHARS:
            continue  # (an allowed sender's: kept, and not read)
        sheets.append((block, css.parse_stylesheet(text[block.start:block.end])))
    resources = extract(doc, base, sheets, deadline)
    resources.sort(key=lambda r: r.strip[0].start if r.strip else 0)  # findings in source order
    vis = Visibility(doc, [(sheet, block.in_mso) for block, sheet in sheets], deadline)
    deadline.check()
    generated = generated_images(doc, resources)
    repeats = Counter(r.url for r in resources)
    deadline.check()

    boxes: dict[int, tuple[float | None, float | None]] = {}
    urls: dict[str, _UrlFacts] = {}
    for n, res in enumerate(resources):
        if n % 64 == 0:
            deadline.check()
        signals = _signals(res, vis, policy, trackers, repeats[res.url], boxes, urls,
                           doc.elements, generated.get(id(res)))
        if signals.host_verdict == "allow":
            continue
        for rule_id, fn in RULES:
            if sender_allowed and rule_id != "deny-list":
                continue
            reason = fn(res, signals)
            if reason:
                vendor = signals.known.vendor if signals.known else trackers.vendor_for_host(signals.host)
                url = res.url
                if signals.over_limit and len(url) > _SHOWN_URL:
                    url = url[:_SHOWN_URL - 1] + "\u2026"
                findings.append(Finding(url, rule_id, vendor, res.where, part, reason))
                edits.extend(res.rewrite if policy.action == "rewrite" else res.strip)
                break
    for nest in find_nested(doc, sheets, policy.keep):
        deadline.check()
        new_text, found = clean_nested(nest.kind, nest.text, policy, trackers, part, base,
                                       sender_allowed, deadline, depth + 1)
        if found:
            findings.extend(dataclasses.replace(f, where=f"{nest.where} {f.where}") for f in found)
            edits.append(Edit(nest.start, nest.end, nest.rewrap(new_text)))
    return Detection(findings, edits, doc.body_start, doc.head_end, doc,
                     [(sheet, block.in_mso) for block, sheet in sheets])


def clean_nested(kind: str, text: str, policy: Policy, trackers: TrackerList, part: str,
                 base: str | None, sender_allowed: bool, deadline: Deadline,
                 depth: int) -> tuple[str, list[Finding]]:
    """A stylesheet ("css") or document ("html") cleaned with the same rules: its new text
    and what was removed from it. Too deeply nested, or CSS that would end its own block,
    it is emptied."""
    from pixelguard.rewrite import apply_edits  # (rewrite reads this package's Edit)

    document = style_document(text) if kind == "css" else text
    if document is None or depth > MAX_NESTING:
        why = (f"nested more than {MAX_NESTING} levels deep" if document is not None
               else "a stylesheet that would end its own block")
        rule = "css-remote" if kind == "css" else "needless-element"
        return "", [Finding(f"data:text/{kind}", rule, None, "", part,
                            f"{why}: removed unchecked")]
    det = detect_html(document, policy, trackers, part, base, sender_allowed, deadline, depth)
    if not det.findings:
        return text, []
    new = apply_edits(document, det.edits)
    return (unwrap_style(new) if kind == "css" else new), det.findings


class _UrlFacts(NamedTuple):
    """What the URL says to this policy and tracker list (the same for every element of the
    message that loads it). Its shape facts and the list's verdict are kept between messages
    (shape.url_facts, TrackerList.match); the leak and the host verdict, which depend on the
    recipients and the user's lists, are judged in every message."""

    host: str
    known: TrackerMatch | None
    shape: str | None
    token: bool
    query_token: bool
    leak: str | None
    host_verdict: str | None
    spacer_name: bool
    over_limit: str | None


def _url_facts(url: str, policy: Policy, trackers: TrackerList) -> _UrlFacts:
    own = url_facts(url)
    if own.over_limit is not None:  # judged by its length alone: nothing else reads it
        return _UrlFacts("", None, None, False, False, None, None, False, own.over_limit)
    return _UrlFacts(
        host=own.host, known=trackers.match(url), shape=own.shape, token=own.token,
        query_token=own.query_token, leak=find_leak(url, policy.recipients),
        host_verdict=policy.host_verdict(own.host), spacer_name=own.spacer_name,
        over_limit=None,
    )


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


def _box(elements: list[Element], el: Element) -> tuple[float | None, float | None]:
    """The element's box, or its viewport's when that is too small to show anything."""
    w, h = tag_box(el)
    around = _viewport(elements, el)
    if around is not None and tiny_reason(w, h) is None:
        aw, ah = tag_box(around)
        if tiny_reason(aw, ah) is not None:
            return aw, ah
    return w, h


def _signals(res: Resource, vis: Visibility, policy: Policy, trackers: TrackerList,
             repeats: int, boxes: dict[int, tuple[float | None, float | None]],
             urls: dict[str, _UrlFacts], elements: list[Element],
             generated_in: list[Element] | None = None) -> Signals:
    el = res.element
    url = res.url
    facts = urls.get(url)
    if facts is None:
        facts = urls[url] = _url_facts(url, policy, trackers)
    tiny = None
    unsized = False
    if el is not None and res.kind in ("image", "background", "media"):
        shown = _stand_in(elements, el) or el
        if shown.index not in boxes:
            boxes[shown.index] = _box(elements, shown)
        w, h = boxes[shown.index]
        tiny = tiny_reason(w, h)
        unsized = res.kind == "image" and w is None and h is None
        hidden = vis.state(el) or (vis.state(shown) if shown is not el else None)
    elif generated_in is not None:
        hidden = hidden_reason(generated_in, vis)
    else:
        hidden = vis.state(el)
    spacer = (
        facts.known is None and facts.leak is None and not facts.token
        and (repeats >= SPACER_REPEATS or facts.spacer_name)
    )
    ref = res.css_ref
    print_or_forward = None
    if ref is not None and el is None:
        if css.is_print_media(ref.media):
            print_or_forward = "when the mail is printed"
        elif css.is_forward_detection_selector(ref.selector):
            print_or_forward = "when the mail is forwarded or replied to"
    return Signals(
        host=facts.host, tiny=tiny, unsized=unsized, hidden=hidden, known=facts.known,
        shape=facts.shape, token=facts.token, query_token=facts.query_token, leak=facts.leak,
        host_verdict=facts.host_verdict, spacer=spacer, print_or_forward=print_or_forward,
        kept=policy.keep, over_limit=res.over_limit or facts.over_limit,
    )
