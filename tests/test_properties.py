"""Property tests (hypothesis): fidelity and robustness of clean_message on generated mail."""
from __future__ import annotations

import base64
import email
import email.policy
import os

from gen_newsletter import encode_text
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pixelguard import Policy, clean_message
from pixelguard.headers import header_end

SNIPPETS = [
    '<p>Hello &amp; welcome</p>',
    '<img src="https://cdn.shop.example/hero.jpg" width="600" height="200">',
    '<img src="cid:logo@x" width="1" height="1">',
    '<img src="https://media.mailer.example/x.gif" width="1" height="1">',
    '<div style="display:none"><img src="https://media.mailer.example/h.png"></div>',
    '<td background="https://img.partner.example/bg.png?e=bob%40example.org">',
    '<style>@import url(https://fonts.partner.example/a.css); p{color:red}</style>',
    '<!--[if mso]><img src="https://media.mailer.example/m.gif" width="1" height="1"><![endif]-->',
    '<p style="font-family:&quot;Arial&quot;">Grüße €</p>',
    '<table><tr><td>cell<td>cell</table>',
    '<a href="https://shop.example/deal">Deal</a>',
]
policy_for_bob = Policy(recipients=("bob@example.org",))

html_docs = st.lists(st.sampled_from(SNIPPETS), min_size=0, max_size=8).map(
    lambda parts: "<html><body>\n" + "\n".join(parts) + "\n</body></html>\n"
)


@st.composite
def messages(draw) -> bytes:
    eol = draw(st.sampled_from(["\n", "\r\n"]))
    charset = draw(st.sampled_from(["utf-8", "iso-8859-1", "windows-1252"]))
    html = draw(html_docs)
    cte = draw(st.sampled_from(["7bit", "8bit", "quoted-printable", "base64"]))
    html_part = (
        f"Content-Type: text/html; charset={charset}\nContent-Transfer-Encoding: {cte}\n\n".encode()
        + encode_text(html, cte, charset)
    )
    plain_part = b"Content-Type: text/plain; charset=utf-8\n\nHello Bob\n"
    attachment = (
        b"Content-Type: application/octet-stream; name=a.bin\nContent-Transfer-Encoding: base64\n\n"
        + base64.encodebytes(draw(st.binary(max_size=300)))
    )
    layout = draw(st.sampled_from(["single", "alternative", "mixed"]))
    head = b"From: a@shop.example\nTo: bob@example.org\nSubject: =?utf-8?q?T=C3=A9st?=\nX-Long: " + b"x" * draw(
        st.integers(0, 1200)) + b"\nMIME-Version: 1.0\n"
    if layout == "single":
        raw = head + html_part
    elif layout == "alternative":
        raw = (head + b'Content-Type: multipart/alternative; boundary="zz"\n\npreamble\n--zz\n' + plain_part
               + b"--zz\n" + html_part + b"\n--zz--\nepilogue\n")
    else:
        raw = (head + b'Content-Type: multipart/mixed; boundary="mm"\n\n--mm\n' + html_part + b"\n--mm\n"
               + attachment + b"--mm--\n")
    return raw.replace(b"\n", eol.encode()) if eol == "\r\n" else raw


def _leaves(raw: bytes):
    msg = email.message_from_bytes(raw, policy=email.policy.compat32)
    return [(p.get_content_type(), p.get_payload(decode=False)) for p in msg.walk() if not p.is_multipart()]


SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(messages())
def test_no_findings_means_byte_identical_and_findings_keep_everything_else(raw: bytes) -> None:
    result = clean_message(raw, policy_for_bob)
    assert result.error is None
    if not result.findings:
        assert result.raw == raw
        return
    out = result.raw
    assert out.startswith(b"X-PixelGuard: removed=")
    # all original headers: byte-identical and in order, after our one added header
    end = header_end(raw)
    assert out.endswith(raw[end:]) or raw[:end] in out
    assert out[out.index(raw[:end][:40]):].startswith(raw[:end])
    # output parses, with the same structure; non-HTML leaves untouched (text/plain gains the
    # notice)
    before, after = _leaves(raw), _leaves(out)
    assert [t for t, _ in before] == [t for t, _ in after]
    for (ctype, b), (_, a) in zip(before, after):
        if ctype == "application/octet-stream":
            assert a == b
        if ctype == "text/plain":  # the sender's text, and the notice as one paragraph in it
            assert a.count("[pixelguard") == b.count("[pixelguard") + 1
            k = len(os.path.commonprefix([a, b]))
            assert a.endswith(b[k:]) and len(a) > len(b)


@SETTINGS
@given(st.binary(max_size=2000))
def test_arbitrary_bytes_never_raise(raw: bytes) -> None:
    result = clean_message(raw, policy_for_bob)
    assert isinstance(result.raw, bytes)
    if result.error or not result.findings:
        assert result.raw == raw


@SETTINGS
@given(st.text(max_size=3000), st.sampled_from(["", "From: a@b.example\nContent-Type: text/html\n\n"]))
def test_arbitrary_html_never_raises_and_parses(text: str, head: str) -> None:
    raw = (head + text).encode("utf-8", "surrogatepass")
    result = clean_message(raw, policy_for_bob)
    assert isinstance(result.raw, bytes)
    if not result.findings:
        assert result.raw == raw
    else:
        email.message_from_bytes(result.raw)
