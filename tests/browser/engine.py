"""A real rendering engine as the judge of what a message fetches.

Headless Chromium (Debian's package) driven by Playwright, scripting off as mail clients
render, every request intercepted and answered here: nothing leaves the machine. A message is
rendered once per mode (desktop and phone widths, light and dark colour schemes, print media);
the union of the remote requests it makes in any mode is its answer.

The message's HTML parts are served from a local origin; `cid:` references are served from the
message's own parts (Chromium has no `cid:` scheme, so the served copies say
`http://cid.pixelguard.invalid/<id>` where the message says `cid:<id>`, and nothing else
changes). Every request to any other host is a remote request: recorded, answered 404.
"""
from __future__ import annotations

import email
import email.policy
import os
import re
import urllib.parse
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Self

CHROMIUM = os.environ.get("PIXELGUARD_CHROMIUM", "/usr/bin/chromium")
DOC_HOST = "message.pixelguard.invalid"
CID_HOST = "cid.pixelguard.invalid"
_LOCAL = {DOC_HOST, CID_HOST}
_CID = re.compile(rb"cid:", re.IGNORECASE)
# Chromium, as root and with this machine's closed network: no sandbox, no calls home.
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-default-apps", "--disable-extensions"]


@dataclass(frozen=True)
class Mode:
    width: int
    scheme: str  # light | dark
    media: str  # screen | print

    def __str__(self) -> str:
        return f"{self.width}px/{self.scheme}/{self.media}"


MODES = (Mode(1024, "light", "screen"), Mode(375, "light", "screen"),
         Mode(1024, "dark", "screen"), Mode(1024, "light", "print"))
# Tall enough that every image of a long newsletter is near the viewport (lazy loading).
HEIGHT = 6000
# After the load event: how long a quiet page must stay quiet (timed loads such as a
# zero-delay meta refresh start only after load).
SETTLE_MS = 120


def available() -> str | None:
    """None when the engine can run here, else why not."""
    if not os.path.exists(CHROMIUM):
        return f"{CHROMIUM} not found (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright not installed (pip install playwright)"
    return None


@dataclass
class _Doc:
    html: bytes
    charset: str


def _documents(raw: bytes) -> tuple[list[_Doc], dict[str, tuple[str, bytes]]]:
    """The message's HTML documents, and its parts by Content-ID (served for cid:)."""
    head = raw[:512].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"<"):
        return [_Doc(raw, "utf-8")], {}
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    docs: list[_Doc] = []
    parts: dict[str, tuple[str, bytes]] = {}
    for part in msg.walk():
        if part.is_multipart():
            continue
        payload = part.get_payload(decode=True) or b""
        cid = part.get("Content-ID")
        if cid:
            parts[str(cid).strip().strip("<>")] = (part.get_content_type(), payload)
        if part.get_content_type() == "text/html":
            docs.append(_Doc(payload, part.get_content_charset() or "utf-8"))
    return docs, parts


def html_documents(raw: bytes) -> list[tuple[bytes, str]]:
    """The message's HTML documents, each with its charset."""
    return [(d.html, d.charset) for d in _documents(raw)[0]]


def _local(data: bytes) -> bytes:
    return _CID.sub(f"http://{CID_HOST}/".encode(), data)


class Engine:
    """One Chromium for many renders; use as a context manager."""

    def __init__(self) -> None:
        from playwright.sync_api import sync_playwright

        self._pw = sync_playwright().start()
        self._browser = self._pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        self._pages = []
        self._serving: dict[str, bytes | tuple[str, bytes]] = {}
        self._seen: list[str] = []
        for mode in MODES:
            ctx = self._browser.new_context(
                java_script_enabled=False, viewport={"width": mode.width, "height": HEIGHT},
                color_scheme=mode.scheme, service_workers="block")
            ctx.route("**/*", self._answer)
            page = ctx.new_page()
            page.emulate_media(media=mode.media)
            self._pages.append((mode, page))
        self._n = 0

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._browser.close()
        self._pw.stop()

    def _answer(self, route) -> None:
        url = route.request.url
        parsed = urllib.parse.urlsplit(url)
        headers = {"cache-control": "no-store"}
        if parsed.hostname == DOC_HOST and url in self._serving:
            doc = self._serving[url]
            assert isinstance(doc, tuple)
            route.fulfill(status=200, body=doc[1],
                          headers={**headers, "content-type": doc[0]})
            return
        if parsed.hostname == CID_HOST:
            found = self._serving.get(urllib.parse.unquote(parsed.path.lstrip("/")))
            if isinstance(found, tuple):
                ctype, body = found
                if ctype in ("text/html", "text/css", "image/svg+xml"):
                    body = _local(body)
                route.fulfill(status=200, body=body, headers={**headers, "content-type": ctype})
                return
            route.fulfill(status=404, body=b"", headers=headers)
            return
        self._seen.append(url)
        if route.request.is_navigation_request() and route.request.frame.parent_frame is None:
            route.abort()  # the message view must stay on the message (meta refresh)
            return
        route.fulfill(status=404, body=b"", headers=headers)

    def requests(self, raw: bytes) -> dict[str, set[str]]:
        """Every remote URL the engine requests for this message, with the modes it did so in."""
        docs, parts = _documents(raw)
        self._serving = {cid: part for cid, part in parts.items()}
        out: dict[str, set[str]] = {}
        for doc in docs:
            self._n += 1
            url = f"http://{DOC_HOST}/{self._n}/"
            self._serving[url] = (f"text/html; charset={doc.charset}", _local(doc.html))
            for mode, page in self._pages:
                self._seen = []
                page.goto(url, wait_until="load")
                self._settle(page)
                for seen in self._seen:
                    out.setdefault(seen, set()).add(str(mode))
            del self._serving[url]
        return out

    def page(self, width: int, scheme: str, height: int = 900):
        """A page of its own for looking at a rendered message (scripting off, every request
        intercepted like the others'); `show` loads a document into it."""
        ctx = self._browser.new_context(
            java_script_enabled=False, viewport={"width": width, "height": height},
            color_scheme=scheme, service_workers="block")
        ctx.route("**/*", self._answer)
        return ctx.new_page()

    def show(self, page, html: bytes, charset: str = "utf-8") -> None:
        """Load one HTML document (as a message's part) into `page`."""
        self._n += 1
        url = f"http://{DOC_HOST}/{self._n}/"
        self._serving[url] = (f"text/html; charset={charset}", _local(html))
        try:
            page.goto(url, wait_until="load")
        finally:
            del self._serving[url]

    def _settle(self, page) -> None:
        count = -1
        while count != len(self._seen):
            count = len(self._seen)
            page.wait_for_timeout(SETTLE_MS)


def remote(requests: dict[str, set[str]]) -> set[str]:
    return {u for u in requests if urllib.parse.urlsplit(u).hostname not in _LOCAL}


def single_part(body: str, head: str = "", to: str = "bob@example.org") -> bytes:
    """A one-part HTML mail to `to` with this <head> and <body> markup."""
    return (f"From: news@shop.example\nTo: {to}\nSubject: case\nMIME-Version: 1.0\n"
            "Content-Type: text/html; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n"
            f"<!DOCTYPE html>\n<html><head>{head}</head><body>\n{body}\n</body></html>\n").encode()


def related(body: str, parts: dict[str, tuple[str, str]], head: str = "",
            to: str = "bob@example.org") -> bytes:
    """A multipart/related mail: the HTML and parts by Content-ID (type, text)."""
    msg = EmailMessage()
    msg["From"] = "news@shop.example"
    msg["To"] = to
    msg["Subject"] = "case"
    msg.set_content(f"<!DOCTYPE html>\n<html><head>{head}</head><body>\n{body}\n</body></html>\n",
                    subtype="html", cte="8bit")
    msg.make_related()
    for cid, (ctype, text) in parts.items():
        maintype, subtype = ctype.split("/")
        sub = EmailMessage()
        sub.set_content(text.encode(), maintype=maintype, subtype=subtype, cte="base64")
        sub["Content-ID"] = f"<{cid}>"
        msg.attach(sub)
    return msg.as_bytes()
