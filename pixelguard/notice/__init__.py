"""What the reader and the admin see: the notice in the mail and the X-PixelGuard header.

The notice says how many trackers were removed, by vendor and the unnamed rest, whether a
redirect was removed, and where the unchanged original is when one was kept. It is text
only (no link, nothing that acts), in the reader's language (see language.py), and is
placed so that the inbox preview stays the sender's (see placement.py).
"""
from __future__ import annotations

import html
from collections import Counter
from collections.abc import Iterable, Sequence

from pixelguard import stamp
from pixelguard.model import Finding, LinkChange
from pixelguard.notice.language import Catalogue, catalogue

__all__ = ["REDIRECT", "header_value", "html_notice", "link_title", "summary", "text_notice",
           "vendors_of"]

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


def summary(findings: list[Finding], lang: str = "en", original_in: str | None = None,
            links: Sequence[LinkChange] = ()) -> str:
    """The notice's sentences in `lang`: 'pixelguard removed 3 trackers: 1 SendGrid,
    2 unnamed.', one more when a redirect to a remote page was removed, what was done to
    the links (`links`), and one naming the folder `original_in` that keeps the unchanged
    original (when one was kept)."""
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
    if links:
        if not sentences:
            sentences.append(t.gettext("pixelguard checked the links of this message."))
        sentences += _link_sentences(links, t)
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


def _link_sentences(links: Sequence[LinkChange], t: Catalogue) -> list[str]:
    """'2 links now go straight to their destination.', 'Tracking parameters were removed
    from 3 links.', '14 links report clicks to Mailchimp.' (per vendor, most first)."""
    out = []
    unwrapped = sum(c.action == "unwrapped" for c in links)
    stripped = sum(c.action == "stripped" for c in links)
    if unwrapped:
        out.append(t.ngettext("{n} link now goes straight to its destination.",
                              "{n} links now go straight to their destinations.",
                              unwrapped).format(n=unwrapped))
    if stripped:
        out.append(t.ngettext("Tracking parameters were removed from {n} link.",
                              "Tracking parameters were removed from {n} links.",
                              stripped).format(n=stripped))
    ranked = Counter(c.vendor for c in links if c.action == "marked" and c.vendor).most_common()
    for vendor, n in ranked[:MAX_VENDORS]:
        out.append(t.ngettext("{n} link reports clicks to {vendor}.",
                              "{n} links report clicks to {vendor}.", n).format(n=n, vendor=vendor))
    others = sum(n for _, n in ranked[MAX_VENDORS:])
    if others:
        out.append(t.ngettext("{n} link reports clicks to other vendors.",
                              "{n} links report clicks to other vendors.", others).format(n=others))
    return out


def link_title(vendor: str, lang: str = "en") -> str:
    """The title of a link that still reports the click: 'Clicking tells Mailchimp you clicked'."""
    return catalogue(lang).gettext("Clicking tells {vendor} you clicked").format(vendor=vendor)


def html_notice(findings: list[Finding], lang: str = "en", original_in: str | None = None,
                links: Sequence[LinkChange] = ()) -> str:
    """A small, neutral block for the HTML body: text only, no links, ASCII-safe (characters
    beyond ASCII as references, so any charset carries it)."""
    text = html.escape(summary(findings, lang, original_in, links))
    return _BOX.format(lang=lang, text=text).encode("ascii", "xmlcharrefreplace").decode("ascii")


def text_notice(findings: list[Finding], lang: str = "en", original_in: str | None = None,
                links: Sequence[LinkChange] = ()) -> str:
    """The notice as one bracketed line for a text/plain part (no line ending)."""
    return f"[{summary(findings, lang, original_in, links)}]"


def header_value(findings: list[Finding], skipped: Iterable[str] = (),
                 links: Sequence[LinkChange] = ()) -> str:
    """X-PixelGuard: removed=3; vendors="Mailchimp, SendGrid"; rules=known-tracker,size
    (plus `; links=…; link_vendors=…` for link edits, the vendors of the unwrapped and
    marked links, and `; skipped=…` for parts left unchecked): the form is
    pixelguard/stamp.py's."""
    actions = Counter(c.action for c in links)
    told = Counter(c.vendor for c in links if c.vendor and c.action != "stripped")
    return stamp.removed(len(findings), vendors_of(findings), (f.rule for f in findings), skipped,
                         [(a, actions[a]) for a in ("unwrapped", "stripped", "marked") if actions[a]],
                         told.most_common())
