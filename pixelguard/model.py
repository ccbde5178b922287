"""Value types shared by the core and its adapters: Finding, LinkChange, Result, Policy."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Action = Literal["strip", "rewrite"]
NoticePosition = Literal["top", "bottom"]


@dataclass(frozen=True)
class Finding:
    """One remote resource judged to be a tracker (contract: see DESIGN.md)."""

    url: str  # absolute, entities decoded; protocol-relative made https:
    rule: str  # stable rule id: size, hidden, known-tracker, url-shape, recipient-leak, css-remote, deny-list
    vendor: str | None  # e.g. "Mailchimp"
    where: str  # e.g. "img[src]", "td[background]", "style@import", "vml v:fill[src]"
    part: str  # MIME part path such as "1.2" ("1" for a single-part message)
    reason: str  # one human sentence

    def as_dict(self) -> dict[str, str | None]:
        return {
            "url": self.url,
            "rule": self.rule,
            "vendor": self.vendor,
            "where": self.where,
            "part": self.part,
            "reason": self.reason,
        }


LinkAction = Literal["unwrapped", "stripped", "marked"]


@dataclass(frozen=True)
class LinkChange:
    """One edit of a link (see pixelguard/links): not a tracker finding. A link both unwrapped
    and stripped of parameters gives one change of each kind."""

    action: LinkAction  # unwrapped: the redirector removed; stripped: parameters removed;
    # marked: a title says the link reports the click (href unchanged)
    url: str  # the href as it was (entities decoded)
    new_url: str | None  # the href now (None for marked)
    vendor: str | None  # the redirector's or click tracker's vendor (None for stripped)
    part: str  # MIME part path
    where: str  # "a[href]" or "area[href]"

    def as_dict(self) -> dict[str, str | None]:
        return {"action": self.action, "url": self.url, "new_url": self.new_url,
                "vendor": self.vendor, "part": self.part, "where": self.where}


@dataclass(frozen=True)
class Result:
    """What clean_message returns: the (possibly) cleaned bytes and what was found.

    `error` is None on success; otherwise `raw` is the input, unchanged, and `error`
    says why it could not be cleaned.
    """

    raw: bytes
    findings: list[Finding] = field(default_factory=list)
    error: str | None = None
    skipped: list[str] = field(default_factory=list)  # parts left unchecked (e.g. over a size limit)
    links: list[LinkChange] = field(default_factory=list)  # link edits (policy.links), not trackers

    @property
    def changed(self) -> bool:
        return bool(self.findings or self.links) and self.error is None


def host_matches(host: str, entry: str) -> bool:
    """True when `host` is `entry` or one of its subdomains (both lower-case)."""
    return host == entry or host.endswith("." + entry)


@dataclass(frozen=True)
class LinkOptions:
    """What is done to the links of a message (all opt-in; see docs/links.md)."""

    unwrap: bool = False  # replace a redirect link by the destination it carries
    strip_params: bool = False  # remove parameters that only identify campaign or recipient
    mark: bool = False  # a title on links that still report the click
    unwrap_security: bool = False  # unwrap security wrappers (Safe Links, URL Defense) too
    lists: tuple[str, ...] = ()  # user lists of redirectors/parameters (ours or ClearURLs)

    @property
    def active(self) -> bool:
        """Anything to do at all (else pixelguard.links is not even imported)."""
        return self.unwrap or self.strip_params or self.mark


@dataclass(frozen=True)
class Policy:
    """Everything one recipient's cleaning depends on. Built by config.policy_for(addr).

    Host lists are already merged from defaults and the user's own section:
    `user_allow_hosts`/`user_deny_hosts` beat `default_*` ones; within one level the
    more specific (longer) entry wins and deny wins a tie.
    """

    action: Action = "strip"
    notice: bool = True
    # where the notice goes (both keep the inbox preview; see notice/placement.py)
    notice_position: NoticePosition = "top"
    notice_language: str | None = None  # a supported language; None: the message's own
    # the folder that keeps the unchanged original (IMAP), named in the notice; None: none kept
    originals_folder: str | None = None
    recipients: tuple[str, ...] = ()  # addresses whose leak in a URL we look for
    default_allow_hosts: tuple[str, ...] = ()
    default_deny_hosts: tuple[str, ...] = ()
    user_allow_hosts: tuple[str, ...] = ()
    user_deny_hosts: tuple[str, ...] = ()
    allow_senders: tuple[str, ...] = ()  # addresses or domains (From), trusted only when authenticated
    trusted_authserv_ids: tuple[str, ...] = ()
    require_auth_for_allow: bool = True
    extra_lists: tuple[str, ...] = ()  # paths of extra tracker lists (our format or Adblock Plus)
    max_html_bytes: int = 16 * 1024 * 1024  # larger HTML parts pass through unchecked (and say so)
    time_budget: float = 20.0  # seconds of cleaning per message; past it the message passes unchanged
    # families of elements no mail needs that this recipient keeps ("iframes", "media"):
    # their loads are then judged like images instead of removed
    keep: frozenset[str] = frozenset()
    links: LinkOptions = LinkOptions()  # click tracking: unwrap, strip parameters, mark

    def host_verdict(self, host: str) -> Literal["allow", "deny"] | None:
        """'allow', 'deny' or None for a resource host, by the precedence rules above."""
        if not (self.user_allow_hosts or self.user_deny_hosts or self.default_allow_hosts
                or self.default_deny_hosts):
            return None
        host = host.lower().rstrip(".")
        for allow, deny in (
            (self.user_allow_hosts, self.user_deny_hosts),
            (self.default_allow_hosts, self.default_deny_hosts),
        ):
            best_allow = max((len(e) for e in allow if host_matches(host, e)), default=-1)
            best_deny = max((len(e) for e in deny if host_matches(host, e)), default=-1)
            if best_allow < 0 and best_deny < 0:
                continue
            return "deny" if best_deny >= best_allow else "allow"
        return None
