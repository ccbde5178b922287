"""ARC-seal a message pixelguard changed (RFC 8617, dkimpy's arc_sign).

Cleaning edits the body, so the sender's DKIM signature no longer verifies downstream. An
ARC set says "pixelguard (domain d=) saw these authentication results before it changed
the message, and vouches for that": receivers that trust our domain can use it instead of
the broken signature.

The seal is computed over the cleaned message and carries the results of our own
Authentication-Results header (authserv_id), which the adapter wrote before cleaning
(trust.prepare); its `arc=` result becomes the seal's chain status cv=.
"""
from __future__ import annotations

import logging

import dkim

from pixelguard.headers import line_ending

__all__ = ["SealError", "load_private_key", "seal"]

log = logging.getLogger("pixelguard.arc")


class SealError(Exception):
    """The key cannot be used for sealing (raised only by load_private_key)."""


def load_private_key(data: bytes) -> bytes:
    """An RSA private key in PEM form (PKCS#1 or PKCS#8) as dkimpy wants it; else SealError."""
    from dkim.crypto import UnparsableKeyError, parse_pem_private_key

    key = data.replace(b"\r\n", b"\n")  # dkimpy finds the base64 between "--\n" and "\n--"
    try:
        parse_pem_private_key(key)
    except (UnparsableKeyError, ValueError, TypeError, IndexError) as exc:
        raise SealError(
            "not an unencrypted RSA private key in PEM form (PKCS#1 or PKCS#8)"
        ) from exc
    return key


def seal(
    raw: bytes, *, domain: str, selector: str, private_key: bytes, authserv_id: str
) -> bytes:
    """`raw` with an ARC set (ARC-Seal, ARC-Message-Signature, ARC-Authentication-Results)
    prepended, signed as d=`domain` s=`selector`.

    The results sealed are those of the message's Authentication-Results header(s) from
    `authserv_id`; without one there is nothing to vouch for and nothing is added. Never
    raises: on any failure the input comes back unchanged and the reason is logged.
    """
    try:
        key = load_private_key(private_key)
        headers = dkim.arc_sign(
            raw,
            selector.encode("ascii"),
            domain.encode("ascii"),
            key,
            authserv_id.encode("ascii"),
            linesep=line_ending(raw),
        )
    except SealError as exc:
        log.error("ARC seal skipped: the key for %s._domainkey.%s is %s", selector, domain, exc)
        return raw
    except Exception as exc:  # noqa: BLE001 - sealing must never lose or delay a message
        log.error("ARC seal skipped: %s: %s", type(exc).__name__, str(exc)[:200])
        return raw
    if not headers:
        log.warning(
            "ARC seal skipped: no Authentication-Results header from %s (or an ARC chain "
            "without an arc= result) in the message",
            authserv_id,
        )
        return raw
    return b"".join(headers) + raw
