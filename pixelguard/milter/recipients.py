"""One policy for a message with several recipients: the strictest combination of theirs.

A milter edits the single copy the MTA delivers to every recipient, so per-recipient
cleaning is impossible there (the relay and LMTP doors do it). The combination:

- a resource host counts as allowed only when every recipient allows it, and as denied
  when any recipient denies it (a host allowed for bob but not alice is removed);
- an allowed sender counts only when every recipient allows it;
- the elements no mail needs are kept only when every recipient keeps them;
- leak detection looks for every recipient's address;
- `strip` if any recipient asks for it (both actions remove the tracker; strip leaves less);
- the notice is shown when any recipient wants it (it only informs), in the first
  recipient's position and language;
- each links option (unwrap, strip_params, mark, unwrap_security) applies only when every
  recipient turned it on, with only the links lists every recipient has: they change what
  the reader clicks, so nobody gets a change they did not ask for.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

from pixelguard.model import LinkOptions, Policy, host_matches

__all__ = ["StrictestPolicy", "strictest"]


@dataclass(frozen=True)
class StrictestPolicy(Policy):
    """A Policy whose host verdict is the strictest of its members' verdicts."""

    members: tuple[Policy, ...] = ()

    def host_verdict(self, host: str) -> Literal["allow", "deny"] | None:
        verdicts = [m.host_verdict(host) for m in self.members]
        if "deny" in verdicts:
            return "deny"
        if verdicts and all(v == "allow" for v in verdicts):
            return "allow"
        return None


def _covers(own: str, entry: str) -> bool:
    """Every From address the allow entry `entry` admits is admitted by `own` too (an entry
    is a whole address, or a domain with its subdomains, as in auth._sender_matches)."""
    own, entry = own.strip().lower(), entry.strip().lower()
    if "@" in own.lstrip("@"):
        return own == entry
    domain = own.lstrip("@").rstrip(".")
    target = entry.rpartition("@")[2] if "@" in entry.lstrip("@") else entry.lstrip("@").rstrip(".")
    return host_matches(target, domain)


def _common_senders(members: list[Policy]) -> tuple[str, ...]:
    """The allow.senders entries every member's list covers (an entry of one member that
    is an address or subdomain inside another member's domain entry counts for both)."""
    out: list[str] = []
    for member in members:
        for entry in member.allow_senders:
            if entry in out:
                continue
            if all(any(_covers(own, entry) for own in m.allow_senders) for m in members):
                out.append(entry)
    return tuple(out)


def _common_links(members: list[Policy]) -> LinkOptions:
    """The links options every member has on, and the lists every member reads."""
    first = members[0].links
    return LinkOptions(
        **{name: all(getattr(m.links, name) for m in members)
           for name in ("unwrap", "strip_params", "mark", "unwrap_security")},
        lists=tuple(x for x in first.lists if all(x in m.links.lists for m in members)))


def strictest(policies: list[Policy]) -> Policy:
    """One Policy for a message going to all of `policies`' recipients (see the module)."""
    if not policies:
        return Policy()
    unique = list(dict.fromkeys(policies))
    if len(unique) == 1:
        return unique[0]
    first = unique[0]
    recipients = tuple(dict.fromkeys(r for p in unique for r in p.recipients))
    keep = frozenset.intersection(*(p.keep for p in unique))
    return StrictestPolicy(
        **{f.name: getattr(first, f.name) for f in dataclasses.fields(Policy)}
        | {
            "action": "strip" if any(p.action == "strip" for p in unique) else first.action,
            "notice": any(p.notice for p in unique),
            "recipients": recipients,
            "allow_senders": _common_senders(unique),
            "require_auth_for_allow": any(p.require_auth_for_allow for p in unique),
            "keep": keep,
            "extra_lists": tuple(dict.fromkeys(x for p in unique for x in p.extra_lists)),
            "max_html_bytes": min(p.max_html_bytes for p in unique),
            "time_budget": min(p.time_budget for p in unique),
            "links": _common_links(unique),
        },
        members=tuple(unique),
    )
