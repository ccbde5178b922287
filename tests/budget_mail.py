"""Messages for the time budget and the limits: one that takes far longer than a tiny budget,
and the hostile long-host message."""
from __future__ import annotations

HEADERS = (
    "From: news@shop.example\r\nTo: alice@example.org\r\nSubject: {subject}\r\n"
    "Message-ID: <{mid}@shop.example>\r\nMIME-Version: 1.0\r\n"
    "Content-Type: text/html; charset=utf-8\r\n\r\n"
)


def _message(subject: str, mid: str, html: str) -> bytes:
    return (HEADERS.format(subject=subject, mid=mid) + html + "\r\n").encode()


def over_budget_message(images: int = 4_000) -> bytes:
    """A newsletter of `images` tracked images in hidden boxes, each URL different: cleaning
    it takes about a second (two orders of magnitude over a budget of 0.01 s), and
    without a budget it has trackers to remove, so a budget that did not hold would show."""
    rows = "".join(
        f'<div class="c{i % 97}" style="display:none"><img src="https://t.example.net/o/'
        f'{i:08x}a9f3c2e1b7d4f6a8c0e2/{i}.gif" width="1" height="1"></div>\r\n'
        for i in range(images)
    )
    return _message("Weekly offers", "over-budget",
                    f"<html><body><p>Hello</p>\r\n{rows}</body></html>")


def long_host_message(labels: int = 200_000) -> bytes:
    """An image whose host has `labels` dotted labels (a 400 kB message at 200,000)."""
    host = "a." * labels + "example.com"
    html = f'<html><body><p>Hello</p><img src="https://{host}/o.gif" width="600"></body></html>'
    return _message("Long host", "long-host", html)
