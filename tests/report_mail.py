"""A mailbox for `pixelguard report` tests: many messages from many senders over many months,
each cleaned for real by pixelguard (so every X-PixelGuard header is the real one)."""
from __future__ import annotations

import functools
import json
import mailbox
import random
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path

from pixelguard import Policy, clean_message

TRACKERS = Path(__file__).resolve().parents[1] / "pixelguard" / "trackers" / "trackers.json"
CONTENT = '<img src="https://cdn.example/logo.png" width="120" height="40" alt="Logo">'


@functools.cache
def vendor_pixels(count: int = 30) -> tuple[tuple[str, str], ...]:
    """(vendor, a 1x1 <img>) for `count` vendors with a path-precise entry in the shipped list."""
    entries = json.loads(TRACKERS.read_text())["entries"]
    out: dict[str, str] = {}
    for e in entries:
        host, path = e["host"], e["path"]
        if (e["precise"] and e["match"] == "prefix" and path.startswith("/") and "*" not in host
                and host.replace(".", "").replace("-", "").isalnum() and e["vendor"] not in out
                and all(c.isalnum() or c in "/_-.=?&" for c in path)):
            url = f"https://{host}{path}Zx8Qw2Lm9Tb4"
            out[e["vendor"]] = f'<img src="{url}" width="1" height="1" alt="">'
        if len(out) == count:
            break
    return tuple(out.items())


def message(sender: str, date: str, *imgs: str, subject: str = "news") -> bytes:
    body = "<html><body><p>Hello</p>" + "".join(imgs) + "</body></html>"
    return (f"From: News <{sender}>\r\nTo: bob@example.org\r\nDate: {date}\r\n"
            f"Subject: {subject}\r\nMIME-Version: 1.0\r\n"
            f"Content-Type: text/html; charset=utf-8\r\n\r\n{body}\r\n").encode()


def cleaned(raw: bytes) -> bytes:
    result = clean_message(raw, Policy(recipients=("bob@example.org",)))
    assert result.error is None
    return result.raw


def varied_messages(n: int = 300, seed: int = 17) -> list[bytes]:
    """`n` cleaned messages: 60 sender domains, up to 30 vendors, 18 months over two years;
    about one in eight carries no tracker (passes unchanged)."""
    rng = random.Random(seed)
    pixels = vendor_pixels()
    out = []
    for i in range(n):
        year, month = 2025 + (i % 18) // 12, 1 + (i % 18) % 12
        date = format_datetime(datetime(year, month, 1 + i % 28, 10, tzinfo=UTC))
        sender = f"news@mail.sender{rng.randrange(60):02d}.example"
        imgs = [CONTENT]
        if i % 8:
            imgs += [pixels[rng.randrange(len(pixels))][1] for _ in range(1 + rng.randrange(3))]
        out.append(cleaned(message(sender, date, *imgs)))
    return out


def maildir(path: Path, messages: list[bytes]) -> Path:
    box = mailbox.Maildir(str(path), create=True)
    for raw in messages:
        box.add(raw)
    return path
