"""When is an allow-listed sender trusted? From + Authentication-Results (RFC 8601).

An allowed sender (address or domain of From) only counts when the message's
authentication supports it: a `dkim=pass` aligned with the From domain or a `dmarc=pass`
for it, in an Authentication-Results header whose authserv-id the admin trusts. Headers
from any other authserv-id are ignored: anyone can write them. The trusted MTA is expected
to remove incoming Authentication-Results headers that carry its own authserv-id (RFC 8601
section 5), as Postfix+OpenDKIM/OpenDMARC, rspamd and Exim do.
"""
from __future__ import annotations

import email.utils
from collections.abc import Iterable
from dataclasses import dataclass, field
from email.message import Message

from pixelguard.model import Policy, host_matches

__all__ = ["AuthResult", "ResInfo", "parse_authentication_results", "sender_allowed"]

_MAX_HEADER = 64 * 1024  # longer Authentication-Results values are cut (they are not legitimate)


@dataclass(frozen=True)
class ResInfo:
    """One `method=result prop=value ...` clause of an Authentication-Results header."""

    method: str  # lower-case, version dropped ("dkim/1" -> "dkim")
    result: str  # lower-case
    props: dict[str, str] = field(default_factory=dict, hash=False)  # "header.d" -> value


@dataclass(frozen=True)
class AuthResult:
    """One parsed Authentication-Results header."""

    authserv_id: str  # lower-case
    results: tuple[ResInfo, ...]


def _tokens(value: str) -> list[tuple[str, str, bool]]:
    """Split a header value into (kind, text, glued) tokens, dropping comments.

    kind is "word", "quoted", "=" or ";"; glued is True when no whitespace or comment
    separates the token from the previous one. A single linear scan, never raising.
    """
    out: list[tuple[str, str, bool]] = []
    i, n = 0, len(value)
    glued = False
    specials = "();=\""
    while i < n:
        c = value[i]
        if c.isspace():
            i += 1
            glued = False
        elif c == "(":  # comment, may nest, backslash quotes one character
            depth = 0
            while i < n:
                c = value[i]
                if c == "\\":
                    i += 2
                    continue
                if c == "(":
                    depth += 1
                elif c == ")":
                    depth -= 1
                    if depth == 0:
                        i += 1
                        break
                i += 1
            glued = False
        elif c == ")":  # stray closer: ignore
            i += 1
            glued = False
        elif c == '"':
            i += 1
            chars: list[str] = []
            while i < n and value[i] != '"':
                if value[i] == "\\" and i + 1 < n:
                    i += 1
                chars.append(value[i])
                i += 1
            i += 1  # closing quote (or end of text)
            out.append(("quoted", "".join(chars), glued))
            glued = True
        elif c in ";=":
            out.append((c, c, glued))
            i += 1
            glued = True
        else:
            start = i
            while i < n and not value[i].isspace() and value[i] not in specials:
                i += 1
            out.append(("word", value[start:i], glued))
            glued = True
    return out


def _parse_resinfo(tokens: list[tuple[str, str, bool]]) -> ResInfo | None:
    """`method[/version] = result [reason=...] [ptype.prop=value ...]`, or None if not that."""
    values = ("word", "quoted")
    if len(tokens) < 3 or tokens[0][0] != "word" or tokens[1][0] != "=":
        return None
    if tokens[2][0] not in values:
        return None
    method = tokens[0][1].split("/", 1)[0].strip().lower()
    result = tokens[2][1].strip().lower()
    props: dict[str, str] = {}
    i = 3
    while i < len(tokens):
        kind, text, _ = tokens[i]
        pair = i + 2 < len(tokens) and tokens[i + 1][0] == "=" and tokens[i + 2][0] in values
        if kind == "word" and pair:
            key = text.lower()
            val = tokens[i + 2][1]
            i += 3
            # Base64 padding (header.b=abc==) tokenises as glued "=": it belongs to the value.
            while i < len(tokens) and tokens[i][0] == "=" and tokens[i][2]:
                val += "="
                i += 1
            props.setdefault(key, val.strip())
        else:
            i += 1
    return ResInfo(method, result, props)


def parse_authentication_results(value: str) -> AuthResult | None:
    """Parse one Authentication-Results value (RFC 8601); None when it has no authserv-id."""
    try:
        tokens = _tokens(str(value)[:_MAX_HEADER])
    except Exception:  # noqa: BLE001 - a header must never break delivery
        return None
    groups: list[list[tuple[str, str, bool]]] = [[]]
    for tok in tokens:
        if tok[0] == ";":
            groups.append([])
        else:
            groups[-1].append(tok)
    head = groups[0]
    if not head or head[0][0] not in ("word", "quoted") or not head[0][1].strip():
        return None
    authserv_id = head[0][1].strip().lower()
    results = tuple(r for r in (_parse_resinfo(g) for g in groups[1:]) if r is not None)
    return AuthResult(authserv_id, results)


def _from_address(headers: Message) -> tuple[str | None, str]:
    """The single From address (lower-case) or None with the reason."""
    try:
        values = headers.get_all("From") or []
    except Exception:  # noqa: BLE001 - the email package's header errors vary; a reason is enough
        return None, "the From header cannot be read"
    if not values:
        return None, "the message has no From header"
    if len(values) > 1:
        return None, "the message has more than one From header"
    try:
        pairs = email.utils.getaddresses([str(values[0])])
    except Exception:  # noqa: BLE001 - getaddresses raises more than one kind on hostile input
        return None, "the From header cannot be parsed"
    addrs = [a for _, a in pairs if a]
    if len(addrs) != 1:
        return None, "the From header does not hold exactly one address"
    addr = addrs[0].strip().lower()
    local, at, domain = addr.rpartition("@")
    domain = domain.rstrip(".")
    if not at or not local or not domain or "." not in domain or any(c.isspace() for c in addr):
        return None, f"the From address {addr!r} is not usable"
    return f"{local}@{domain}", ""


def _aligned(signing_domain: str, from_domain: str) -> bool:
    """Relaxed alignment as far as we can tell without a public-suffix list: the signing
    domain is the From domain or a parent of it, and not a bare top-level label."""
    d = signing_domain.strip().lower().rstrip(".").lstrip("@")
    return "." in d and host_matches(from_domain, d)


def _dkim_domain(info: ResInfo) -> str:
    d = info.props.get("header.d")
    if d:
        return d.strip().lower()
    i = info.props.get("header.i", "")
    return i.rpartition("@")[2].strip().lower()


def _verdicts(
    results: Iterable[AuthResult], trusted: set[str], from_domain: str
) -> tuple[list[str], list[str]]:
    """Descriptions of aligned passes and fails in trusted headers."""
    passes: list[str] = []
    fails: list[str] = []
    for ar in results:
        if ar.authserv_id not in trusted:
            continue
        for info in ar.results:
            if info.method == "dkim":
                d = _dkim_domain(info)
                if not d or not _aligned(d, from_domain):
                    continue
                what = f"dkim={info.result} (d={d}) from {ar.authserv_id}"
            elif info.method == "dmarc":
                hf = info.props.get("header.from", "").strip().lower().rstrip(".")
                hf = hf.rpartition("@")[2]  # some write the whole address
                if hf and hf != from_domain:
                    continue
                if not hf and info.result != "fail":
                    continue  # a pass must say for which domain; a fail without one still counts
                what = f"dmarc={info.result} (header.from={hf or '?'}) from {ar.authserv_id}"
            else:
                continue
            if info.result == "pass":
                passes.append(what)
            elif info.result == "fail":
                fails.append(what)
    return passes, fails


def sender_allowed(
    headers: Message,
    policy: Policy,
    own_dkim_domains: frozenset[str] | set[str] = frozenset(),
) -> tuple[bool, str]:
    """(allowed, one-line reason): does the policy's sender allow list apply to this message?

    `own_dkim_domains` is the hook for pixelguard's own DKIM verification: the d= domains of
    signatures it verified itself. They count like a trusted dkim=pass.
    Never raises.
    """
    try:
        return _sender_allowed(headers, policy, own_dkim_domains)
    except Exception as exc:  # noqa: BLE001 - defensive: a header must never break delivery
        return False, f"sender not trusted: headers could not be checked ({type(exc).__name__})"


def _sender_matches(addr: str, domain: str, entry: str) -> bool:
    """An allow entry is a whole address, or a domain covering its subdomains."""
    entry = entry.strip().lower()
    if "@" in entry.lstrip("@"):
        return entry == addr
    return host_matches(domain, entry.lstrip("@").rstrip("."))


def _sender_allowed(
    headers: Message, policy: Policy, own_dkim_domains: frozenset[str] | set[str]
) -> tuple[bool, str]:
    if not policy.allow_senders:
        return False, "no allowed senders configured"
    addr, why = _from_address(headers)
    if addr is None:
        return False, f"sender not trusted: {why}"
    domain = addr.rpartition("@")[2]
    entry = next((e for e in policy.allow_senders if _sender_matches(addr, domain, e)), None)
    if entry is None:
        return False, f"sender {addr} is not on the allow list"

    trusted = {t.lower() for t in policy.trusted_authserv_ids}
    parsed: list[AuthResult] = []
    try:
        values = headers.get_all("Authentication-Results") or []
    except Exception:  # noqa: BLE001 - an unreadable header: no trusted result, no allow
        values = []
    for value in values:
        ar = parse_authentication_results(str(value))
        if ar is not None:
            parsed.append(ar)
    passes, fails = _verdicts(parsed, trusted, domain)
    own = sorted(d for d in own_dkim_domains if _aligned(d, domain))
    passes += [f"pixelguard's own DKIM check (d={d})" for d in own]
    # A trusted fail says From is forged: it voids the allow even when auth is not required.
    if fails:
        return False, f"sender {addr} is allowed ({entry}) but authentication failed: {fails[0]}"
    if not policy.require_auth_for_allow:
        return True, f"sender {addr} is allowed ({entry}); authentication not required"
    if passes:
        return True, f"sender {addr} is allowed ({entry}) and authenticated: {passes[0]}"
    if not trusted and not own_dkim_domains:
        return False, f"sender {addr} is allowed ({entry}) but no trusted authserv-id is configured"
    return False, f"sender {addr} is allowed ({entry}) but no trusted DKIM/DMARC pass for {domain}"
