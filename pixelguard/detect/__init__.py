"""Detection: one HTML document in, the trackers it loads (with the edits that remove them) out."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import NamedTuple

from pixelguard import css
from pixelguard.budget import Deadline
from pixelguard.detect.leak import find_leak
from pixelguard.detect.rules import RULE_IDS, RULES, Signals
from pixelguard.detect.shape import url_facts
from pixelguard.detect.vectors import Edit, Resource, extract
from pixelguard.detect.visibility import Visibility, tag_box, tiny_reason
from pixelguard.htmlscan import scan
from pixelguard.model import Finding, Policy
from pixelguard.trackers import TrackerList, TrackerMatch

__all__ = ["Detection", "detect_html", "RULE_IDS"]

SPACER_REPEATS = 3  # the same token-less tiny URL this often in one part: a layout spacer


@dataclass
class Detection:
    findings: list[Finding]
    edits: list[Edit]  # for the policy's action, possibly overlapping
    body_start: int | None
    head_end: int | None


def detect_html(text: str, policy: Policy, trackers: TrackerList, part: str,
                base: str | None = None, sender_allowed: bool = False,
                deadline: Deadline | None = None) -> Detection:
    """Find every tracker in one HTML document. Raises BudgetExceeded past the deadline."""
    deadline = deadline or Deadline(policy.time_budget)
    doc = scan(text)
    deadline.check()
    sheets = []
    for block in doc.styles:
        deadline.check()
        sheets.append((block, css.parse_stylesheet(text[block.start:block.end])))
    resources = extract(doc, base, sheets)
    resources.sort(key=lambda r: r.strip[0].start if r.strip else 0)  # findings in source order
    vis = Visibility(doc, [(sheet, block.in_mso) for block, sheet in sheets], deadline)
    repeats = Counter(r.url for r in resources)

    findings: list[Finding] = []
    edits: list[Edit] = []
    boxes: dict[int, tuple[float | None, float | None]] = {}
    urls: dict[str, _UrlFacts] = {}
    for n, res in enumerate(resources):
        if n % 64 == 0:
            deadline.check()
        signals = _signals(res, vis, policy, trackers, repeats[res.url], boxes, urls)
        if signals.host_verdict == "allow":
            continue
        for rule_id, fn in RULES:
            if sender_allowed and rule_id != "deny-list":
                continue
            reason = fn(res, signals)
            if reason:
                vendor = signals.known.vendor if signals.known else trackers.vendor_for_host(signals.host)
                findings.append(Finding(res.url, rule_id, vendor, res.where, part, reason))
                edits.extend(res.rewrite if policy.action == "rewrite" else res.strip)
                break
    return Detection(findings, edits, doc.body_start, doc.head_end)


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


def _url_facts(url: str, policy: Policy, trackers: TrackerList) -> _UrlFacts:
    own = url_facts(url)
    return _UrlFacts(
        host=own.host, known=trackers.match(url), shape=own.shape, token=own.token,
        query_token=own.query_token, leak=find_leak(url, policy.recipients),
        host_verdict=policy.host_verdict(own.host), spacer_name=own.spacer_name,
    )


def _signals(res: Resource, vis: Visibility, policy: Policy, trackers: TrackerList,
             repeats: int, boxes: dict[int, tuple[float | None, float | None]],
             urls: dict[str, _UrlFacts]) -> Signals:
    el = res.element
    url = res.url
    facts = urls.get(url)
    if facts is None:
        facts = urls[url] = _url_facts(url, policy, trackers)
    tiny = None
    unsized = False
    if el is not None and res.kind in ("image", "background", "media"):
        if el.index not in boxes:
            boxes[el.index] = tag_box(el)
        w, h = boxes[el.index]
        tiny = tiny_reason(w, h)
        unsized = res.kind == "image" and w is None and h is None
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
        host=facts.host, tiny=tiny, unsized=unsized, hidden=vis.state(el), known=facts.known,
        shape=facts.shape, token=facts.token, query_token=facts.query_token, leak=facts.leak,
        host_verdict=facts.host_verdict, spacer=spacer, print_or_forward=print_or_forward,
        kept=policy.keep,
    )
