"""The recipient's own address inside a URL: plain, percent-encoded, base64, or hashed."""
from __future__ import annotations

import base64
import hashlib
from urllib.parse import quote, unquote


def _b64_fragments(data: bytes) -> set[str]:
    """Base64 text of `data` at each of the three byte alignments it can have inside a longer
    encoded blob (only the characters that depend on `data` alone), std and URL-safe."""
    out: set[str] = set()
    n = len(data)
    for k in range(3):
        enc = base64.b64encode(b"\0" * k + data).decode().rstrip("=")
        first = -(-8 * k // 6)
        last = (8 * (k + n)) // 6
        frag = enc[first:last]
        if len(frag) >= 8:
            out.add(frag)
            out.add(frag.replace("+", "-").replace("/", "_"))
    return out


Forms = tuple[tuple[str, tuple[str, ...]], ...]


def leak_forms(address: str) -> Forms:
    """(form name, needles) for one address. Case-insensitive needles are lower-case."""
    addr = address.strip().lower()
    if "@" not in addr or len(addr) < 5:
        return ()
    raw = addr.encode("utf-8")
    hashes = tuple(
        getattr(hashlib, algo)(raw).hexdigest() for algo in ("md5", "sha1", "sha256")
    )
    return (
        ("plain", (addr,)),
        ("percent-encoded", (quote(addr, safe="").lower(), addr.replace("@", "%40"))),
        ("base64", tuple(sorted(_b64_fragments(raw)))),
        ("hashed (MD5/SHA-1/SHA-256)", hashes),
    )


def recipients_forms(recipients: tuple[str, ...]) -> tuple[Forms, ...]:
    """leak_forms of each recipient (worked out once per document, used for every URL)."""
    return tuple(leak_forms(address) for address in recipients)


def find_leak(url: str, forms: tuple[Forms, ...]) -> str | None:
    """How the URL carries one of the recipients' addresses (`forms`: recipients_forms), or
    None."""
    if not forms:
        return None
    lower = url.lower()
    decoded = unquote(url)
    decoded_lower = decoded.lower()
    for address_forms in forms:
        for form, needles in address_forms:
            for needle in needles:
                if form == "base64":
                    if needle in url or needle in decoded:
                        return f"the recipient address {form}"
                elif needle in lower or needle in decoded_lower:
                    return f"the recipient address {form}"
    return None
