"""Two peers' tracker-removal methods, re-implemented from their published code, for benchmarks.

Neither is pixelguard code and neither is shipped: they exist so `core_bench.py` can time the
core against them on the same messages in the same run, and compare what each one flags.

* `RelayStyle` — Firefox Relay (mozilla/fx-private-relay, `emails/utils.py`,
  `convert_domains_to_regex_patterns` / `remove_trackers`): for every domain of Disconnect's
  "Email" category (Relay's "level one" list), one regex
  ``(["'])(\\S*://(\\S*\\.)*<domain>\\S*)\\1`` substituted over the raw HTML (links and images
  alike). Only Relay's removal pass is timed; Relay itself then runs the same regexes twice more
  (`count_tracker` for the level-one and level-two lists), so its real cost is ~2-3x this.
* `MtbStyle` — MailTrackerBlocker (apparition47/MailTrackerBlocker,
  `Source/MTBBlockedMessage.m`): every `<img …>` tag (``<img[^>]+>``) is tested against every
  vendor rule (``<img[^>]+RULE+[^>]*>``, case-insensitive, i.e. the rule anywhere in the tag
  text), then the generic width rule (``width`` 0/1 by attribute or CSS, with its spacer
  exemptions); plus its CSS ``url()`` template for the three vendors it applies it to.

Regexes are compiled once, outside the timed region, which favours both baselines slightly
(Relay relies on `re`'s cache; MailTrackerBlocker recompiles per message).
"""
from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

LISTS = Path(__file__).resolve().parents[2] / "shared" / "lists"

# MailTrackerBlocker's constants, transcribed (NSString escapes undone).
_MTB_IMG_TAG = r"<img[^>]+>"
_MTB_GENERIC = r"""<img[^>]+(width\s*=["'\s]*[01]p?x?["'\s]|[^-]width:\s*[01]px)+[^>]*>"""
_MTB_SPACERS = (
    r"spacer|attachments.office.net/owa/|fedex_collective_logo_|apple_logo_web"
    r"|sidebar-gradient|transparent.gif"
)
_MTB_CSS = r"""(background-image|content):\s?url\(['"]?[\w:./]*{rule}[\w:&./\?=]*['"]?\)"""
_MTB_CSS_VENDORS = ("Email on Acid", "Litmus", "G-Lock Analytics")

_SRC = re.compile(r"""\ssrc\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))""", re.IGNORECASE)
_TAG_BEFORE = re.compile(r"<\s*([A-Za-z][\w:-]*)")
_ATTR_BEFORE = re.compile(r"([\w:-]+)\s*=\s*$")


def norm_url(url: str) -> str:
    """The form findings are compared in: entities decoded, whitespace gone, scheme explicit."""
    url = html.unescape(url).strip()
    url = re.sub(r"[\t\r\n]", "", url)
    if url.startswith("//"):
        url = "https:" + url
    return url


@dataclass
class Flagged:
    """What one baseline flagged in one HTML document."""

    loads: list[str] = field(default_factory=list)  # URLs of remote loads (images, CSS)
    links: list[str] = field(default_factory=list)  # <a href> rewrites (Relay only)
    vendors: set[str] = field(default_factory=set)


class RelayStyle:
    """Firefox Relay: one regex per Disconnect "Email" domain over the raw HTML."""

    name = "relay"

    def __init__(self, path: Path = LISTS / "disconnect_email_categories.json",
                 category: str = "Email") -> None:
        # "Email" is Relay's level one (the default); "EmailAggressive" its strict level two.
        cats = json.loads(path.read_text())["categories"][category]
        self.domains = sorted({d for entity in cats.values() for d in entity["domains"]})
        self.patterns = [
            re.compile(r"""(["'])(\S*://(\S*\.)*""" + re.escape(d) + r"\S*)\1")
            for d in self.domains
        ]

    def clean(self, text: str) -> tuple[str, int]:
        """Relay's `remove_trackers` (level one): the cleaned text and the number of matches."""
        removed = 0
        for pat in self.patterns:
            text, n = pat.subn(r"\g<1>https://relay.invalid/faq\g<1>", text)
            removed += n
        return text, removed

    def detect(self, text: str) -> Flagged:
        """The same matches, classified as a remote load or a link by the tag/attribute before."""
        out = Flagged()
        for domain, pat in zip(self.domains, self.patterns):
            pos = 0
            while True:
                m = pat.search(text, pos)
                if m is None:
                    break
                pos = m.end()
                url = norm_url(m.group(2).split('"')[0].split("'")[0])
                before = text[max(0, text.rfind("<", 0, m.start())):m.start()]
                tag = _TAG_BEFORE.match(before)
                attr = _ATTR_BEFORE.search(before)
                is_link = (tag and tag.group(1).lower() in ("a", "area")
                           and attr and attr.group(1).lower() == "href")
                (out.links if is_link else out.loads).append(url)
                out.vendors.add(domain)
        return out


class MtbStyle:
    """MailTrackerBlocker: img-tag regex, every vendor rule per tag, then the width rule."""

    name = "mtb"

    def __init__(self, path: Path = LISTS / "mailtrackerblocker_rules.json") -> None:
        rules = json.loads(path.read_text())
        # The rule is interpolated into "<img[^>]+%@+[^>]*>"; against one tag's text that is
        # a search for the rule (its trailing "+" only repeats the rule's last atom).
        self.rules = [(vendor, re.compile(rule + "+", re.IGNORECASE))
                      for vendor, rs in rules.items() for rule in rs]
        self.img = re.compile(_MTB_IMG_TAG, re.IGNORECASE)
        self.generic = re.compile(_MTB_GENERIC, re.IGNORECASE)
        self.spacer = re.compile(_MTB_SPACERS, re.IGNORECASE)
        self.css = [(v, re.compile(_MTB_CSS.format(rule=rules[v][0]), re.IGNORECASE))
                    for v in _MTB_CSS_VENDORS if v in rules]

    def detect(self, text: str) -> Flagged:
        out = Flagged()
        for m in self.img.finditer(text):
            tag = m.group(0)
            vendor = next((v for v, rx in self.rules if rx.search(tag)), None)
            if vendor is None and self.generic.fullmatch(tag) and not self.spacer.search(tag):
                vendor = "(generic width rule)"
            if vendor is not None:
                src = _SRC.search(tag)
                out.loads.append(norm_url(next(g for g in src.groups() if g is not None))
                                 if src else "")
                out.vendors.add(vendor)
        for vendor, rx in self.css:
            for m in rx.finditer(text):
                url = re.search(r"url\(['\"]?([^'\")]*)", m.group(0))
                out.loads.append(norm_url(url.group(1)) if url else "")
                out.vendors.add(vendor)
        return out

    def clean(self, text: str) -> tuple[str, int]:
        """Remove every flagged tag (the timed path: detection plus the splice)."""
        spans = []
        for m in self.img.finditer(text):
            tag = m.group(0)
            if any(rx.search(tag) for _v, rx in self.rules) or (
                self.generic.fullmatch(tag) and not self.spacer.search(tag)
            ):
                spans.append(m.span())
        for _v, rx in self.css:
            spans.extend(m.span() for m in rx.finditer(text))
        if not spans:
            return text, 0
        spans.sort()
        parts, last = [], 0
        for a, b in spans:
            if a >= last:
                parts.append(text[last:a])
                last = b
        parts.append(text[last:])
        return "".join(parts), len(spans)
