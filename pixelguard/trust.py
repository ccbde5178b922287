"""Authentication around the pure core, for the adapters (relay, IMAP, CLI).

The core decides whether an allow-listed sender counts from the message's
Authentication-Results headers whose authserv-id the policy trusts (pixelguard/auth.py).
This module makes pixelguard's own DKIM check one of them, and seals what it changed:

    prepared = trust.prepare(raw, cfg.auth)            # DNS: run it off the event loop
    result = clean_message(prepared.raw, prepared.policy(cfg.policy_for(rcpt)))
    out = trust.finish(prepared, result.raw, cfg.auth)  # what to deliver

- `prepare` verifies DKIM (and any incoming ARC chain) on the bytes exactly as received,
  removes incoming Authentication-Results headers that claim our authserv-id (anyone can
  write one; RFC 8601 section 5), and prepends our own with the result.
- `Prepared.policy(p)` is `p` also trusting our authserv-id, so a DKIM pass aligned with
  From honours `allow.senders` and a DKIM fail voids it, exactly like a trusted upstream
  header. (Trusting it is safe only because `prepare` removed any forged copy: give the
  core `prepared.raw`, never the original, together with that policy.)
- `finish` gives back the original bytes, exactly, when the core changed nothing (no
  findings, or an error: mark it with headers.mark_error as before) — so "nothing to remove
  means byte-identical" still holds end to end, and the sender's DKIM signature, still
  valid, speaks for itself. A changed message keeps our Authentication-Results header and
  is ARC-sealed when `auth.arc` is configured.

How each adapter calls it:
- relay: once per message, inside the executor job that cleans it (relay/cleaning.py's
  clean_or_mark), never on the event loop: DNS may take up to dkim_verify.DNS_BUDGET
  seconds. Recipients share one `prepare`; each policy goes through `prepared.policy`.
- IMAP: per fetched message, before cleaning; APPEND the output of `finish`. Messages with
  nothing to remove are left as they are (only the keyword).
- CLI `clean`/`scan`: the same three calls on the input; `scan` needs only `prepare` and
  `clean_message`. A bare HTML document (no header) passes through `prepare` unchanged.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pixelguard.cache import default as default_cache
from pixelguard.core import clean_message, is_bare_html
from pixelguard.headers import header_end, prepend_header
from pixelguard.model import Policy, Result

if TYPE_CHECKING:  # the pipe filter starts once per message: dkimpy and pydantic load on use
    from pixelguard.cache import Cache
    from pixelguard.config import AuthConfig
    from pixelguard.dkim_verify import DkimOutcome, DnsFunc

__all__ = ["Prepared", "drop_own_results", "finish", "prepare"]


def _log():
    import logging  # only on the rare paths that log: the pipe filter starts per message

    return logging.getLogger("pixelguard.trust")


AR = "Authentication-Results"


@dataclass(frozen=True)
class Prepared:
    """The message to hand the core, and what pixelguard's own check found."""

    raw: bytes  # the input without forged headers of our authserv-id, plus our own header
    original: bytes  # the input as received
    authserv_id: str
    outcome: DkimOutcome | None  # None when not verified (verify_dkim: false, bare HTML)

    @property
    def verified_dkim_domains(self) -> frozenset[str]:
        """d= domains whose signature pixelguard verified itself."""
        return self.outcome.passing_domains if self.outcome else frozenset()

    def policy(self, policy: Policy) -> Policy:
        """`policy`, also trusting the Authentication-Results header pixelguard wrote."""
        if self.outcome is None or self.authserv_id in policy.trusted_authserv_ids:
            return policy
        ids = policy.trusted_authserv_ids + (self.authserv_id,)
        return dataclasses.replace(policy, trusted_authserv_ids=ids)


def prepare(raw: bytes, auth: AuthConfig, dnsfunc: DnsFunc | None = None) -> Prepared:
    """Verify DKIM on `raw` as received and record the result. Does DNS; never raises."""
    if is_bare_html(raw):  # no header to hold a result, nothing signed
        return Prepared(raw, raw, auth.authserv_id, None)
    try:
        cleaned = drop_own_results(raw, auth.authserv_id)
    except Exception as exc:  # noqa: BLE001 - defensive: never lose a message over a header
        _log().warning("could not scan the header for forged results: %s", type(exc).__name__)
        cleaned = raw
    if not auth.verify_dkim:
        return Prepared(cleaned, raw, auth.authserv_id, None)
    from pixelguard import dkim_verify

    outcome = dkim_verify.verify(raw, dnsfunc)
    value = dkim_verify.authentication_results_header(outcome, auth.authserv_id)
    return Prepared(prepend_header(cleaned, AR, value), raw, auth.authserv_id, outcome)


def finish(prepared: Prepared, cleaned: bytes, auth: AuthConfig) -> bytes:
    """The message to deliver, given the core's output for `prepared.raw`.

    Unchanged by the core: the original bytes. Changed: the cleaned bytes (with our
    Authentication-Results header), ARC-sealed when auth.arc is configured. Never raises.
    """
    if cleaned == prepared.raw:
        return prepared.original
    arc = auth.arc
    if arc is None:
        return cleaned
    try:
        with open(arc.key_file, "rb") as fh:  # read per message: a rotated key needs no restart
            key = fh.read(1_000_000)
    except OSError as exc:
        _log().error("ARC seal skipped: cannot read %s: %s", arc.key_file, exc.strerror or exc)
        return cleaned
    from pixelguard import arc_seal

    return arc_seal.seal(
        cleaned,
        domain=arc.domain,
        selector=arc.selector,
        private_key=key,
        authserv_id=auth.authserv_id,
    )


def drop_own_results(raw: bytes, authserv_id: str) -> bytes:
    """`raw` without the Authentication-Results fields that claim `authserv_id`.

    Every other byte is kept. One linear pass over the header block.
    """
    own = authserv_id.strip().lower()
    end = header_end(raw)
    head = raw[:end]
    if AR.lower().encode() not in head.lower():
        return raw
    fields: list[tuple[int, int]] = []  # (start, end) of each field, continuation lines included
    pos = 0
    while pos < end:
        nl = head.find(b"\n", pos)
        stop = end if nl < 0 else nl + 1
        if head[pos : pos + 1] in (b" ", b"\t") and fields:
            fields[-1] = (fields[-1][0], stop)
        else:
            fields.append((pos, stop))
        pos = stop
    from pixelguard.auth import parse_authentication_results  # as core.py: only when needed

    drop: list[tuple[int, int]] = []
    for start, stop in fields:
        name, colon, value = head[start:stop].partition(b":")
        if not colon or name.strip().lower() != AR.lower().encode():
            continue
        parsed = parse_authentication_results(value.decode("latin-1"))
        if parsed is not None and parsed.authserv_id == own:
            drop.append((start, stop))
    if not drop:
        return raw
    _log().info("removed %d incoming %s header(s) claiming our id %s", len(drop), AR, own)
    out = bytearray()
    last = 0
    for start, stop in drop:
        out += raw[last:start]
        last = stop
    out += raw[last:]
    return bytes(out)


def clean_with_trust(raw: bytes, policy: Policy, auth: AuthConfig | None,
                     dnsfunc: DnsFunc | None = None,
                     cache: Cache | None = None) -> tuple[bytes, Result]:
    """The core on one message, for every adapter: (the bytes to deliver, the core's result).

    When it can matter (the policy allows some senders, or auth.arc is set) DKIM is verified
    first on the bytes as received, so an allowed sender counts only with pixelguard's own
    (or a trusted upstream) pass; the result is recorded in an Authentication-Results header,
    and the cleaned message is ARC-sealed when configured. Nothing to remove, or a core
    error: the original bytes (the caller marks an error). `cache`: clean_message's (None:
    the process default); the list files the policy names are read into it first, here, so
    the core reads none.
    """
    cache = cache or default_cache()
    cache.load(policy)
    if auth is None or not (auth.verify_dkim and (policy.allow_senders or auth.arc)):
        result = clean_message(raw, policy, cache)
        return result.raw, result
    prepared = prepare(raw, auth, dnsfunc)
    result = clean_message(prepared.raw, prepared.policy(policy), cache)
    if not result.changed:
        return raw, result
    return finish(prepared, result.raw, auth), result
