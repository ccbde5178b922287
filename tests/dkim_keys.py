"""DKIM test keys and an offline DNS for them, shared by tests/test_dkim_arc.py and
tests/e2e/test_imap_hardening.py (import as `from dkim_keys import ...`)."""

from __future__ import annotations

import base64
from collections.abc import Callable


def rsa_key() -> tuple[bytes, bytes]:
    """(private PEM, DNS TXT record) of a fresh 2048-bit RSA key."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    k = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = k.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    spki = k.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return pem, b"v=DKIM1; k=rsa; p=" + base64.b64encode(spki)


def zone_dnsfunc(zone: dict[bytes, bytes]) -> Callable[..., bytes | None]:
    """A dnsfunc answering TXT lookups from `zone` (no network); `dnsfunc.asked` records every
    name asked for."""

    def dnsfunc(name: bytes, timeout: float = 5) -> bytes | None:
        dnsfunc.asked.append(name)
        return zone.get(name)

    dnsfunc.asked = []
    return dnsfunc
