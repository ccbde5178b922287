"""Detection: one HTML document in, the trackers it loads (with the edits that remove them) out."""
from __future__ import annotations

import dataclasses
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pixelguard import css
from pixelguard.budget import Deadline
from pixelguard.detect import rules as _rules
from pixelguard.detect.generated import generated_images
from pixelguard.detect.leak import recipients_forms
from pixelguard.detect.nested import MAX_NESTING, find_nested, style_document, unwrap_style
from pixelguard.detect.rules import RULE_IDS
from pixelguard.detect.signals import Shared, Signals
from pixelguard.detect.vectors import Edit, extract
from pixelguard.detect.visibility import Visibility
from pixelguard.htmlscan import Document, scan
from pixelguard.model import Finding, Policy
from pixelguard.trackers import TrackerList

if TYPE_CHECKING:
    from pixelguard.cache import Cache

__all__ = ["RULE_IDS", "Detection", "clean_nested", "detect_html"]

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
                deadline: Deadline | None = None, depth: int = 0,
                cache: Cache | None = None) -> Detection:
    """Find every tracker in one HTML document (and in the stylesheets and documents nested
    in it, `depth` levels down already). Raises BudgetExceeded past the deadline. `cache`:
    what may be kept between messages (pixelguard.cache)."""
    deadline = deadline or Deadline(policy.time_budget)
    doc = scan(text, deadline, cache)
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
        sheets.append((block, css.parse_stylesheet(text[block.start:block.end],
                                                   cache and cache.sheets)))
    resources = extract(doc, base, sheets, deadline)
    resources.sort(key=lambda r: r.strip[0].start if r.strip else 0)  # findings in source order
    vis = Visibility(doc, [(sheet, block.in_mso) for block, sheet in sheets], deadline)
    deadline.check()
    generated = generated_images(doc, resources)
    repeats = Counter(r.url for r in resources)
    deadline.check()

    shared = Shared(vis, policy, trackers, doc.elements, repeats, generated,
                    recipients_forms(policy.recipients), cache, {}, {})
    # (read per document: a test may add a rule; each rule's id and check as a pair, read
    # for every resource)
    active = [(r.id, r.check) for r in _rules.RULES if r.allowed_senders or not sender_allowed]
    for n, res in enumerate(resources):
        if n % 64 == 0:
            deadline.check()
        signals = Signals(res, shared)
        if signals.host_verdict == "allow":
            continue
        for rule_id, check in active:
            reason = check(res, signals)
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
                                       sender_allowed, deadline, depth + 1, cache)
        if found:
            findings.extend(dataclasses.replace(f, where=f"{nest.where} {f.where}") for f in found)
            edits.append(Edit(nest.start, nest.end, nest.rewrap(new_text)))
    return Detection(findings, edits, doc.body_start, doc.head_end, doc,
                     [(sheet, block.in_mso) for block, sheet in sheets])


def clean_nested(kind: str, text: str, policy: Policy, trackers: TrackerList, part: str,
                 base: str | None, sender_allowed: bool, deadline: Deadline,
                 depth: int, cache: Cache | None = None) -> tuple[str, list[Finding]]:
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
    det = detect_html(document, policy, trackers, part, base, sender_allowed, deadline, depth,
                      cache)
    if not det.findings:
        return text, []
    new = apply_edits(document, det.edits)
    return (unwrap_style(new) if kind == "css" else new), det.findings
