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

import collections
import dataclasses
from dataclasses import dataclass
from typing import Literal

from pixelguard.model import LinkOptions, Policy

__all__ = ["StrictestPolicy", "strictest"]


@dataclass(frozen=True)
class StrictestPolicy(Policy):
    """A Policy whose host verdict is the strictest of its members' verdicts."""

    members: tuple[Policy, ...] = ()  # one per distinct set of host lists (_host_judges)

    def host_verdict(self, host: str) -> Literal["allow", "deny"] | None:
        verdicts = [m.host_verdict(host) for m in self.members]
        if "deny" in verdicts:
            return "deny"
        if verdicts and all(v == "allow" for v in verdicts):
            return "allow"
        return None


# An allow.senders entry is a whole address, or a domain with its subdomains (as in
# auth._sender_matches). Entry `own` covers entry `e` (admits every From address `e` admits)
# when `own` is the address `e`, or `own`'s domain is `e`'s domain or a parent of it
# (model.host_matches). So `e` is covered by exactly the entries among its keys: its address
# (for an address) and every dot-suffix of its domain.


class _Entries:
    """allow.senders entries read once each (a mailing list's members share most of theirs)."""

    def __init__(self) -> None:
        self._read: dict[str, tuple[str, bool, tuple[str, ...]]] = {}

    def read(self, entry: str) -> tuple[str, bool, tuple[str, ...]]:
        """(the entry normalised, whether it is an address, its domain and every domain that
        domain is a subdomain of by model.host_matches)."""
        found = self._read.get(entry)
        if found is None:
            norm = entry.strip().lower()
            if "@" in norm.lstrip("@"):
                found = (norm, True, _parents(norm.rpartition("@")[2]))
            else:
                found = (norm, False, _parents(norm.lstrip("@").rstrip(".")))
            self._read[entry] = found
        return found

    def keys(self, entry: str) -> list[tuple[bool, str]]:
        """The entries (as keys) that cover `entry`."""
        norm, address, parents = self.read(entry)
        keys = [(False, d) for d in parents]
        return [(True, norm), *keys] if address else keys

    def own_keys(self, senders: tuple[str, ...]) -> set[tuple[bool, str]]:
        """A member's entries as keys, less those another of its entries covers: then at
        most one of them covers any given entry, so a member counts once per entry."""
        read = [self.read(e) for e in senders]
        domains = {parents[0] for _, address, parents in read if not address}
        keys = {(False, parents[0]) for _, address, parents in read
                if not address and not any(p in domains for p in parents[1:])}
        keys.update((True, norm) for norm, address, parents in read
                    if address and not any(p in domains for p in parents))
        return keys


def _parents(domain: str) -> tuple[str, ...]:
    """`domain` and each domain it is a subdomain of (by model.host_matches: its dot-suffixes)."""
    return (domain, *(domain[i + 1:] for i, c in enumerate(domain) if c == "."))


def _common_senders(members: list[Policy]) -> tuple[str, ...]:
    """The allow.senders entries every member's list covers (an entry of one member that
    is an address or subdomain inside another member's domain entry counts for both), in the
    order they first appear. Linear in the members' entries: each member counts once for the
    keys that cover an entry, so an entry is common when the counts add up to every member."""
    entries = _Entries()
    holding: collections.Counter[tuple[bool, str]] = collections.Counter()
    for senders, count in collections.Counter(m.allow_senders for m in members).items():
        for key in entries.own_keys(senders):
            holding[key] += count
    seen = dict.fromkeys(e for m in members for e in m.allow_senders)
    return tuple(e for e in seen if sum(holding[k] for k in entries.keys(e)) == len(members))


def _host_judges(members: list[Policy]) -> tuple[Policy, ...]:
    """One member for each distinct set of host lists: a host's verdict depends on nothing
    else, and is asked for every remote resource of a message."""
    judges: dict[tuple[tuple[str, ...], ...], Policy] = {}
    for m in members:
        judges.setdefault((m.user_allow_hosts, m.user_deny_hosts, m.default_allow_hosts,
                           m.default_deny_hosts), m)
    return tuple(judges.values())


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
        members=_host_judges(unique),
    )
