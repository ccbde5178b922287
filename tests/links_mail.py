"""Helpers for the links tests: one-link documents and messages, cleaned with link options."""
from __future__ import annotations

import html

from pixelguard import clean_message
from pixelguard.model import LinkOptions, Policy, Result

ALL = LinkOptions(unwrap=True, strip_params=True, mark=True)


def policy(notice: bool = False, lang: str | None = None, **options: object) -> Policy:
    opts = LinkOptions(**options) if options else ALL  # type: ignore[arg-type]
    return Policy(links=opts, notice=notice, notice_language=lang)


def doc(body: str) -> bytes:
    return f"<html><body><p>Hello reader</p>{body}</body></html>".encode()


def clean_doc(body: str, **kw: object) -> tuple[str, Result]:
    """The cleaned bare document (no notice unless asked) and the result."""
    r = clean_message(doc(body), policy(**kw))  # type: ignore[arg-type]
    assert r.error is None
    return r.raw.decode(), r


def link(href: str, text: str = "Read more", attrs: str = "") -> str:
    return f'<a{attrs} href="{html.escape(href)}">{text}</a>'


def href_after(href: str, **kw: object) -> str:
    """The href of a one-link document after cleaning (entities decoded)."""
    out, _ = clean_doc(link(href), **kw)
    start = out.index('href="') + 6
    return html.unescape(out[start:out.index('"', start)])


def message(html_body: str, text_body: str | None = None, amp: str | None = None) -> bytes:
    """A message with an HTML part (and a text/plain twin and an AMP part when given)."""
    head = "From: news@shop.example\r\nTo: bob@example.org\r\nSubject: News\r\nMIME-Version: 1.0\r\n"
    if text_body is None and amp is None:
        return (head + "Content-Type: text/html; charset=utf-8\r\n\r\n" + html_body + "\r\n").encode()
    parts = []
    if text_body is not None:
        parts.append("Content-Type: text/plain; charset=utf-8\r\n\r\n" + text_body + "\r\n")
    if amp is not None:
        parts.append("Content-Type: text/x-amp-html; charset=utf-8\r\n\r\n" + amp + "\r\n")
    parts.append("Content-Type: text/html; charset=utf-8\r\n\r\n" + html_body + "\r\n")
    body = "".join(f"--b1\r\n{p}" for p in parts) + "--b1--\r\n"
    return (head + 'Content-Type: multipart/alternative; boundary="b1"\r\n\r\n' + body).encode()
