"""Differential test of the MIME reader: pixelguard finds every HTML part Python's `email`
finds (the lenient reference: mail clients show what it shows), in generated messages bent
the ways real senders bend them.

An *HTML leaf*, on both sides:
- Python: a part that `email.message_from_bytes(raw)` (compat32) yields from `walk()`, that
  is not a multipart (`is_multipart()` is false), whose `get_content_type()` is
  "text/html", and that lies at most `message.MAX_DEPTH` levels below the top (the top is
  level 0; pixelguard reads no deeper and says so), and not inside a
  message/delivery-status (Python reads its blocks of status fields as header-only
  messages; clients show them as text, and an edit there could end a block). Attachments count: pixelguard cleans an
  HTML file attached with `Content-Disposition: attachment` too (a reader opens it in the
  same client), so neither side leaves them out.
- pixelguard: a leaf of `message.parse(raw)` whose `content_type` is "text/html" (a message
  pixelguard refuses as "no header at the top" has none; Python reads such a message as one
  text/plain body).
The two are compared as multisets by content, not position: the body bytes as they stand
(still transfer-encoded) and the decoded body. The transfer encoding is read with surrounding
blanks removed on both sides: pixelguard reads " base64 " as base64 (as clients do), Python's
compat32 reads it as unknown.

Then the end-to-end property: after `clean_message`, Python finds no complete tracker tag in
any HTML leaf of the output, and everything outside HTML is kept (tests/test_fuzz_mime.check).

CI runs 2,000 messages, derandomised (`PIXELGUARD_MIME_EXAMPLES` sets the count):

    PIXELGUARD_MIME_EXAMPLES=20000 .venv/bin/python -m pytest -q tests/test_mime_differential.py --timeout=0
"""
from __future__ import annotations

import base64
import email
import email.policy
import os
import quopri

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from test_fuzz_mime import check, decoded

from pixelguard import Policy, clean_message, message
from pixelguard.headers import insert_at

EXAMPLES = int(os.environ.get("PIXELGUARD_MIME_EXAMPLES", "2000"))
DIFF = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                           HealthCheck.large_base_example],
)
POLICY = Policy(recipients=("bob@example.org",))
PIXEL = '<img src="https://t.example/open.gif?n={n}" width="1" height="1">'
PIXEL_TAIL = '" width="1" height="1">'

# ------------------------------------------------------------------------------ both views


def python_html_leaves(raw: bytes) -> list[tuple[bytes, bytes]]:
    """(body as it stands, decoded body) of every HTML leaf Python's email finds."""
    msg = email.message_from_bytes(raw, policy=email.policy.compat32)
    out: list[tuple[bytes, bytes]] = []

    def walk(part, depth: int) -> None:
        if part.get_content_type() == "message/delivery-status":
            return  # blocks of status fields: clients show them as text
        if part.is_multipart():
            for child in part.get_payload():
                walk(child, depth + 1)
        elif depth <= message.MAX_DEPTH and part.get_content_type() == "text/html":
            payload = part._payload  # the body as the parser stored it (a str, surrogate-escaped)
            out.append((payload.encode("ascii", "surrogateescape"), decoded(part)))

    walk(msg, 0)
    return sorted(out)


def pixelguard_html_leaves(raw: bytes) -> list[tuple[bytes, bytes]]:
    try:
        root = message.parse(raw)
    except message.MimeError:
        return []
    return sorted((message.body_bytes(raw, p), message.decode_body(raw, p))
                  for p in root.leaves() if p.content_type == "text/html")


# ------------------------------------------------------------------------------ messages

HTML_TYPES = ["Content-Type: text/html; charset=utf-8"] * 8 + [
    "Content-Type: TEXT/HTML", "Content-type:text/html",
    "Content-Type: text/html;", 'Content-Type: text/html; charset="us-ascii"; name="a.html"',
    "Content-Type: text/html;\n charset=utf-8", "Content-Type:\n text/html",
    "Content-Type: text/html\nContent-Type: text/plain", "Content-Type: text/plain\nContent-Type: text/html",
    "Content-Type: text/html charset=utf-8", "Content-Type: html", "Content-Type:", "Content-Type: text/html\x00",
    "Content-Type: text/html; charset=utf-8 (comment)", "Content-Type: text/html; charset=",
]
OTHER_TYPES = ["Content-Type: text/plain; charset=utf-8", "Content-Type: image/gif",
               "Content-Type: application/octet-stream", ""]
CTES = ["", "7bit", "8bit", "base64", "quoted-printable", "BASE64", " base64 ", "Quoted-Printable ",
        "x-junk", "8bit+", "binary", "quoted-printable; x", "x-uuencode", "base64\n\tfolded",
        "7bit\nContent-Transfer-Encoding: base64"]
ODD_HEADERS = ["X-Odd: a:b", ": no name", " continuation", "From someone", "X-Folded: a\n\tb",
               "NoColonHere", "X-Empty:", "Content-Disposition: attachment; filename=a.html",
               "Content-Disposition: inline", "Subject: x"]
TEXT = st.text(alphabet=st.characters(blacklist_characters="<>&\r\n", codec="utf-8"), max_size=40)


@st.composite
def header_block(draw, first: list[str]) -> str:
    """Header lines (with a final line break), sometimes without the empty line after them."""
    lines = first + (draw(st.lists(st.sampled_from(ODD_HEADERS), max_size=2)) if draw(st.booleans()) else [])
    if len(lines) > 1 and draw(st.integers(0, 4)) == 4:
        rest = lines[1:]
        draw(st.randoms()).shuffle(rest)
        lines = lines[:1] + rest
    block = "\n".join(line for line in lines if line) + "\n"
    if block == "\n":
        block = ""
    return block + draw(st.sampled_from(["\n"] * 5 + ["", "\r\n", " \n"]))


def encode(text: str, cte: str, damage: int) -> str:
    name = cte.strip().lower()
    data = text.encode()
    if name == "base64":
        out = base64.encodebytes(data).decode()
        if damage == 1:
            out = out[:40] + "!*" + out[40:]
        elif damage == 2:
            out = out.replace("=", "")
        elif damage == 3:
            out = out[: len(out) * 2 // 3]
        return out
    if name.startswith("quoted-printable"):
        out = quopri.encodestring(data).decode()
        return out + "=" if damage == 3 else out
    return text


@st.composite
def html_body(draw) -> str:
    n = draw(st.integers(0, 99))
    words = draw(TEXT)
    doc = draw(st.sampled_from(["<html><body>\n", "", "<!DOCTYPE html>\n<HTML><BODY>", "<p>Note:here</p>\n"]))
    doc += f"<p>{words}</p>\n" + PIXEL.format(n=n) + "\n"
    doc += draw(st.sampled_from(["</body></html>\n", "", "</body></html>", "<p>a:b</p>\n\n"]))
    return doc


@st.composite
def leaf(draw) -> str:
    html = draw(st.integers(0, 4)) < 4  # (hypothesis draws small numbers most)
    ctype = draw(st.sampled_from(HTML_TYPES if html else OTHER_TYPES))
    cte = draw(st.sampled_from(CTES))
    text = draw(html_body()) if html or ctype.endswith("plain; charset=utf-8") else draw(TEXT) + "\n"
    first = [ctype] + ([f"Content-Transfer-Encoding: {cte}"] if cte else [])
    return draw(header_block(first)) + encode(text, cte, draw(st.integers(0, 6)))


BOUNDARIES = ["b{d}", "b{d}", "=_Part_{d}_x.y", "b0", "", "a b", "x{d}-", "(odd){d}?", "tail{d}  "]


@st.composite
def multipart(draw, depth: int) -> str:
    subtype = draw(st.sampled_from(["mixed", "alternative", "related", "digest", "report; report-type=delivery-status"]))
    b = draw(st.sampled_from(BOUNDARIES)).format(d=depth)
    param = draw(st.sampled_from(['boundary="{b}"'] * 4 + [
        "boundary={b}", 'BOUNDARY="{b}"', 'boundary = "{b}"', 'boundary="{b}"; boundary="other"',
        "boundary*=us-ascii''{b}", 'boundary="{b}  "', "charset=x", 'boundary="{b}\\""']))
    declared = param.format(b=b)
    sep = "--" + b.rstrip()
    children = draw(st.lists(node(depth + 1), min_size=1, max_size=3))
    body = draw(st.sampled_from(["", "preamble\n", f"{sep}x not a delimiter\n", f"{sep}--x\n"]))
    for child in children:
        body += sep + draw(st.sampled_from(["", "", "  ", "\t", "\n" + sep])) + "\n" + child
        if not child.endswith("\n") or draw(st.booleans()):
            body += "\n"
    body += draw(st.sampled_from([f"{sep}--\n", f"{sep}--\n", f"{sep}-- \nepilogue\n", "", f"{sep}\n",
                                  f"{sep}--"]))
    head = draw(header_block([f"Content-Type: multipart/{subtype}; {declared}"]))
    return head + body


@st.composite
def status_report(draw) -> str:
    """message/delivery-status: blocks of fields; a block may carry a body of its own."""
    blocks = ["Reporting-MTA: dns; mx.example", "Final-Recipient: rfc822; bob@example.org\nAction: failed"]
    if draw(st.booleans()):
        blocks.append("Content-Type: text/html\n" + draw(html_body()).rstrip("\n"))
    return draw(header_block(["Content-Type: message/delivery-status"])) + "\n\n".join(blocks) + "\n"


@st.composite
def attached(draw, depth: int) -> str:
    kind = draw(st.sampled_from(["message/rfc822", "message/rfc822", "MESSAGE/RFC822", "message/global",
                                 "message/partial"]))
    cte = draw(st.sampled_from(["", "", "7bit", "base64", "quoted-printable", "x-junk"]))
    first = [f"Content-Type: {kind}"] + ([f"Content-Transfer-Encoding: {cte}"] if cte else [])
    inner = "From: a@example.org\nSubject: inner\n" + draw(node(depth + 1))  # its fields, then the node's
    return draw(header_block(first)) + inner


@st.composite
def deep_chain(draw, depth: int) -> str:
    """message/rfc822 parts nested around an HTML part, across the depth limit."""
    levels = draw(st.integers(message.MAX_DEPTH - 3 - depth, message.MAX_DEPTH + 2 - depth))
    out = draw(leaf())
    for _ in range(max(0, levels)):
        out = "Content-Type: message/rfc822\n\n" + out
    return out


def node(depth: int):
    if depth >= 4:
        return leaf()
    return st.one_of(leaf(), multipart(depth), leaf(), attached(depth), multipart(depth),
                     deep_chain(depth) if depth == 1 else leaf(), status_report())


@st.composite
def messages(draw) -> bytes:
    top = ["From: News <news@shop.example>", "To: bob@example.org", "Subject: Offers", "MIME-Version: 1.0"]
    if draw(st.integers(0, 9)) == 9:
        top.insert(0, "From news@shop.example Mon Dec  7 10:00:00 2026")
    tree = draw(node(0))
    text = "\n".join(top) + "\n" + tree
    eol = draw(st.sampled_from(["\n", "\r\n", "\r", "mixed"]))
    if eol == "mixed":
        pieces = text.split("\n")
        ends = draw(st.lists(st.sampled_from(["\n", "\r\n", "\r"]), min_size=len(pieces), max_size=len(pieces)))
        text = "".join(p + e for p, e in zip(pieces, ends))[: -len(ends[-1])]
    elif eol != "\n":
        text = text.replace("\n", eol)
    raw = text.encode("utf-8", "surrogatepass")
    if draw(st.integers(0, 9)) == 9:  # cut in transit
        raw = raw[: draw(st.integers(len(raw) // 2, len(raw)))]
    return raw


# ------------------------------------------------------------------------------ tests


def _complete_pixels(leaves: list[tuple[bytes, bytes]]) -> int:
    return sum(decoded.count(PIXEL_TAIL.encode()) for _, decoded in leaves)


@pytest.mark.e2e  # the whole pipeline on 2,000 generated messages: about a minute
@DIFF
@given(messages())
def test_pixelguard_finds_the_html_parts_python_finds(raw: bytes) -> None:
    theirs = python_html_leaves(raw)
    assert pixelguard_html_leaves(raw) == theirs
    event(f"HTML leaves: {min(len(theirs), 3)}")
    result = clean_message(raw, POLICY)
    event("cleaned" if result.findings else "skipped" if result.skipped else
          "error" if result.error else "unchanged")
    # check() reads the header block from the first byte: an mbox "From " line is left out
    check(raw[insert_at(raw):], POLICY)
    if result.error is None and not result.skipped:
        assert _complete_pixels(python_html_leaves(result.raw)) == 0, "a tracker escaped"


_PX = PIXEL.format(n=7)
_HEAD = "From: a@shop.example\nTo: bob@example.org\n"
# One message per leniency the issue names; in each, clients show an HTML part with a pixel.
LENIENT = {
    "no empty line after the top header block": _HEAD + "Content-Type: multipart/mixed; boundary=b\n"
        f"--b\nContent-Type: text/html\n\n{_PX}\n--b--\n",
    "no empty line after a part's header block": _HEAD + "Content-Type: multipart/mixed; boundary=b\n\n"
        f"--b\nContent-Type: text/html\n<p>x</p>{_PX}\n--b--\n",
    "bare CR line ends": (_HEAD + "Content-Type: multipart/mixed; boundary=b\n\n"
        f"--b\nContent-Type: text/html\n\n{_PX}\n--b--\n").replace("\n", "\r"),
    "mixed line ends": _HEAD.replace("\n", "\r\n") + "Content-Type: multipart/mixed; boundary=b\r\r\n"
        f"--b\rContent-Type: text/html\n\r{_PX}\r\n--b--\r",
    "no final boundary": _HEAD + "Content-Type: multipart/mixed; boundary=b\n\n"
        f"--b\nContent-Type: text/plain\n\nhi\n--b\nContent-Type: text/html\n\n{_PX}\n",
    "blanks after the boundary": _HEAD + 'Content-Type: multipart/mixed; boundary="b  "\n\n'
        f"--b \t\nContent-Type: text/html\n\n{_PX}\n--b--  \n",
    "boundary in RFC 2231 form": _HEAD + "Content-Type: multipart/mixed; boundary*=us-ascii''b\n\n"
        f"--b\nContent-Type: text/html\n\n{_PX}\n--b--\n",
    "duplicate Content-Type, the first wins": _HEAD + "Content-Type: text/html\nContent-Type: text/plain\n\n"
        f"{_PX}\n",
    "junk transfer encoding": _HEAD + "Content-Type: text/html\nContent-Transfer-Encoding: 8bit+junk\n\n"
        f"{_PX}\n",
    "base64 with stray characters": _HEAD + "Content-Type: text/html\nContent-Transfer-Encoding: base64\n\n"
        + base64.encodebytes(_PX.encode()).decode().replace("aW", "a!W", 1),
    "message/global holding a message": _HEAD + "Content-Type: message/global\n\n"
        f"From: b@shop.example\nContent-Type: text/html\n\n{_PX}\n",
    "message/rfc822 marked base64 but not encoded": _HEAD + "Content-Type: message/rfc822\n"
        f"Content-Transfer-Encoding: base64\n\nFrom: b@shop.example\nContent-Type: text/html\n\n{_PX}\n",
    "message/rfc822 nested 29 deep": _HEAD + "Content-Type: message/rfc822\n\n" * 29
        + f"Content-Type: text/html\n\n{_PX}\n",
}


@pytest.mark.parametrize("raw", LENIENT.values(), ids=LENIENT.keys())
def test_html_part_a_client_shows_is_cleaned(raw: str) -> None:
    data = raw.encode()
    theirs = python_html_leaves(data)
    assert _complete_pixels(theirs) == 1
    assert pixelguard_html_leaves(data) == theirs
    result = clean_message(data, POLICY)
    assert len(result.findings) == 1 and not result.skipped
    assert _complete_pixels(python_html_leaves(result.raw)) == 0


def test_html_past_the_depth_limit_is_reported_not_hidden() -> None:
    raw = (_HEAD + "Content-Type: message/rfc822\n\n" * (message.MAX_DEPTH + 1)
           + f"Content-Type: text/html\n\n{_PX}\n").encode()
    assert pixelguard_html_leaves(raw) == python_html_leaves(raw) == []
    result = clean_message(raw, POLICY)
    assert result.skipped == [f"part {'.'.join(['1'] * 31)} nested deeper than 30 levels"]
    assert result.raw.startswith(b"X-PixelGuard: skipped;") and result.raw.endswith(raw)


def test_the_comparison_tells_leaves_apart_by_content() -> None:
    """The checker itself: two HTML parts whose bodies differ by one byte do not compare equal."""
    one = (_HEAD + "Content-Type: text/html\n\n<p>a</p>\n").encode()
    assert pixelguard_html_leaves(one) == python_html_leaves(one) == [(b"<p>a</p>\n",) * 2]
    assert pixelguard_html_leaves(one) != python_html_leaves(one.replace(b"<p>a", b"<p>b"))

