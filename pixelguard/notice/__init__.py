"""What the reader and the admin see: the notice in the mail and the X-PixelGuard header.

The notice says how many trackers were removed, by vendor and the unnamed rest, whether a
redirect was removed, and where the unchanged original is when one was kept. It is text
only (no link, nothing that acts), in the reader's language (see language.py), and is
placed so that the inbox preview stays the sender's (see placement.py).
"""
from __future__ import annotations

import html
from collections import Counter
from collections.abc import Iterable

from pixelguard import stamp
from pixelguard.model import Finding
from pixelguard.notice.language import Catalogue, catalogue

__all__ = ["REDIRECT", "header_value", "html_notice", "summary", "text_notice", "vendors_of"]

MAX_VENDORS = 8  # vendors named in the notice; the rest are counted together

REDIRECT = "meta-refresh"  # a finding that is no tracker: it would have navigated away

# Explicit colours that contrast in light and dark mode (about 10:1: #333333 on #f1f1f1),
# inline because that is what mail clients keep; `bgcolor` for Outlook's Word renderer,
# `color-scheme: light` so engines that darken light-scheme content leave the pair alone.
_BOX = ('<table data-pixelguard="notice" lang="{lang}" role="presentation" width="100%" '
        'cellpadding="0" cellspacing="0" border="0" style="width:100%;max-width:100%;'
        'border-collapse:collapse;margin:8px 0;color-scheme:light;">'
        '<tr><td bgcolor="#f1f1f1" style="background-color:#f1f1f1;color:#333333;'
        'border:1px solid #d0d0d0;padding:6px 10px;font:12px/1.4 Arial,Helvetica,sans-serif;'
        'text-align:left;overflow-wrap:anywhere;word-break:break-word;">{text}</td></tr>'
        '</table>')


def vendors_of(findings: list[Finding]) -> list[str]:
    """Vendor names, most frequent first, without duplicates."""
    counts = Counter(f.vendor for f in findings if f.vendor)
    return [v for v, _ in counts.most_common()]


def summary(findings: list[Finding], lang: str = "en", original_in: str | None = None) -> str:
    """The notice's sentences in `lang`: 'pixelguard removed 3 trackers: 1 SendGrid,
    2 unnamed.', one more when a redirect to a remote page was removed, and one naming the
    folder `original_in` that keeps the unchanged original (when one was kept)."""
    t = catalogue(lang)
    redirects = sum(f.rule == REDIRECT for f in findings)
    trackers = [f for f in findings if f.rule != REDIRECT]
    sentences = []
    if trackers:
        sentences.append(_trackers_sentence(trackers, t))
    if redirects:
        sentences.append(
            t.gettext("It also removed a redirect of this message to a remote web page.")
            if trackers else
            t.gettext("pixelguard removed a redirect of this message to a remote web page."))
    if original_in:
        sentences.append(t.gettext('The unchanged original is kept in the folder "{folder}".')
                         .format(folder=original_in))
    return " ".join(sentences)


def _trackers_sentence(findings: list[Finding], t: Catalogue) -> str:
    n = len(findings)
    counts = Counter(f.vendor for f in findings if f.vendor)
    unnamed = n - sum(counts.values())
    if not counts:
        return t.ngettext("pixelguard removed {n} tracker from this message.",
                          "pixelguard removed {n} trackers from this message.", n).format(n=n)
    if len(counts) == 1 and not unnamed:
        items = list(counts)  # one vendor for all of them: its name says it
    else:
        ranked = counts.most_common()
        items = [f"{k} {vendor}" for vendor, k in ranked[:MAX_VENDORS]]
        others = sum(k for _, k in ranked[MAX_VENDORS:])
        if others:
            items.append(t.ngettext("{n} from other vendors", "{n} from other vendors",
                                    others).format(n=others))
        if unnamed:
            items.append(t.ngettext("{n} unnamed", "{n} unnamed", unnamed).format(n=unnamed))
    return t.ngettext("pixelguard removed {n} tracker: {list}.",
                      "pixelguard removed {n} trackers: {list}.", n).format(
                          n=n, list=", ".join(items))


def html_notice(findings: list[Finding], lang: str = "en", original_in: str | None = None) -> str:
    """A small, neutral block for the HTML body: text only, no links, ASCII-safe (characters
    beyond ASCII as references, so any charset carries it)."""
    text = html.escape(summary(findings, lang, original_in))
    return _BOX.format(lang=lang, text=text).encode("ascii", "xmlcharrefreplace").decode("ascii")


def text_notice(findings: list[Finding], lang: str = "en", original_in: str | None = None) -> str:
    """The notice as one bracketed line for a text/plain part (no line ending)."""
    return f"[{summary(findings, lang, original_in)}]"


def header_value(findings: list[Finding], skipped: Iterable[str] = ()) -> str:
    """X-PixelGuard: removed=3; vendors="Mailchimp, SendGrid"; rules=known-tracker,size
    (plus `; skipped=…` for parts left unchecked): the form is pixelguard/stamp.py's."""
    return stamp.removed(len(findings), vendors_of(findings), (f.rule for f in findings), skipped)
