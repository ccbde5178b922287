"""pixelguard's own DKIM check (dkimpy), run by the adapters on the original bytes.

Verification needs DNS, so it is I/O and stays out of the pure core: an adapter calls
`verify(raw)` before cleaning, records the outcome in an Authentication-Results header of
its own authserv-id (`authentication_results_header`), and hands the passing domains to
the trust decision (see pixelguard/trust.py).

Never raises: a DNS failure is `temperror`, a malformed signature or key `permerror`, a
signature that does not match the message `fail`. Reasons are our own fixed sentences,
never text from the message or from dkimpy's exceptions (those carry attacker bytes).
"""
from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

import dkim
from dkim.canonicalization import CanonicalizationPolicy
from dkim.util import InvalidTagValueList, parse_tag_value

__all__ = [
    "DkimOutcome",
    "DnsFunc",
    "Signature",
    "authentication_results_header",
    "dns_txt",
    "verify",
]

log = logging.getLogger("pixelguard.dkim")

#: (name: bytes, timeout: float) -> the TXT record's bytes, or None when there is none.
#: Raising means "DNS did not answer" (temperror). The same shape as dkimpy's dnsfunc.
DnsFunc = Callable[..., bytes | None]

MAX_SIGNATURES = 5  # verify at most this many DKIM-Signature fields (each may cost a lookup)
DNS_BUDGET = 10.0  # seconds of DNS for one message, all lookups together
DNS_TIMEOUT = 5.0  # seconds for one lookup
_DOMAIN = re.compile(r"[a-z0-9_-]+(?:\.[a-z0-9_-]+)*")  # d= and s=: labels joined by dots


@dataclass(frozen=True)
class Signature:
    """The verdict on one DKIM-Signature field."""

    domain: str  # d=, lower-case ("" when the signature has no readable d=)
    selector: str  # s= ("" when unreadable)
    result: str  # pass | fail | policy | permerror | temperror (RFC 8601 dkim results)
    reason: str  # one short sentence of our own
    b: str = ""  # the first 8 characters of b= (RFC 6008 header.b), to tell signatures apart


@dataclass(frozen=True)
class DkimOutcome:
    """All DKIM signatures of one message, plus the verdict on an incoming ARC chain."""

    signatures: tuple[Signature, ...] = ()
    arc: str = "none"  # pass | fail | none: the chain the message arrived with (RFC 8617)

    @property
    def result(self) -> str:
        """'pass' if any signature passed, 'none' if there is none, else the first result."""
        if not self.signatures:
            return "none"
        if any(s.result == "pass" for s in self.signatures):
            return "pass"
        return self.signatures[0].result

    @property
    def passing_domains(self) -> frozenset[str]:
        """The d= domains of the signatures that verified."""
        return frozenset(s.domain for s in self.signatures if s.result == "pass" and s.domain)


def dns_txt(name: bytes, timeout: float = DNS_TIMEOUT) -> bytes | None:
    """The first TXT record of `name` with dnspython; None when the name has none.

    Unlike dkimpy's own lookup, a server failure (SERVFAIL, no name server answering) is
    raised, so it becomes temperror and not a missing key (permerror).
    """
    import dns.exception
    import dns.rdatatype
    import dns.resolver

    try:
        qname = name.decode("ascii")
    except UnicodeDecodeError:
        return None
    try:
        answer = dns.resolver.resolve(
            qname, dns.rdatatype.TXT, lifetime=timeout, raise_on_no_answer=False, search=False
        )
    except dns.resolver.NXDOMAIN:
        return None
    for rrset in answer.response.answer:
        if rrset.rdtype == dns.rdatatype.TXT:
            for rdata in rrset:
                return b"".join(rdata.strings)
    return None


class _Lookups:
    """Wraps a dnsfunc: a time budget for the whole message, and what went wrong last."""

    def __init__(self, dnsfunc: DnsFunc, budget: float) -> None:
        self.dnsfunc = dnsfunc
        self.deadline = time.monotonic() + budget
        self.reset()

    def reset(self) -> None:
        self.unanswered = False  # DNS raised or the budget was spent: temperror
        self.no_key = False  # no TXT record: permerror
        self.bad_key = False  # a record that is not a usable key: permerror

    def __call__(self, name: bytes, timeout: float = DNS_TIMEOUT) -> bytes | None:
        left = self.deadline - time.monotonic()
        if left <= 0:
            self.unanswered = True
            raise dkim.DnsTimeoutError("DNS time budget for this message spent")
        try:
            txt = self.dnsfunc(name, timeout=min(timeout, left))
        except Exception as exc:  # noqa: BLE001 - any lookup failure is a temporary error
            self.unanswered = True
            raise dkim.DnsTimeoutError(type(exc).__name__) from None
        if isinstance(txt, str):
            txt = txt.encode("utf-8", "replace")
        if not txt:
            self.no_key = True
            return None
        try:
            dkim.evaluate_pk(name, txt)
        except Exception:  # noqa: BLE001 - dkimpy will refuse it too; we only want to know why
            self.bad_key = True
        return txt


class _QuietLogger:
    """dkimpy logs every failed signature at error level; for a filter that is routine."""

    def __getattr__(self, _name: str) -> Callable[..., None]:
        return lambda *a, **k: log.debug(*a) if a else None


def verify(raw: bytes, dnsfunc: DnsFunc | None = None) -> DkimOutcome:
    """Verify every DKIM signature (up to MAX_SIGNATURES) and any ARC chain on `raw`.

    `raw` must be the message exactly as received. `dnsfunc` defaults to `dns_txt`
    (real DNS); tests pass their own. Never raises.
    """
    lookups = _Lookups(dnsfunc or dns_txt, DNS_BUDGET)
    try:
        signatures = _verify_dkim(raw, lookups)
    except Exception as exc:  # noqa: BLE001 - never break delivery over a signature
        log.warning("DKIM verification failed internally: %s", type(exc).__name__)
        signatures = (Signature("", "", "temperror", "the verifier failed"),)
    try:
        arc = _verify_arc(raw, lookups)
    except Exception as exc:  # noqa: BLE001 - never break delivery over an ARC chain
        log.warning("ARC verification failed internally: %s", type(exc).__name__)
        arc = "fail"
    return DkimOutcome(signatures, arc)


def _verify_dkim(raw: bytes, lookups: _Lookups) -> tuple[Signature, ...]:
    try:
        d = dkim.DKIM(raw, logger=_QuietLogger(), timeout=DNS_TIMEOUT)
    except Exception:  # noqa: BLE001 - dkimpy's parser raises more than DKIMException
        if b"dkim-signature" in raw[:65536].lower():
            return (Signature("", "", "permerror", "the message header cannot be parsed"),)
        return ()
    count = sum(1 for name, _ in d.headers if name.lower() == b"dkim-signature")
    if count > MAX_SIGNATURES:
        log.debug("message has %d DKIM signatures; verifying the first %d", count, MAX_SIGNATURES)
    return tuple(_one(d, i, lookups) for i in range(min(count, MAX_SIGNATURES)))


def _clean(value: bytes | None) -> str:
    """A d= or s= value we are willing to write into a header, or ''."""
    text = (value or b"").decode("ascii", "replace").strip().lower().rstrip(".")
    return text if len(text) <= 253 and _DOMAIN.fullmatch(text) else ""


def _one(d: dkim.DKIM, idx: int, lookups: _Lookups) -> Signature:
    """Verify signature number idx (0 = topmost) of an already parsed message."""
    lookups.reset()
    sigheaders = [(x, y) for x, y in d.headers if x.lower() == b"dkim-signature"]
    try:
        tags = parse_tag_value(sigheaders[idx][1])
    except (InvalidTagValueList, ValueError, KeyError, IndexError):
        return Signature("", "", "permerror", "the signature field cannot be parsed")
    domain, selector = _clean(tags.get(b"d")), _clean(tags.get(b"s"))
    b = re.sub(rb"\s+", b"", tags.get(b"b", b""))[:8].decode("ascii", "replace")
    b = b if re.fullmatch(r"[A-Za-z0-9+/=]*", b) else ""

    def verdict(result: str, reason: str) -> Signature:
        return Signature(domain, selector, result, reason, b)

    if not domain or not selector:
        return verdict("permerror", "the signature has no valid d= or s= tag")
    if tags.get(b"a", b"").strip().lower() == b"rsa-sha1":
        return verdict("permerror", "rsa-sha1 signatures are not accepted (RFC 8301)")
    try:
        prep = d.verify_headerprep(idx)
    except dkim.DKIMException:
        return verdict("permerror", "the signature is malformed or expired")
    if not prep:
        return verdict("permerror", "the signature cannot be read")
    sig, include_headers, headers = prep
    try:
        ok = d.verify_sig(sig, include_headers, headers[idx], lookups)
    except dkim.ValidationError:
        return verdict("fail", "the body does not match the signature (body hash)")
    except dkim.DKIMException:
        if lookups.unanswered:
            return verdict("temperror", "the key could not be fetched from DNS")
        return verdict("permerror", "the key or the signature is unusable")
    if ok:
        if b"l" in sig and not _covers_whole_body(d, sig):
            # RFC 6376 8.2: content appended after l= bytes is unsigned; it could carry trackers.
            return verdict("policy", "the signature covers only part of the body (l=)")
        return verdict("pass", "the signature verified")
    if lookups.unanswered:
        return verdict("temperror", "the key could not be fetched from DNS")
    if lookups.no_key:
        return verdict("permerror", "no key published for this selector")
    if lookups.bad_key:
        return verdict("permerror", "the published key is unusable")
    return verdict("fail", "the signature does not match the message")


def _covers_whole_body(d: dkim.DKIM, sig: dict[bytes, bytes]) -> bool:
    try:
        policy = CanonicalizationPolicy.from_c_value(sig.get(b"c", b"simple/simple"))
        return int(sig[b"l"]) >= len(policy.canonicalize_body(d.body))
    except Exception:  # noqa: BLE001 - a bad c= or l= tag: the body is not known to be covered
        return False


def _verify_arc(raw: bytes, lookups: _Lookups) -> str:
    """pass | fail | none for the ARC chain the message arrived with."""
    head = raw[:262144].lower()
    if b"arc-seal" not in head and b"arc-message-signature" not in head:
        return "none"
    lookups.reset()
    cv, _results, _reason = dkim.arc_verify(raw, logger=_QuietLogger(), dnsfunc=lookups)
    if cv == dkim.CV_Pass:
        return "pass"
    if cv == dkim.CV_None:
        return "none"
    return "fail"  # includes a failed lookup: ARC has no temperror a later sealer could carry


def _quote(text: str) -> str:
    text = "".join(c if 32 <= ord(c) < 127 else "?" for c in text)
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def authentication_results_header(outcome: DkimOutcome, authserv_id: str) -> str:
    """The value of an RFC 8601 Authentication-Results header for `outcome`.

    E.g. `mx.example.org; dkim=pass reason="the signature verified" header.d=shop.example
    header.s=s1 header.b="AbCd/123"; arc=none`. One resinfo per signature, `dkim=none` when
    there is none; `arc=` always (an ARC sealer reads its chain status from it).
    """
    parts = [authserv_id]
    for s in outcome.signatures:
        item = f"dkim={s.result} reason={_quote(s.reason)}"
        if s.domain:
            item += f" header.d={s.domain}"
        if s.selector:
            item += f" header.s={s.selector}"
        if s.b:
            item += f" header.b={_quote(s.b)}"
        parts.append(item)
    if not outcome.signatures:
        parts.append("dkim=none")
    parts.append(f"arc={outcome.arc}")
    return "; ".join(parts)
