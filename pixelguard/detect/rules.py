"""Detection rules, declared. Each is a small function with a stable id (the Finding.rule) and
a one-line docstring; it reads the Signals of one resource and returns a reason sentence or
None. A rule declares the signals it reads, whether it also judges mail from an allowed
sender, and what the README says it fires on (scripts/rules_table.py writes that table).
ORDER is the order they are tried in: the first that fires names the finding.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pixelguard.detect.signals import SIGNALS, SIZED, Signals
from pixelguard.detect.vectors import Kind, Resource

__all__ = ["DECLARED", "ORDER", "RULES", "RULE_IDS", "Rule", "Signals", "ordered", "rule"]

# The order rules are tried in (data, not the order they are written in).
ORDER: tuple[str, ...] = (
    "over-limit", "deny-list", "recipient-leak", "known-tracker", "url-shape", "size", "hidden",
    "css-remote", "meta-refresh", "needless-element",
)

Check = Callable[[Resource, Signals], "str | None"]
# (kinds read by the rules below for every resource: an enum member looked up costs a call)
_SHEETS = (Kind.STYLESHEET, Kind.IMPORT)
_FONT = Kind.FONT


@dataclass(frozen=True)
class Rule:
    id: str
    check: Check
    needs: frozenset[str]  # the signals it reads (names in detect.signals.SIGNALS)
    allowed_senders: bool  # it also judges mail from an allowed sender
    fires_when: str  # one Markdown sentence for the README's table

    @property
    def summary(self) -> str:
        """The check's one-line docstring."""
        return (self.check.__doc__ or "").strip().splitlines()[0]


DECLARED: dict[str, Rule] = {}


def rule(rule_id: str, *, needs: tuple[str, ...], fires_when: str,
         allowed_senders: bool = False) -> Callable[[Check], Check]:
    """Declare the decorated function as the rule `rule_id` (it runs once ORDER names it)."""
    unknown = sorted(set(needs) - SIGNALS.keys())
    if unknown:
        raise ValueError(f"rule {rule_id}: unknown signals {unknown}")

    def register(fn: Check) -> Check:
        if rule_id in DECLARED:
            raise ValueError(f"rule {rule_id} declared twice")
        DECLARED[rule_id] = Rule(rule_id, fn, frozenset(needs), allowed_senders, fires_when)
        fn.rule_id = rule_id  # type: ignore[attr-defined]
        return fn

    return register


def ordered(order: tuple[str, ...] = ORDER) -> tuple[Rule, ...]:
    """The declared rules in `order`; every declared rule must have its place."""
    unplaced = sorted(DECLARED.keys() - set(order))
    unknown = sorted(set(order) - DECLARED.keys())
    if unplaced or unknown:
        raise ValueError(f"rules without a place in the order: {unplaced}; "
                         f"placed but not declared: {unknown}")
    return tuple(DECLARED[rule_id] for rule_id in order)


@rule("over-limit", needs=("over_limit",),
      fires_when=("past a limit no real mail reaches, removed unread: a host over 253 octets or a "
                 "label over 63 (DNS's limits), a URL over 32 KiB, a stylesheet or style "
                 "attribute over 256 KiB, a srcset over 64 KiB, a tag with over 1,000 attributes "
                 "([docs/SECURITY.md](docs/SECURITY.md))"))
def over_limit(res: Resource, s: Signals) -> str | None:
    """A URL past a documented limit (host over 253 octets, a label over 63, URL over 32 KiB)."""
    if s.over_limit:
        return f"{s.over_limit}: no real resource needs it, removed unchecked"
    return None


@rule("deny-list", needs=("host_verdict", "host"), allowed_senders=True,
      fires_when="the host is on the recipient's deny list")
def deny_list(res: Resource, s: Signals) -> str | None:
    """The resource's host is on the recipient's deny list."""
    if s.host_verdict == "deny":
        return f"{s.host} is on your deny list"
    return None


@rule("recipient-leak", needs=("leak",),
      fires_when=("the URL carries the recipient's address: plain, percent-encoded, base64 (any "
                 "alignment, std/url-safe, with or without padding), MD5/SHA-1/SHA-256"))
def recipient_leak(res: Resource, s: Signals) -> str | None:
    """The URL carries the recipient's address (plain, encoded or hashed)."""
    if s.leak:
        return f"the URL carries {s.leak}"
    return None


@rule("known-tracker", needs=("known", "tiny", "hidden", "shape", "token", "unsized"),
      fires_when=("a shipped (or user-supplied) tracker list entry matches; path-precise entries "
                 "fire on any image, host-only entries only with supporting evidence (tiny, "
                 "hidden, tracking-shaped URL)"))
def known_tracker(res: Resource, s: Signals) -> str | None:
    """A tracker list entry matches: path-precise entries always, host-only ones with support."""
    k = s.known
    if k is None:
        return None
    if k.precise:
        return f"{k.vendor} tracking endpoint (list entry {k.pattern!r})"
    support = s.tiny or (s.hidden and s.hidden[1]) or s.shape or (
        "personalised token on an unsized image" if s.token and s.unsized else None)
    if support:
        return f"{k.vendor} host ({k.pattern}) serving a tracking-shaped load: {support}"
    return None


@rule("url-shape", needs=("shape", "spacer", "tiny", "hidden", "unsized", "token"),
      fires_when=("a generic open-tracking URL (`/wf/open`, `/o/<token>`, `open.gif`, `?open=`…) "
                 "on a tiny, hidden or unsized element — never alone on a visible image"))
def url_shape(res: Resource, s: Signals) -> str | None:
    """A generic open-tracking URL on a tiny, hidden or unsized element (never alone)."""
    if not s.shape or s.spacer:
        return None
    if s.tiny or s.hidden or s.unsized:
        what = s.tiny or (s.hidden and s.hidden[1]) or "no size given"
        return f"{s.shape} ({what})"
    if res.element is None and s.token:
        return f"{s.shape} with a personalised token in a stylesheet"
    return None


@rule("size", needs=("tiny", "spacer"),
      fires_when=("a remote image too small to show anything (1×1, 0×0, by attributes or CSS, "
                 "`!important`, max-width) — repeated token-less spacers excepted"))
def size(res: Resource, s: Signals) -> str | None:
    """A remote image too small to show anything (1x1, 0x0, CSS-sized), not a layout spacer."""
    if s.tiny and not s.spacer and res.kind in SIZED:
        return f"remote image of {s.tiny}"
    return None


@rule("hidden", needs=("hidden", "spacer"),
      fires_when=("a remote load on an element that is never shown: `display:none`, "
                 "`visibility:hidden`, `opacity:0`, zero height with overflow hidden, "
                 "off-screen, on it or an ancestor, and no stylesheet rule can reveal it "
                 "(mobile-only images revealed by a media query are content)"))
def hidden(res: Resource, s: Signals) -> str | None:
    """A remote load on an element no client ever shows (and no stylesheet rule reveals)."""
    if s.hidden and s.hidden[0] == "never" and not s.spacer:
        return f"never shown ({s.hidden[1]}), so its load can only track"
    return None


@rule("css-remote", needs=("print_or_forward", "query_token", "shape"),
      fires_when=("remote stylesheets, CSS loads that fire only when printed or forwarded, web "
                 "fonts with personalised tokens"))
def css_remote(res: Resource, s: Signals) -> str | None:
    """Remote stylesheets, and CSS loads that fire only on print or forward, or carry a token."""
    if res.kind in _SHEETS:
        return "remote stylesheet (loads on open, shows nothing by itself)"
    if res.css_ref is not None and res.css_ref.context == "@unparsed":
        return "remote load in CSS too malformed to read safely"
    if s.print_or_forward:
        return f"CSS load that fires only {s.print_or_forward}"
    if res.kind == _FONT and s.query_token:
        return "web font URL with a personalised token in its query"
    if res.kind == _FONT and s.shape:
        return f"web font from an open-tracking URL ({s.shape})"
    return None


@rule("meta-refresh", needs=(),
      fires_when="a `<meta http-equiv=refresh>` would take the opened message to a remote page")
def meta_refresh(res: Resource, s: Signals) -> str | None:
    """A <meta http-equiv=refresh> that would take the message view to a remote page."""
    if res.needless == "refresh":
        return "navigates the opened message to a remote page"
    return None


_NEEDLESS_REASONS = {
    "iframes": "an embedded page (no mail needs one; it can load anything)",
    "objects": "an embedded object (no mail needs one; it can load anything)",
    "media": "an audio or video source (mail clients do not play them; the load reports the open)",
    "scripts": "a script (mail clients never run one; the load reports the open)",
    "links": "a prefetch, preload, preconnect, icon or manifest link (shows nothing; the load "
             "reports the open)",
    "manifest": "an application cache manifest (shows nothing; the load reports the open)",
}


@rule("needless-element", needs=("kept",),
      fires_when=("a load through an element no mail needs and only a tracker would use: iframes "
                 "and frames (whatever they hold: remote, `data:`, `cid:` or `srcdoc`), objects, "
                 "embeds, applets, audio/video sources, scripts, `<link rel>` other than "
                 "stylesheet (prefetch, preload, icon…), `<html manifest>`; `keep: [iframes, "
                 "media]` in the config judges iframes or audio/video like images instead"))
def needless_element(res: Resource, s: Signals) -> str | None:
    """A load through an element that no mail needs and only a tracker would use."""
    family = res.needless
    if family is not None and family in _NEEDLESS_REASONS and family not in s.kept:
        return _NEEDLESS_REASONS[family]
    return None


RULES = ordered()
RULE_IDS = tuple(r.id for r in RULES)
