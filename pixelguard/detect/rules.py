"""Detection rules. Each is a small function with a stable id (the Finding.rule) and a one-line
docstring; it reads the Signals of one resource and returns a reason sentence or None.
They are tried in the order of RULES; the first that fires names the finding.
"""
from __future__ import annotations

from typing import Callable, NamedTuple

from pixelguard.detect.vectors import Resource
from pixelguard.trackers import TrackerMatch


class Signals(NamedTuple):
    """Facts about one remote resource, computed once, shared by every rule."""

    host: str
    tiny: str | None  # why it is too small to show anything ("1x1 px"), or None
    unsized: bool  # an image with no stated width or height anywhere
    hidden: tuple[str, str] | None  # ("never"|"revealable", reason) for it or an ancestor
    known: TrackerMatch | None  # shipped or user list entry that matches the URL
    shape: str | None  # generic open-tracking URL shape
    token: bool  # an opaque per-message/per-recipient token in the URL
    query_token: bool  # such a token in the query string
    leak: str | None  # how the URL carries the recipient's address
    host_verdict: str | None  # "allow" | "deny" | None from the user's lists
    spacer: bool  # repeated, token-less or spacer-named: a layout spacer
    print_or_forward: str | None  # CSS that applies only when printed or forwarded
    kept: frozenset[str] = frozenset()  # families of needless elements the policy keeps
    over_limit: str | None = None  # why the URL is past a limit (urls.over_limit)


Rule = Callable[[Resource, Signals], "str | None"]
RULES: list[tuple[str, Rule]] = []


def rule(rule_id: str) -> Callable[[Rule], Rule]:
    def register(fn: Rule) -> Rule:
        RULES.append((rule_id, fn))
        fn.rule_id = rule_id  # type: ignore[attr-defined]
        return fn

    return register


@rule("over-limit")
def over_limit(res: Resource, s: Signals) -> str | None:
    """A URL past a documented limit (host over 253 octets, a label over 63, URL over 32 KiB)."""
    if s.over_limit:
        return f"{s.over_limit}: no real resource needs it, removed unchecked"
    return None


@rule("deny-list")
def deny_list(res: Resource, s: Signals) -> str | None:
    """The resource's host is on the recipient's deny list."""
    if s.host_verdict == "deny":
        return f"{s.host} is on your deny list"
    return None


@rule("recipient-leak")
def recipient_leak(res: Resource, s: Signals) -> str | None:
    """The URL carries the recipient's address (plain, encoded or hashed)."""
    if s.leak:
        return f"the URL carries {s.leak}"
    return None


@rule("known-tracker")
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


@rule("url-shape")
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


@rule("size")
def size(res: Resource, s: Signals) -> str | None:
    """A remote image too small to show anything (1x1, 0x0, CSS-sized), not a layout spacer."""
    if s.tiny and not s.spacer and res.kind in ("image", "background", "media"):
        return f"remote image of {s.tiny}"
    return None


@rule("hidden")
def hidden(res: Resource, s: Signals) -> str | None:
    """A remote load on an element no client ever shows (and no stylesheet rule reveals)."""
    if s.hidden and s.hidden[0] == "never" and not s.spacer:
        return f"never shown ({s.hidden[1]}), so its load can only track"
    return None


@rule("css-remote")
def css_remote(res: Resource, s: Signals) -> str | None:
    """Remote stylesheets, and CSS loads that fire only on print or forward, or carry a token."""
    if res.kind in ("stylesheet", "import"):
        return "remote stylesheet (loads on open, shows nothing by itself)"
    if res.css_ref is not None and res.css_ref.context == "@unparsed":
        return "remote load in CSS too malformed to read safely"
    if s.print_or_forward:
        return f"CSS load that fires only {s.print_or_forward}"
    if res.kind == "font" and s.query_token:
        return "web font URL with a personalised token in its query"
    if res.kind == "font" and s.shape:
        return f"web font from an open-tracking URL ({s.shape})"
    return None


@rule("meta-refresh")
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


@rule("needless-element")
def needless_element(res: Resource, s: Signals) -> str | None:
    """A load through an element that no mail needs and only a tracker would use."""
    family = res.needless
    if family is not None and family in _NEEDLESS_REASONS and family not in s.kept:
        return _NEEDLESS_REASONS[family]
    return None


RULE_IDS = tuple(rule_id for rule_id, _ in RULES)
