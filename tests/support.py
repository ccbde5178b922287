"""Shared test helpers: read fixtures, decode the HTML of a cleaned message."""
from __future__ import annotations

import email
import email.policy
import pathlib

FIXTURES = pathlib.Path(__file__).resolve().parent.parent / "fixtures"
BOB = "bob@example.org"
# Not tiny, no open-tracking shape, not on a list: only its being hidden gives it away.
HIDDEN_ONLY_IMG = ('<img src="https://cdn.shop.example/i/Zx8Kq2Lm9Rt4Vb7Np3Wd.gif" '
                   'width="600" height="300">')


def rules_for_body(body: str) -> list[str]:
    """The rule ids of every finding in a one-part HTML mail to BOB with this <body>."""
    from pixelguard import Policy, clean_message

    raw = ("From: a@shop.example\nTo: bob@example.org\nContent-Type: text/html; charset=utf-8\n\n"
           f"<html><body>{body}</body></html>\n").encode()
    return [f.rule for f in clean_message(raw, Policy(recipients=(BOB,))).findings]


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def html_texts(raw: bytes) -> list[str]:
    """Decoded text of every text/html part (including inside attached messages)."""
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    out = []
    for part in msg.walk():
        if part.get_content_type() == "text/html":
            payload = part.get_payload(decode=True) or b""
            charset = part.get_content_charset() or "utf-8"
            try:
                out.append(payload.decode(charset, "replace"))
            except LookupError:
                out.append(payload.decode("utf-8", "replace"))
    return out


def plain_texts(raw: bytes) -> list[str]:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    return [p.get_content() for p in msg.walk() if p.get_content_type() == "text/plain"]


def load_benchmark(name: str):
    """A fresh copy of the script benchmarks/<name>.py as a module (each call loads it anew,
    so one test's changes to its globals never reach another)."""
    import importlib.util
    import sys

    spec = importlib.util.spec_from_file_location(name, FIXTURES.parent / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module
