"""Fuzzing the core with hostile mail (hypothesis): malformed MIME and malformed HTML/CSS.

Properties, for every generated message:
- `clean_message` never raises, and never fails with an *internal* error (a crash that the
  core's last-resort handler caught is still a crash); documented refusals (MIME it cannot
  parse, the time budget, too deep nesting) return the input unchanged;
- the output parses with the stdlib `email` package whenever the input does;
- no findings (and nothing skipped) => byte-identical output;
- findings => one `X-PixelGuard` header added on top, every original header byte-identical
  and in order, and every non-HTML leaf byte-identical (a text/plain alternative of a changed
  HTML part may gain the notice line (one paragraph, put in at one place), and only when the notice is on).

CI runs a bounded number of examples per test (`PIXELGUARD_FUZZ_EXAMPLES`, default 150; the
whole file stays well under 60 s). The long run (>= 10,000 inputs) is documented in
docs/FUZZING.md:

    PIXELGUARD_FUZZ_EXAMPLES=4000 .venv/bin/python -m pytest -q tests/test_fuzz_mime.py
"""
from __future__ import annotations

import base64
import email
import email.policy
import itertools
import os
import quopri
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pixelguard import Policy, clean_message

EXAMPLES = int(os.environ.get("PIXELGUARD_FUZZ_EXAMPLES", "150"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)
BOB = "bob@example.org"
POLICIES = [
    Policy(recipients=(BOB,)),
    Policy(recipients=(BOB,), action="rewrite", notice=False),
    Policy(recipients=(BOB,), default_deny_hosts=("t.example",), user_allow_hosts=("cdn.shop.example",)),
]

# ------------------------------------------------------------------------------ HTML / CSS

TRACKERS = [
    '<img src="https://t.example/open.gif?u=bob%40example.org" width="1" height="1">',
    '<img src="http://t.example/o/abc123" style="display:none">',
    "<img src='//t.example/wf/open?upn=x' width=0 height=0>",
    '<div style="background:url(https://t.example/bg.png?e=Ym9iQGV4YW1wbGUub3Jn)">x</div>',
    '<td background="https://t.example/b.gif" width="1" height="1"></td>',
    '<style>@import url("https://t.example/a.css"); .x{background:url(https://t.example/p.png)}</style>',
    '<!--[if mso]><v:fill src="https://t.example/v.png"/><img src="https://t.example/m.gif" width=1 height=1><![endif]-->',
    '<img srcset="https://t.example/1.gif 1x, https://t.example/2.gif 2x" width="1" height="1">',
    '<link rel="stylesheet" href="https://t.example/s.css">',
    '<svg><image href="https://t.example/svg.png" width="1" height="1"/></svg>',
]
CONTENT = [
    "<p>Hello &amp; welcome, Grüße € 日本</p>",
    '<img src="https://cdn.shop.example/hero.jpg" width="600" height="200" alt="hero">',
    '<img src="cid:logo@x" width="1" height="1">',
    '<img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=" width="1" height="1">',
    '<a href="https://shop.example/deal?u=1">Deal</a>',
    "<table><tr><td>cell<td>cell</table>",
    '<style>@media (max-width:600px){.mobile{display:block!important}}</style>',
    '<div class="mobile" style="display:none"><img src="https://cdn.shop.example/m.jpg"></div>',
]
HOSTILE = [
    # unclosed / broken tags and attributes
    '<img src="https://t.example/u.gif" width=1 height=1',
    "<img src=https://t.example/q.gif width='1 height=\"1\">",
    "<img/src=https://t.example/slash.gif/width=1/height=1>",
    "<img src\x00=x width=1>",
    "<im\x00g src=https://t.example/nul.gif width=1 height=1>",
    '<img src="&#x68;ttps://t.example/ent.gif" width="&#49;" height="1">',
    '<img src="ht\ttp\ns://t.example/tab.gif" width=1 height=1>',
    '<img src="https://[::1/broken" width=1 height=1>',
    '<img src="http://t.example:99999999/port.gif" width=1 height=1>',
    '<img src="https://xn--/idn.gif" width=1 height=1>',
    '<img src="https://t.example/%zz%" width="1e999" height="-1">',
    '<img src="https://t.example/d.gif" width="\u0661" height="\u0661">',
    '<img src="https://t.example/w.gif" width="99999999999999999999999" height="0x1">',
    '<img width=1 height=1 src="https://t.example/dup.gif" src="https://t.example/dup2.gif">',
    '<img srcset=",,, ,https://t.example/s.gif 1x,, data:,x 2x" width=1 height=1>',
    '<base href="https://[invalid"><img src="rel.gif" width=1 height=1>',
    '<base href="javascript:alert(1)"><img src="x.gif" width=1 height=1>',
    '<base href><base href=""><img src="//" width=1 height=1>',
    "<img src=&#0;&#x110000;&#99999999999; width=1>",
    "<img src=\"https://t.example/\ud800.gif\" width=1 height=1>",
    # comments and conditional comments
    "<!-- unterminated comment <img src=https://t.example/c.gif width=1 height=1>",
    "<!--> <!---> <!-- -- --!> <img src=https://t.example/c2.gif width=1 height=1>",
    "<!--[if mso]> no endif <img src=https://t.example/c3.gif width=1 height=1>",
    "<![endif]--> stray endif",
    "<!--[if !mso]><!--> <img src=https://t.example/c4.gif width=1 height=1> <!--<![endif]-->",
    "<!--[if gte mso 9]><xml><o:OfficeDocumentSettings></xml><![endif]",
    "<![CDATA[ <img src=https://t.example/cd.gif width=1 height=1> ]]>",
    "<!DOCTYPE html PUBLIC \"unterminated",
    "<? processing instruction <img src=https://t.example/pi.gif> ?>",
    # style / CSS
    '<style>.a{background:url(https://t.example/unclosed.png</style>',
    "<style>@import 'https://t.example/x.css",
    '<style>p{background:u\\72l(https://t.example/esc.png)} q{background:\\75 \\72 \\6c (x)}</style>',
    "<style>p{background:url(\\0\\110000\\ffffff)}</style>",
    '<style>@font-face{src:url(https://t.example/f.woff?u=bob%40example.org)}</style>',
    "<style>@media print{p{background:url(//t.example/print.png)}}@media{{{{</style>",
    "<style>/* unterminated comment</style>",
    "<style><!-- p{color:red} --></style>",
    "<style>" + "{" * 300 + "</style>",
    "<style>@import url(</style>",
    '<p style="background:url(\'https://t.example/i.png">quote mismatch</p>',
    '<p style="background-image:url(https://t.example/i2.png)!important;;;:;">x</p>',
    '<p style="b\\61ckground:url(https://t.example/e2.png)">css escape in property</p>',
    '<p style="width:1px;height:1px;background:url( \t\n https://t.example/ws.png \n)">x</p>',
    '<p style="--x:url(https://t.example/var.png);background:var(--x)">x</p>',
    '<p style="background:image-set(\'https://t.example/is.png\' 1x)">x</p>',
    "<style>p{background:url(data:image/png;base64,####)}</style>",
    # other vectors, odd nesting
    '<video poster="https://t.example/p.png"></video><input type=image src="https://t.example/in.png">',
    '<iframe src="https://t.example/f.html" width=0 height=0></iframe><embed src=//t.example/e>',
    '<svg><a xlink:href="https://t.example/x"><image xlink:href="https://t.example/svg2.png"/></a></svg>',
    "<table><td><table><td><p><div></table></p></div>",
    "</div></div></body></html></td></tr>",
    "<script><img src=https://t.example/scr.gif width=1 height=1></script>",
    "<textarea><img src=https://t.example/ta.gif width=1 height=1></textarea>",
    "<plaintext><img src=https://t.example/pt.gif width=1 height=1>",
    "<noscript><img src=https://t.example/ns.gif width=1 height=1></noscript>",
    "<title><img src=https://t.example/ti.gif width=1 height=1>",
    "<xmp>",
    "<head><body><head><body>",
    "&#x;&#;&amp&lt;&#x41&unknown;&",
    "\x00\x01\x02\x0b\x0c\x7f\x80\x9f",
    "\ufeff\u202e\u200b\ufffd",
    "<",
    "</",
    "<!",
    "<a <b <c",
]


@st.composite
def huge_pieces(draw) -> str:
    kind = draw(st.sampled_from(["attr", "style", "line", "nest", "css-nest", "many-attrs", "url"]))
    n = draw(st.integers(1, 20_000))
    if kind == "attr":
        return f'<img src="https://t.example/{"a" * n}" width=1 height=1 alt="{"x" * n}">'
    if kind == "style":
        return f'<p style="{"color:red;" * (n // 10 + 1)}background:url(https://t.example/l.png)">x</p>'
    if kind == "line":
        return "w" * n
    if kind == "nest":
        depth = n % 3000
        return "<div>" * depth + '<img src="https://t.example/deep.gif" width=1 height=1>' + "</div>" * (depth // 2)
    if kind == "css-nest":
        depth = n % 2000
        return "<style>" + "@media screen{" * depth + ".x{background:url(https://t.example/cn.png)}" + "}" * depth + "</style>"
    if kind == "many-attrs":
        return "<img " + " ".join(f"a{i}=1" for i in range(n % 3000)) + " src=https://t.example/ma.gif width=1 height=1>"
    return f'<img src="https://t.example/?{"%41" * (n // 3 + 1)}" width=1 height=1>'


fragments = st.one_of(
    st.sampled_from(TRACKERS),
    st.sampled_from(TRACKERS),
    st.sampled_from(CONTENT),
    st.sampled_from(HOSTILE),
    huge_pieces(),
    st.text(max_size=200),
)


@st.composite
def html_documents(draw) -> str:
    parts = draw(st.lists(fragments, max_size=10))
    # Cut a random piece out or end the document abruptly: truncated markup.
    doc = draw(st.sampled_from(["<html><head></head><body>\n", "<html><body>", "", "<!DOCTYPE html>\n<HTML><BODY>"]))
    doc += draw(st.sampled_from(["\n", "\r\n", "", "\r"])).join(parts)
    doc += draw(st.sampled_from(["\n</body></html>\n", "", "</body>", "<"]))
    if doc and draw(st.booleans()):
        cut = draw(st.integers(0, len(doc)))
        doc = doc[:cut]
    return doc


# ------------------------------------------------------------------------------ MIME

CHARSETS = ["utf-8", "iso-8859-1", "windows-1252", "us-ascii", "utf-16", "utf-7", "x-unknown-8bit",
            "bogus\x00charset", "", '"utf-8', "utf-8'en'", "iso-2022-jp", "gb18030", "koi8-r", "\u00e9"]
# Valid values weigh more, so most messages have HTML for the core to work on.
CTES = ["7bit", "8bit", "base64", "quoted-printable"] * 3 + [
    "binary", "BASE64", " Quoted-Printable ", "x-uuencode", "base65", "", "quoted-printable; foo"]
TYPES = ["text/html"] * 8 + ["text/plain"] * 2 + [
    "TEXT/HTML", "application/octet-stream", "image/gif", "text/html;", "text/x-html", "text/html\x00",
    "text /html", "multipart/alternative"]


def encode(data: bytes, cte: str, damage: str) -> bytes:
    name = cte.strip().lower().split(";")[0]
    if name == "base64":
        out = base64.encodebytes(data)
        if damage == "truncate":
            out = out[: max(0, len(out) * 2 // 3 - 1)]
        elif damage == "padding":
            out = out.replace(b"=", b"")
        elif damage == "garbage":
            out = out[: len(out) // 2] + b"!!*~\x00" + out[len(out) // 2 :]
        return out
    if name == "quoted-printable":
        out = quopri.encodestring(data)
        if damage == "truncate":
            out = out[: max(0, len(out) - 2)] + b"="
        elif damage == "padding":
            out = out + b"=4"
        elif damage == "garbage":
            out = b"=ZZ=\r=\n" + out + b"=XX"
        return out
    return data


@st.composite
def header_lines(draw, eol: bytes) -> bytes:
    lines = [b"From: News <news@shop.example>", b"To: " + BOB.encode(), b"Subject: Offers"]
    extra = draw(st.lists(st.sampled_from([
        b"Subject: =?utf-8?q?T=C3=A9st?= =?bogus?x?abc?=",
        b"Subject: \xc3\xa9t\xc3\xa9 8-bit utf-8",
        b"X-Latin: caf\xe9 \xff\xfe",
        b"X-Nul: a\x00b",
        b"X-Folded: one\r\n two\n\tthree",
        b"No colon in this line",
        b": empty name",
        b"X-Empty:",
        b"MIME-Version: 1.0",
        b"MIME-Version: 1.0 (dup)",
        b"Content-Transfer-Encoding: base64",
        b"Delivered-To: bob@example.org",
        b"Content-Base: https://[::1",
        b"Content-Location: //t.example/base/",
        b"Authentication-Results: mx.example.org; dkim=pass header.d=shop.example",
        b"DKIM-Signature: v=1; a=rsa-sha256; d=shop.example; s=x; b=!!; bh=??",
    ]), max_size=6))
    lines += extra
    big = draw(st.integers(0, 3))
    if big == 1:
        lines.append(b"X-Huge: " + b"x" * draw(st.integers(1000, 200_000)))
    elif big == 2:
        lines.append(b"X-Many: a" + (eol + b" b") * draw(st.integers(10, 5000)))
    elif big == 3:
        lines += [b"X-N%d: v" % i for i in range(draw(st.integers(10, 3000)))]
    rest = lines[1:]
    draw(st.randoms()).shuffle(rest)
    return eol.join(lines[:1] + rest) + eol


@st.composite
def leaf(draw, eol: bytes) -> bytes:
    ctype = draw(st.sampled_from(TYPES))
    charset = draw(st.sampled_from(CHARSETS))
    cte = draw(st.sampled_from(CTES))
    damage = draw(st.sampled_from(["none"] * 5 + ["truncate", "padding", "garbage"]))
    if "html" in ctype:
        text = draw(html_documents())
    elif ctype == "text/plain":
        text = draw(st.text(max_size=300))
    else:
        text = ""
    codec = charset.strip('"').split("'")[0] if charset else "utf-8"
    try:
        data = text.encode(codec, "xmlcharrefreplace")
    except (LookupError, UnicodeError, ValueError):
        data = text.encode("utf-8", "surrogatepass")
    if not text:
        data = draw(st.binary(max_size=300))
    if draw(st.integers(0, 9)) == 0:
        data = data.replace(b">", b">\x00", 3)
    head = b"Content-Type: " + ctype.encode("utf-8", "surrogatepass")
    if draw(st.booleans()):
        head += b"; charset=" + charset.encode("utf-8")
    if draw(st.integers(0, 5)) == 0:
        head += eol + b"Content-Type: text/plain"  # duplicate Content-Type
    head += eol + b"Content-Transfer-Encoding: " + cte.encode()
    body = encode(data, cte, damage)
    if eol == b"\r\n":
        body = body.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    return head + eol + eol + body


@st.composite
def mime_tree(draw, eol: bytes, depth: int = 0) -> bytes:
    if depth >= 4 or draw(st.integers(0, 2)) == 0:
        return draw(leaf(eol))
    subtype = draw(st.sampled_from(["alternative", "mixed", "related", "digest", "signed"]))
    # mostly one boundary per level; sometimes the parent's (nested duplicate) or an odd one
    boundary = draw(st.sampled_from([f"=_lvl{depth}"] * 6 + ["=_lvl0", "==x==", "", "a" * 80, "b1 b1", '"q"', "sp ace"]))
    declared = draw(st.sampled_from(["declared"] * 6 + ["missing", "other", "twice"]))
    children = draw(st.lists(mime_tree(eol, depth + 1), min_size=draw(st.sampled_from([1, 1, 1, 0])), max_size=4))
    head = b"Content-Type: multipart/" + subtype.encode()
    if declared == "declared":
        head += b'; boundary="' + boundary.encode() + b'"'
    elif declared == "other":
        head += b"; boundary=never-used"
    elif declared == "twice":
        head += b"; boundary=" + boundary.encode() + b"; boundary=second"
    delim = b"--" + boundary.encode()
    body = draw(st.sampled_from([b"", b"preamble" + eol, b"--" + eol]))
    for child in children:
        body += delim + draw(st.sampled_from([b"", b"  ", b"--"])) + eol + child + eol
    close = draw(st.sampled_from(["close"] * 4 + ["none", "twice", "early"]))
    if close == "close":
        body += delim + b"--" + eol + b"epilogue" + eol
    elif close == "twice":
        body += delim + b"--" + eol + delim + b"--" + eol
    elif close == "early":
        body = delim + b"--" + eol + body
    if eol == b"\r\n":
        head = head.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    return head + eol + eol + body


@st.composite
def hostile_messages(draw) -> bytes:
    eol = draw(st.sampled_from([b"\n", b"\r\n"]))
    headers = draw(header_lines(eol))
    raw = headers + draw(mime_tree(eol))
    if draw(st.integers(0, 9)) == 0:
        raw = raw[: len(raw) - draw(st.integers(1, max(1, len(raw) // 2)))]  # truncated in transit
    if draw(st.integers(0, 9)) == 0:
        raw = raw.replace(eol, b"\n" if eol == b"\r\n" else b"\r\n", draw(st.integers(1, 5)))  # mixed endings
    return raw


# ------------------------------------------------------------------------------ checks


def _parses(raw: bytes, pol) -> bool:
    """Whether the stdlib parses `raw` and can walk and decode every part."""
    try:
        msg = email.message_from_bytes(raw, policy=pol)
        for part in msg.walk():
            part.get_content_type()
            if not part.is_multipart():
                part.get_payload(decode=True)
        return True
    except Exception:  # noqa: BLE001 - the stdlib's own limits on hostile input
        return False


def _leaves(raw: bytes) -> list[tuple[str, object]]:
    """(content type, body exactly as the parser stored it) of every leaf. The stored body, not
    get_payload(): that one re-decodes with the part's charset and raises on a charset with a NUL."""
    msg = email.message_from_bytes(raw, policy=email.policy.compat32)
    return [(p.get_content_type(), p._payload) for p in msg.walk() if not p.is_multipart()]


_EOL = re.compile(rb"\r\n|\r|\n")
_HEADER_LINE = re.compile(rb"From |[\041-\071\073-\176]*:|[\t ]")  # email.feedparser's headerRE


def _lines(raw: bytes, pos: int = 0):
    """(start, end) of each line from `pos`, a line ending at CRLF, LF or a bare CR."""
    while pos < len(raw):
        m = _EOL.search(raw, pos)
        end = m.end() if m else len(raw)
        yield pos, end
        pos = end


def _decoded_leaf(raw: bytes, i: int) -> bytes:
    """The decoded body of the i-th leaf."""
    msg = email.message_from_bytes(raw, policy=email.policy.compat32)
    return decoded(next(itertools.islice((p for p in msg.walk() if not p.is_multipart()), i, None)))


def decoded(part) -> bytes:
    """A leaf's body decoded, its transfer encoding read with surrounding blanks removed (as
    pixelguard and clients read " base64 "; compat32 alone would call it unknown)."""
    cte = part.get("Content-Transfer-Encoding")
    if cte is not None and str(cte) != str(cte).strip():
        part.replace_header("Content-Transfer-Encoding", str(cte).strip())
    return part.get_payload(decode=True)


def _header_block_end(raw: bytes) -> int:
    """Offset just past the header block as the stdlib reads it: past the first empty line,
    or at the first line that cannot be a header (no empty line before the body).
    (Not pixelguard.headers.header_end: it misses a header block ending in LF CR LF.)"""
    for start, end in _lines(raw):
        if raw[start : start + 1] in (b"\r", b"\n"):
            return end
        if not _HEADER_LINE.match(raw, start, end):
            return start
    return len(raw)


def _added_header_length(out: bytes) -> int:
    """Length of the X-PixelGuard header (with its folded lines) at the top of `out`."""
    assert out.startswith(b"X-PixelGuard: "), out[:100]
    lines = _lines(out)
    next(lines)
    for start, _end in lines:
        if out[start : start + 1] not in (b" ", b"\t"):
            return start
    return len(out)


def check(raw: bytes, policy: Policy) -> None:
    result = clean_message(raw, policy)
    assert isinstance(result.raw, bytes)
    if result.error is not None:
        assert not result.error.startswith("internal error"), f"crash inside the core: {result.error}"
        assert result.raw == raw
        return
    out = result.raw
    for pol in (email.policy.compat32, email.policy.default):
        if _parses(raw, pol):
            assert _parses(out, pol), "the cleaned message no longer parses"
    if not result.findings:
        if result.skipped:
            assert out.endswith(raw) and out.startswith(b"X-PixelGuard: skipped")
        else:
            assert out == raw
        return
    # one header added on top; the original header block follows, byte-identical
    rest = out[_added_header_length(out) :]
    end = _header_block_end(raw)
    assert rest[:end] == raw[:end]
    top = email.policy.compat32
    assert email.message_from_bytes(rest, policy=top).items() == email.message_from_bytes(raw, policy=top).items()
    # same MIME structure; every leaf outside text/html untouched
    before, after = _leaves(raw), _leaves(rest)
    assert [t for t, _ in before] == [t for t, _ in after]
    for i, ((ctype, b), (_, a)) in enumerate(zip(before, after)):
        if ctype == "text/html":
            continue
        if ctype == "text/plain" and policy.notice and a != b:
            # compared decoded: a base64 or quoted-printable part is encoded anew around it
            # (and quoted-printable, whose line breaks all stand for CRLF, writes them in one
            # style: a part that mixed CRLF and LF comes out with the first line's)
            b, a = _decoded_leaf(raw, i), _decoded_leaf(rest, i)
            b, a = b.replace(b"\r\n", b"\n"), a.replace(b"\r\n", b"\n")
            # the sender's text with the notice put in at one place
            k = len(os.path.commonprefix([a, b]))
            assert len(a) > len(b) and a.endswith(b[k:]), "text/plain changed beyond the notice"
            assert a.count(b"[pixelguard") == b.count(b"[pixelguard") + 1
            continue
        assert a == b, f"{ctype} leaf changed"


# ------------------------------------------------------------------------------ tests


@pytest.mark.e2e  # the whole pipeline on EXAMPLES generated messages: seconds, not the fast suite
@FUZZ
@given(hostile_messages(), st.sampled_from(POLICIES))
def test_hostile_mime_never_crashes_and_keeps_everything_outside_html(raw: bytes, policy: Policy) -> None:
    check(raw, policy)


@pytest.mark.e2e  # as above
@FUZZ
@given(html_documents(), st.sampled_from([b"\n", b"\r\n"]), st.sampled_from(["7bit", "8bit", "base64", "quoted-printable"]),
       st.sampled_from(POLICIES))
def test_hostile_html_and_css_in_one_part_never_crash(doc: str, eol: bytes, cte: str, policy: Policy) -> None:
    body = encode(doc.encode("utf-8", "surrogatepass"), cte, "none")
    raw = (b"From: news@shop.example" + eol + b"To: bob@example.org" + eol + b"MIME-Version: 1.0" + eol
           + b"Content-Type: text/html; charset=utf-8" + eol + b"Content-Transfer-Encoding: " + cte.encode()
           + eol + eol + body)
    check(raw, policy)


@pytest.mark.e2e  # as above
@FUZZ
@given(html_documents(), st.sampled_from(POLICIES))
def test_hostile_bare_html_never_crashes(doc: str, policy: Policy) -> None:
    raw = ("<html>" + doc).encode("utf-8", "surrogatepass")
    result = clean_message(raw, policy)
    assert result.error is None or not result.error.startswith("internal error"), result.error
    if not result.findings:
        assert result.raw == raw


def test_fuzz_checks_can_fail() -> None:
    """The checker itself: a changed attachment and a lost header are caught."""
    raw = (b"From: a@shop.example\nTo: bob@example.org\nContent-Type: multipart/mixed; boundary=b\n\n--b\n"
           b"Content-Type: text/html\n\n<img src=https://t.example/o.gif width=1 height=1>\n--b\n"
           b"Content-Type: application/octet-stream\n\nAAAA\n--b--\n")
    result = clean_message(raw, POLICIES[0])
    assert result.findings
    rest = result.raw[_added_header_length(result.raw) :]
    assert _leaves(rest)[1] == _leaves(raw)[1]
    assert _leaves(rest.replace(b"AAAA", b"AAAB"))[1] != _leaves(raw)[1]



# ------------------------------------------------------------------------------ known hard inputs
# Inputs that crash the cleaner or break a property when mishandled (see docs/FUZZING.md),
# each kept as a case of its own.


def test_nul_byte_in_charset_does_not_stop_cleaning() -> None:
    raw = (b"From: a@shop.example\nTo: bob@example.org\nContent-Type: text/html; charset=\"x\x00y\"\n\n"
           b"<img src=https://t.example/o.gif width=1 height=1>\n")
    result = clean_message(raw, POLICIES[0])
    assert result.error is None
    assert [f.rule for f in result.findings] == ["size"]


def test_notice_never_lands_after_an_unclosed_final_delimiter() -> None:
    """A case the long fuzz run found: a text/plain notice put after a final `--boundary`
    with no close and no line break would turn the delimiter into text and change the
    structure every other MIME parser sees."""
    raw = (b"From: News <news@shop.example>\r\nTo: bob@example.org\r\nSubject: Offers\r\n"
           b'Content-Type: multipart/alternative; boundary="=_lvl0"\r\n\r\n'
           b"--=_lvl0\r\nContent-Type: text/html\r\nContent-Type: text/plain\r\n"
           b"Content-Transfer-Encoding: 7bit\r\n\r\n<html>\x00<head>\x00</head>\x00<body>\r\n"
           b'<img src="https://t.example/open.gif?u=bob%40example.org" width="1" height="1">\r\n'
           b"</body></html>\r\n\r\n--=_lvl0\r\nContent-Type: text/plain\r\nContent-Type: text/plain\r\n"
           b"Content-Transfer-Encoding: 7bit\r\n\r\n\r\n--=_lvl0")
    result = clean_message(raw, POLICIES[0])
    assert result.findings
    check(raw, POLICIES[0])
    assert result.raw.endswith(b"\r\n--=_lvl0") and result.raw.count(b"pixelguard removed") == 2


def test_header_block_ending_in_lf_crlf_keeps_headers_and_cleans_the_html() -> None:
    """A case the long fuzz run found: LF header lines closed by a CRLF empty line. The core
    must read it right, and so must the oracle, pixelguard.headers.header_end (FUZZING.md)."""
    raw = (b"From: News <news@shop.example>\nTo: bob@example.org\nSubject: Offers\nContent-Type: text/html\n"
           b"Content-Transfer-Encoding: 7bit\n\r\n<html>\x00<head>\x00</head>\x00<body>\r\n"
           b'<img src="https://t.example/open.gif?u=bob%40example.org" width="1" height="1">\r\n</body></html>\r\n')
    result = clean_message(raw, POLICIES[0])
    assert result.findings and b"t.example" not in result.raw
    check(raw, POLICIES[0])
