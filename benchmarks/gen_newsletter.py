"""Generate realistic table-layout HTML newsletters of a given size (benchmark input only).

The shape follows what ESPs send: a `<style>` block with resets, mobile media queries and a
dark-mode block; a hidden preheader; nested 600 px layout tables; an Outlook conditional
comment with a VML background (`v:rect` / `v:fill`); article blocks with content images,
`background=` cells, inline `style` url(), spacer GIFs and tracked links; and a few real
open pixels (SendGrid-, Mailchimp- and hidden-div-style) near the end. Content is repeated
article blocks until the requested size, so every size has the same mix per kB.

    python benchmarks/gen_newsletter.py 100000 > /tmp/n.html       # bare HTML
    python benchmarks/gen_newsletter.py 100000 --eml > /tmp/n.eml  # as a MIME message

Deterministic for a given (size, seed).
"""
from __future__ import annotations

import argparse
import base64
import binascii
import quopri
import random
import sys

RECIPIENT = "reader@example.org"

_HEAD = """<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN" "http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">
<html xmlns="http://www.w3.org/1999/xhtml" xmlns:v="urn:schemas-microsoft-com:vml" xmlns:o="urn:schemas-microsoft-com:office:office">
<head>
<meta http-equiv="Content-Type" content="text/html; charset=UTF-8">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<title>{title}</title>
<!--[if gte mso 9]><xml><o:OfficeDocumentSettings><o:AllowPNG/><o:PixelsPerInch>96</o:PixelsPerInch></o:OfficeDocumentSettings></xml><![endif]-->
<style type="text/css">
body, table, td, a {{ -webkit-text-size-adjust: 100%; -ms-text-size-adjust: 100%; }}
table, td {{ mso-table-lspace: 0pt; mso-table-rspace: 0pt; }}
img {{ -ms-interpolation-mode: bicubic; border: 0; height: auto; line-height: 100%; outline: none; text-decoration: none; }}
body {{ margin: 0 !important; padding: 0 !important; width: 100% !important; }}
.mobile-only {{ display: none; max-height: 0; overflow: hidden; }}
.hero {{ background-image: url('https://img.{brand}.example/hero/bg-{n}.jpg'); background-size: cover; }}
@media screen and (max-width: 600px) {{
  .wrapper {{ width: 100% !important; max-width: 100% !important; }}
  .mobile-only {{ display: block !important; max-height: none !important; }}
  .desktop-only {{ display: none !important; }}
  .stack {{ display: block !important; width: 100% !important; }}
  .hero {{ background-image: url('https://img.{brand}.example/hero/bg-{n}-m.jpg') !important; }}
}}
@media (prefers-color-scheme: dark) {{
  .logo-light {{ display: none !important; }}
  .logo-dark {{ display: block !important; }}
  body, .bg {{ background-color: #111111 !important; }}
}}
</style>
</head>
<body style="margin:0; padding:0; background-color:#f4f4f4;" class="bg">
<div style="display:none; font-size:1px; color:#f4f4f4; line-height:1px; max-height:0; max-width:0; opacity:0; overflow:hidden;">{preheader}</div>
<table border="0" cellpadding="0" cellspacing="0" width="100%" role="presentation">
<tr><td align="center" bgcolor="#f4f4f4">
<!--[if (gte mso 9)|(IE)]><table align="center" border="0" cellspacing="0" cellpadding="0" width="600"><tr><td align="center" valign="top" width="600"><![endif]-->
<table border="0" cellpadding="0" cellspacing="0" width="100%" style="max-width:600px;" class="wrapper">
<tr><td align="center" valign="top" style="padding:20px 10px;">
<a href="https://click.{brand}.example/ls/click?upn={tok}" target="_blank"><img src="https://img.{brand}.example/logo/light.png" width="160" height="40" alt="{title}" class="logo-light" style="display:block;"></a>
<div class="logo-dark" style="display:none; max-height:0; overflow:hidden;"><img src="https://img.{brand}.example/logo/dark.png" width="160" height="40" alt="{title}" style="display:block;"></div>
</td></tr>
<tr><td background="https://img.{brand}.example/hero/bg-{n}.jpg" bgcolor="#333333" valign="top" class="hero" style="background-image:url('https://img.{brand}.example/hero/bg-{n}.jpg');">
<!--[if gte mso 9]>
<v:rect xmlns:v="urn:schemas-microsoft-com:vml" fill="true" stroke="false" style="width:600px;height:300px;">
<v:fill type="tile" src="https://img.{brand}.example/hero/bg-{n}.jpg" color="#333333" />
<v:textbox inset="0,0,0,0">
<![endif]-->
<div><h1 style="color:#ffffff; font-family:Helvetica,Arial,sans-serif; font-size:32px; padding:80px 40px;">{title}</h1></div>
<!--[if gte mso 9]></v:textbox></v:rect><![endif]-->
</td></tr>
"""

_ARTICLE = """<tr><td style="padding:0 10px;">
<table border="0" cellpadding="0" cellspacing="0" width="100%" role="presentation" style="background-color:#ffffff;">
<tr><td class="stack" width="280" valign="top" style="padding:20px;">
<a href="https://click.{brand}.example/ls/click?upn={tok}&amp;utm_source=newsletter&amp;utm_medium=email&amp;utm_campaign=issue-{issue}" target="_blank"><img src="https://img.{brand}.example/articles/{i}/thumb-{w}x{h}.jpg" width="{w}" height="{h}" alt="{alt}" style="display:block; width:100%; max-width:{w}px; height:auto;" border="0"></a>
</td>
<td class="stack" valign="top" style="padding:20px 20px 20px 0; font-family:Georgia,serif; font-size:16px; line-height:24px; color:#333333;">
<h2 style="margin:0 0 10px 0; font-size:22px; line-height:28px;"><a href="https://click.{brand}.example/ls/click?upn={tok2}" style="color:#1a1a1a; text-decoration:none;">{headline}</a></h2>
<p style="margin:0 0 12px 0;">{para}</p>
<p style="margin:0;">{para2}</p>
<table border="0" cellpadding="0" cellspacing="0" role="presentation"><tr>
<td align="center" bgcolor="#0066cc" style="border-radius:4px;">
<!--[if mso]><v:roundrect xmlns:v="urn:schemas-microsoft-com:vml" href="https://click.{brand}.example/ls/click?upn={tok3}" style="height:40px;v-text-anchor:middle;width:180px;" arcsize="10%" stroke="f" fillcolor="#0066cc"><w:anchorlock/><center><![endif]-->
<a href="https://click.{brand}.example/ls/click?upn={tok3}" style="background-color:#0066cc; border-radius:4px; color:#ffffff; display:inline-block; font-family:sans-serif; font-size:15px; line-height:40px; text-align:center; text-decoration:none; width:180px;">Read more</a>
<!--[if mso]></center></v:roundrect><![endif]-->
</td></tr></table>
</td></tr>
<tr><td colspan="2" height="20" style="font-size:0; line-height:0;"><img src="https://img.{brand}.example/s.gif" width="1" height="20" alt="" style="display:block;"></td></tr>
<tr><td colspan="2" style="padding:0 20px 20px 20px;">
<div class="mobile-only" style="display:none; max-height:0; overflow:hidden; mso-hide:all;"><img src="https://img.{brand}.example/articles/{i}/banner-mobile.jpg" width="100%" alt="{alt}" style="display:block;"></div>
<div class="desktop-only"><img src="https://img.{brand}.example/articles/{i}/banner.jpg" width="560" height="120" alt="{alt}" style="display:block;"></div>
</td></tr>
<tr><td colspan="2" background="https://img.{brand}.example/pattern/{pat}.png" style="background:url(https://img.{brand}.example/pattern/{pat}.png) repeat-x; height:4px; font-size:0;">&nbsp;</td></tr>
</table>
</td></tr>
"""

_FOOT = """<tr><td align="center" style="padding:30px 10px; font-family:Helvetica,Arial,sans-serif; font-size:12px; color:#888888;">
<p>You are receiving this because you subscribed at {brand}.example. <a href="https://{brand}.example/unsubscribe?u={tok}" style="color:#888888;">Unsubscribe</a> &middot; <a href="https://{brand}.example/preferences?u={tok}" style="color:#888888;">Preferences</a></p>
<p>{brand_title} Inc., 1 Example Street, Springfield</p>
<img src="https://u1234567.ct.sendgrid.net/wf/open?upn={tok}" alt="" width="1" height="1" border="0" style="height:1px !important;width:1px !important;border-width:0 !important;margin-top:0 !important;margin-bottom:0 !important;margin-right:0 !important;margin-left:0 !important;padding-top:0 !important;padding-bottom:0 !important;padding-right:0 !important;padding-left:0 !important;"/>
<img src="https://{brand}.us{n}.list-manage.com/track/open.php?u={hexa}&amp;id={hexb}&amp;e={hexc}" height="1" width="1" alt="">
<div style="display:none;"><img src="https://t.{brand}.example/o/{tok2}.gif" alt=""></div>
</td></tr>
</table>
<!--[if (gte mso 9)|(IE)]></td></tr></table><![endif]-->
</td></tr>
</table>
</body>
</html>
"""

_WORDS = ["the", "quarterly", "report", "shows", "readers", "new", "features", "growth", "market", "product", "design", "engineering", "launch", "team", "update", "community", "event", "city", "weather", "travel", "recipe", "science", "health", "policy", "data", "open", "source", "release", "notes", "interview"]


def encode_text(text: str, cte: str, charset: str) -> bytes:
    """The body of a text part holding `text` in `charset` under transfer encoding `cte`
    (LF line ends; characters the charset lacks become character references)."""
    data = text.encode(charset, "xmlcharrefreplace")
    if cte == "base64":
        return base64.encodebytes(data)
    if cte == "quoted-printable":
        return binascii.b2a_qp(data, istext=True) + b"\n"
    return data


def _sentence(rng: random.Random, n: int) -> str:
    words = [rng.choice(_WORDS) for _ in range(n)]
    return " ".join(words).capitalize() + "."


def _tok(rng: random.Random, n: int = 48) -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    return "".join(rng.choice(alphabet) for _ in range(n))


def newsletter(size: int, seed: int = 1) -> str:
    """A newsletter of about `size` characters (at least one article, ±one article's size)."""
    rng = random.Random(seed)
    brand = rng.choice(("acme", "dailybrief", "techweekly", "citynews", "gardenclub"))
    common = {"brand": brand, "brand_title": brand.capitalize(), "n": rng.randint(1, 20),
              "title": f"{brand.capitalize()} weekly", "tok": _tok(rng), "tok2": _tok(rng),
              "hexa": f"{rng.getrandbits(96):024x}", "hexb": f"{rng.getrandbits(40):010x}",
              "hexc": f"{rng.getrandbits(40):010x}"}
    parts = [_HEAD.format(preheader=_sentence(rng, 14), **common)]
    foot = _FOOT.format(**common)
    total = len(parts[0]) + len(foot)
    i = 0
    while True:
        w, h = rng.choice(((240, 160), (280, 180), (200, 200)))
        block = _ARTICLE.format(
            brand=brand, i=i, w=w, h=h, issue=rng.randint(100, 999), tok=_tok(rng),
            tok2=_tok(rng), tok3=_tok(rng), alt=_sentence(rng, 4)[:-1],
            headline=_sentence(rng, 7)[:-1], para=_sentence(rng, 40), para2=_sentence(rng, 25),
            pat=rng.choice(("dots", "line", "wave")),
        )
        if i > 0 and total + len(block) > size:
            break
        parts.append(block)
        total += len(block)
        i += 1
    parts.append(foot)
    return "".join(parts)


def as_message(html: str, text: str = "View this newsletter in a browser.\n",
               attachments: list[tuple[str, bytes]] = ()) -> bytes:
    """A multipart/alternative (or mixed, with attachments) message, HTML quoted-printable."""
    qp = quopri.encodestring(html.encode("utf-8")).replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    alt = (
        b'Content-Type: multipart/alternative; boundary="alt-b"\r\n\r\n'
        b"--alt-b\r\nContent-Type: text/plain; charset=utf-8\r\n"
        b"Content-Transfer-Encoding: 7bit\r\n\r\n" + text.encode().replace(b"\n", b"\r\n")
        + b"\r\n--alt-b\r\nContent-Type: text/html; charset=utf-8\r\n"
        b"Content-Transfer-Encoding: quoted-printable\r\n\r\n" + qp
        + b"\r\n--alt-b--\r\n"
    )
    headers = (
        b"From: Newsletter <news@brand.example>\r\n"
        b"To: " + RECIPIENT.encode() + b"\r\n"
        b"Subject: This week\r\nDate: Mon, 23 Nov 2026 10:00:00 +0000\r\n"
        b"Message-ID: <bench@brand.example>\r\nMIME-Version: 1.0\r\n"
    )
    if not attachments:
        return headers + alt
    body = [headers, b'Content-Type: multipart/mixed; boundary="mix-b"\r\n\r\n']
    body.append(b"--mix-b\r\n" + alt)
    for name, data in attachments:
        b64 = base64.encodebytes(data).replace(b"\n", b"\r\n")
        body.append(
            b"--mix-b\r\nContent-Type: application/octet-stream; name=\"" + name.encode()
            + b"\"\r\nContent-Disposition: attachment; filename=\"" + name.encode()
            + b"\"\r\nContent-Transfer-Encoding: base64\r\n\r\n" + b64
        )
    body.append(b"--mix-b--\r\n")
    return b"".join(body)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("size", type=int, help="approximate HTML size in characters")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--eml", action="store_true", help="wrap in a MIME message")
    args = ap.parse_args()
    html = newsletter(args.size, args.seed)
    if args.eml:
        sys.stdout.buffer.write(as_message(html))
    else:
        sys.stdout.write(html)


if __name__ == "__main__":
    main()
