"""What the reader and the admin see: the notice in the mail and the X-PixelGuard header."""
from __future__ import annotations

import html
from collections import Counter

from pixelguard.model import Finding

MAX_VENDORS = 8


def vendors_of(findings: list[Finding]) -> list[str]:
    """Vendor names, most frequent first, without duplicates."""
    counts = Counter(f.vendor for f in findings if f.vendor)
    return [v for v, _ in counts.most_common()]


REDIRECT = "meta-refresh"  # a finding that is no tracker: it would have navigated away


def summary(findings: list[Finding]) -> str:
    """One sentence: 'pixelguard removed 3 trackers: Mailchimp, SendGrid'; and one more when
    a redirect of the opened message to a remote page was removed."""
    redirects = sum(f.rule == REDIRECT for f in findings)
    trackers = [f for f in findings if f.rule != REDIRECT]
    if not redirects:
        return _trackers_sentence(trackers)
    redirect = "a redirect of this message to a remote web page"
    if not trackers:
        return f"pixelguard removed {redirect}."
    return f"{_trackers_sentence(trackers)} It also removed {redirect}."


def _trackers_sentence(findings: list[Finding]) -> str:
    n = len(findings)
    noun = "tracker" if n == 1 else "trackers"
    vendors = vendors_of(findings)
    if not vendors:
        return f"pixelguard removed {n} {noun} from this message."
    shown = vendors[:MAX_VENDORS]
    more = len(vendors) - len(shown)
    names = ", ".join(shown) + (f" and {more} more" if more > 0 else "")
    return f"pixelguard removed {n} {noun}: {names}."


def html_notice(findings: list[Finding], eol: str) -> str:
    """A small, neutral block for the top of the HTML body: text only, no links, ASCII-safe."""
    text = html.escape(summary(findings)).encode("ascii", "xmlcharrefreplace").decode("ascii")
    return (
        '<div data-pixelguard="notice" style="font:12px/1.4 Arial,Helvetica,sans-serif;'
        "color:#555555;background:#f3f3f3;border:1px solid #dddddd;padding:6px 10px;"
        f'margin:0 0 8px 0;">{text}</div>{eol}'
    )


def text_notice(findings: list[Finding], eol: str) -> str:
    return f"[{summary(findings)}]{eol}{eol}"


def header_value(findings: list[Finding]) -> str:
    """X-PixelGuard: removed=3; vendors="Mailchimp, SendGrid"; rules=known-tracker,size"""
    vendors = [v.replace('"', "").replace("\\", "") for v in vendors_of(findings)][:20]
    rules = sorted({f.rule for f in findings})
    value = f"removed={len(findings)}"
    if vendors:
        value += f'; vendors="{", ".join(vendors)}"'
    value += f"; rules={','.join(rules)}"
    return value
