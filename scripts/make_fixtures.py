"""Write the small single-purpose .eml fixtures under fixtures/ (run once; the files are committed).

Every fixture is addressed to bob@example.org from news@shop.example. Trackers live on
hosts named for what they are; content images on cdn.shop.example.
"""
from __future__ import annotations

import base64
import hashlib
import pathlib

OUT = pathlib.Path(__file__).resolve().parent.parent / "fixtures"
BOB = "bob@example.org"
TOKEN = "k8Jd93hfQz7Lm2Xp4Rt6"
SHA256 = hashlib.sha256(BOB.encode()).hexdigest()
MD5 = hashlib.md5(BOB.encode()).hexdigest()
SHA1 = hashlib.sha1(BOB.encode()).hexdigest()
B64 = base64.urlsafe_b64encode(BOB.encode()).decode().rstrip("=")
B64PAD = base64.b64encode(BOB.encode()).decode()

HEAD = (
    "From: Shop News <news@shop.example>\n"
    f"To: Bob <{BOB}>\n"
    "Subject: {subject}\n"
    "Date: Mon, 23 Nov 2026 10:00:00 +0000\n"
    "Message-ID: <{name}@shop.example>\n"
    "MIME-Version: 1.0\n"
)
CONTENT = '<p>Hello Bob, here is our news.</p>\n<img src="https://cdn.shop.example/hero.jpg" width="600" height="300" alt="Hero">\n'


def html_mail(name: str, subject: str, body: str, head: str = "", extra_headers: str = "") -> str:
    html = f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">{head}</head>\n<body>\n{CONTENT}{body}\n</body></html>\n"
    return (HEAD.format(subject=subject, name=name) + extra_headers
            + "Content-Type: text/html; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n" + html)


SIMPLE = {
    # --- size rule
    "size-attr-1x1": ("1x1 pixel by attributes", '<img src="https://media.mailer.example/p/a.gif" width="1" height="1" alt="">'),
    "size-attr-1px": ("width=1px height=1px", '<img src="https://media.mailer.example/p/b.gif" width="1px" height="1px">'),
    "size-zero": ("0x0 pixel", '<img src="https://media.mailer.example/p/c.gif" width="0" height="0">'),
    "size-css": ("pixel sized only by CSS", '<img src="https://media.mailer.example/p/d.gif" style="width:1px;height:1px;border:0">'),
    "size-css-important": ("CSS !important beats attributes", '<img src="https://media.mailer.example/p/e.gif" width="600" height="300" style="width: 1px !important; height: 1px !important">'),
    "size-max-width": ("max-width:1px max-height:1px", '<img src="https://media.mailer.example/p/f.gif" style="max-width:1px;max-height:1px">'),
    "size-width-only": ("width=1 and no height", '<img src="https://media.mailer.example/p/g.gif" width="1">'),
    # --- hidden rule
    "hidden-display-none": ("display:none image", '<img src="https://media.mailer.example/h/a.png" style="display:none" width="200" height="100">'),
    "hidden-parent": ("visibility:hidden parent", '<div style="visibility:hidden"><span><img src="https://media.mailer.example/h/b.png" width="200" height="100"></span></div>'),
    "hidden-opacity": ("opacity:0", '<img src="https://media.mailer.example/h/c.png" style="opacity:0" width="120" height="40">'),
    "hidden-offscreen": ("off-screen", '<div style="position:absolute;left:-9999px"><img src="https://media.mailer.example/h/d.png" width="120" height="40"></div>'),
    "hidden-maxheight": ("preheader wrapper", '<div style="max-height:0;overflow:hidden;mso-hide:all">Preview text <img src="https://media.mailer.example/h/e.png" width="120" height="40"></div>'),
    "hidden-stylesheet-class": ("hidden by a stylesheet class", '<img class="trk" src="https://media.mailer.example/h/f.png" width="120" height="40">'),
    # --- known tracker list
    "known-mailchimp": ("Mailchimp open pixel, no size", f'<img src="https://shop.us1.list-manage.com/track/open.php?u={TOKEN}&id=abc123&e=def456" border="0">'),
    "known-sendgrid": ("SendGrid open pixel", f'<img src="https://u1234567.ct.sendgrid.net/wf/open?upn={TOKEN}" alt="" width="1" height="1" border="0">'),
    # --- url shape
    "shape-unsized-open": ("open path on an unsized image", f'<img src="https://news.shop.example/o/{TOKEN}">'),
    "shape-entity-url": ("entities in the URL", '<img src="https://news.shop.example/track/open?a=1&amp;b=2" width="1" height="1">'),
    "shape-protocol-relative": ("protocol-relative URL", '<img src="//news.shop.example/open.gif?c=1" style="width:1px;height:1px">'),
    # --- recipient leak
    "leak-plain": ("address in the URL", f'<img src="https://img.partner.example/banner.png?email={BOB}" width="600" height="100">'),
    "leak-percent": ("percent-encoded address", '<img src="https://img.partner.example/banner.png?e=bob%40example.org" width="600" height="100">'),
    "leak-base64": ("base64 address (url-safe, no padding)", f'<img src="https://img.partner.example/b/{B64}/banner.png" width="600" height="100">'),
    "leak-base64-padded": ("base64 address with padding", f'<img src="https://img.partner.example/banner.png?u={B64PAD}" width="600" height="100">'),
    "leak-md5": ("MD5 of the address", f'<img src="https://img.partner.example/banner.png?h={MD5}" width="600" height="100">'),
    "leak-sha1": ("SHA-1 of the address", f'<img src="https://img.partner.example/banner.png?h={SHA1.upper()}" width="600" height="100">'),
    "leak-sha256": ("SHA-256 of the address", f'<img src="https://img.partner.example/{SHA256}.png" width="600" height="100">'),
    # --- vectors
    "vector-srcset": ("tracker in srcset", f'<img src="https://cdn.shop.example/a.jpg" srcset="https://cdn.shop.example/a.jpg 1x, https://img.partner.example/a2x.jpg?e={BOB} 2x" width="300" height="100">'),
    "vector-picture": ("tracker in picture/source", f'<picture><source srcset="https://img.partner.example/p.webp?e={BOB}" type="image/webp"><img src="https://cdn.shop.example/p.jpg" width="300" height="100"></picture>'),
    "vector-background-attr": ("td background attribute", f'<table><tr><td background="https://img.partner.example/bg.png?e={BOB}" width="600">Text</td></tr></table>'),
    "vector-inline-style": ("inline style url()", f'<div style="color:#333; background-image: url(\'https://img.partner.example/bg.png?e={BOB}\'); padding:4px">Text</div>'),
    "vector-inline-style-entities": ("inline style url() with entities", f'<div style="background:url(&quot;https://img.partner.example/bg.png?e={BOB}&quot;) no-repeat;color:red">Text</div>'),
    "vector-input-image": ("input type=image pixel", '<input type="image" src="https://media.mailer.example/i.gif" width="1" height="1">'),
    "vector-video-poster": ("video poster", f'<video poster="https://img.partner.example/poster.jpg?e={BOB}" width="320" height="180"></video>'),
    "vector-svg-image": ("SVG image xlink:href", f'<svg width="100" height="100"><image xlink:href="https://img.partner.example/s.png?e={BOB}" width="100" height="100"/></svg>'),
    "vector-iframe": ("hidden iframe", '<iframe src="https://media.mailer.example/frame.html" width="0" height="0" style="display:none"></iframe>'),
    "vector-mso-img": ("pixel inside an Outlook conditional comment", '<!--[if mso]>\n<img src="https://media.mailer.example/mso.gif" width="1" height="1">\n<![endif]-->'),
    "vector-vml-fill": ("VML v:fill inside a conditional comment", f'<!--[if gte mso 9]>\n<v:rect xmlns:v="urn:schemas-microsoft-com:vml" fill="true" stroke="false" style="width:600px;"><v:fill type="tile" src="https://img.partner.example/vml.png?e={BOB}" color="#ffffff"/></v:rect>\n<![endif]-->'),
    "vector-base-href": ("relative URL resolved by <base href>", '<img src="open.gif?id=77" width="1" height="1">'),
    # --- negatives
    "negative-content": ("content images only", '<img src="https://cdn.shop.example/product.jpg" width="280" height="280" alt="Product">\n<img src="https://cdn.shop.example/logo.png" alt="Logo">'),
    "negative-cid-data": ("cid: and data: images", '<img src="cid:logo@shop.example" width="1" height="1">\n<img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=" width="1" height="1">'),
    "negative-spacers": ("repeated layout spacers", '\n'.join('<img src="https://cdn.shop.example/spacer.gif" width="1" height="1">' for _ in range(4))),
    "negative-revealable-mobile": ("mobile-only image revealed by a media query", '<div class="mobile-only" style="display:none;max-height:0;overflow:hidden"><img src="https://cdn.shop.example/mobile-hero.jpg" width="320" height="160"></div>'),
    "negative-divider": ("600x1 divider line", '<img src="https://cdn.shop.example/divider.png" width="600" height="1">'),
}
HEADS = {
    "hidden-stylesheet-class": "<style>.trk{display:none}</style>",
    "negative-revealable-mobile": "<style>@media only screen and (max-width:480px){ .mobile-only{display:block !important;max-height:none !important} }</style>",
    "vector-base-href": '<base href="https://news.shop.example/t/">',
}
STYLE = {
    "vector-style-import": ("@import of a remote stylesheet", '<style>@import url("https://fonts.partner.example/css?family=Foo");\np{color:red}</style>'),
    "vector-style-font-face": ("@font-face with a personalised token", f"<style>@font-face {{ font-family: T; src: url(https://fonts.partner.example/f/shop.woff?r={TOKEN}) format('woff'); }}</style>"),
    "vector-style-print": ("@media print background", "<style>@media print { body { background-image: url('https://print.partner.example/p.gif?m=42'); } }</style>"),
    "vector-style-dark": ("prefers-color-scheme with a tracker", f"<style>@media (prefers-color-scheme: dark) {{ .logo {{ background-image: url(https://news.shop.example/open/{TOKEN}); }} }}</style>"),
    "vector-style-forward": ("forward-detection selector", "<style>div.OutlookMessageHeader, blockquote .gmail_quote { background-image: url('https://fwd.partner.example/f.gif'); }</style>"),
    "vector-link-stylesheet": ("<link rel=stylesheet>", '<link rel="stylesheet" href="https://fonts.partner.example/style.css">'),
}


PIXEL = '<img src="https://media.mailer.example/m/open.gif" width="1" height="1" alt="">'


def mime_fixtures() -> dict[str, bytes]:
    html = f"<html><body>\n{CONTENT}{PIXEL}\n</body></html>\n"
    out: dict[str, bytes] = {}
    head = HEAD.format(subject="{subject}", name="{name}")

    def h(name: str, subject: str) -> str:
        return head.replace("{subject}", subject).replace("{name}", name)

    out["mime-alternative-qp"] = (
        h("mime-alternative-qp", "multipart/alternative, quoted-printable HTML")
        + 'Content-Type: multipart/alternative; boundary="alt-1"\n\n'
        "This is a multi-part message in MIME format.\n"
        "--alt-1\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 7bit\n\n"
        "Hello Bob, here is our news.\n"
        "--alt-1\nContent-Type: text/html; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\n"
        + html.replace("=", "=3D").replace("</body>", "=\n</body>")
        + "--alt-1--\nepilogue stays\n"
    ).encode()
    b64 = base64.encodebytes(html.encode()).decode()
    out["mime-base64-crlf"] = (
        h("mime-base64-crlf", "base64 HTML with CRLF line endings")
        + 'Content-Type: multipart/mixed; boundary="mix-2"\n\n'
        "--mix-2\nContent-Type: text/html; charset=\"utf-8\"\nContent-Transfer-Encoding: base64\n\n"
        + b64
        + "--mix-2\nContent-Type: application/pdf; name=\"report.pdf\"\n"
        "Content-Disposition: attachment; filename=\"report.pdf\"\nContent-Transfer-Encoding: base64\n\n"
        + base64.encodebytes(b"%PDF-1.4 fake but untouched \x00\x01\x02" * 20).decode()
        + "--mix-2--\n"
    ).replace("\n", "\r\n").encode()
    latin = f"<html><body><p>Gr\u00fc\u00dfe aus K\u00f6ln \u00a3</p>{PIXEL}</body></html>\n"
    out["mime-latin1"] = (
        h("mime-latin1", "ISO-8859-1 HTML")
        + "Content-Type: text/html; charset=iso-8859-1\nContent-Transfer-Encoding: 8bit\n\n"
    ).encode() + latin.encode("latin-1")
    out["mime-no-charset"] = (
        h("mime-no-charset", "no charset, 8bit UTF-8 body")
        + "Content-Type: text/html\nContent-Transfer-Encoding: 8bit\n\n"
    ).encode() + latin.encode("utf-8")
    out["mime-wrong-charset"] = (
        h("mime-wrong-charset", "declared UTF-8, actually Windows-1252")
        + "Content-Type: text/html; charset=utf-8\n\n"
    ).encode() + latin.replace("\u00a3", "\u20ac").encode("cp1252")
    inner = (
        "From: Partner <hello@partner.example>\nTo: alice@example.net\nSubject: inner\n"
        "MIME-Version: 1.0\nContent-Type: text/html; charset=utf-8\n\n" + html
    )
    out["mime-attached-rfc822"] = (
        h("mime-attached-rfc822", "forwarded message as attachment")
        + 'Content-Type: multipart/mixed; boundary="fwd-3"\n\n'
        "--fwd-3\nContent-Type: text/plain; charset=utf-8\n\nSee the attached message.\n"
        "--fwd-3\nContent-Type: message/rfc822\nContent-Disposition: attachment\n\n"
        + inner + "--fwd-3--\n"
    ).encode()
    # A delivery notification as one real mailer sends it: no empty line between the header
    # block and the first boundary. Mail clients (and Python's email) still show its HTML.
    out["mime-no-header-separator"] = (
        h("mime-no-header-separator", "delivery notification, no empty line after the headers")
        + 'Content-Type: multipart/report; report-type=delivery-status; boundary="dsn-4"\n'
        "--dsn-4\nContent-Type: text/html; charset=utf-8\n\n"
        "<html><body><p>Your parcel was delivered.</p>\n"
        '<img src="https://media.mailer.example/m/dsn-open.gif" width="1" height="1" alt="">\n'
        "</body></html>\n"
        "--dsn-4\nContent-Type: message/delivery-status\n\n"
        "Reporting-MTA: dns; mx.shop.example\n\n"
        "Final-Recipient: rfc822; bob@example.org\nAction: delivered\nStatus: 2.0.0\n"
        "--dsn-4--\n"
    ).encode()
    # base64 with stray characters in it, as a broken mailer writes it: clients skip them
    b64_broken = base64.encodebytes(html.encode()).decode()
    b64_broken = b64_broken[:40] + "!*" + b64_broken[40:]
    out["mime-broken-base64-pixel"] = (
        h("mime-broken-base64-pixel", "base64 HTML with stray characters and a pixel")
        + "Content-Type: text/html; charset=utf-8\nContent-Transfer-Encoding: base64\n\n"
        + b64_broken
    ).encode()
    out["mime-plain-only"] = (
        h("mime-plain-only", "plain text only")
        + "Content-Type: text/plain; charset=utf-8\n\nNo HTML here: https://media.mailer.example/x.gif\n"
    ).encode()
    out["bad-not-a-message"] = b"\x00\x01garbage without any header\n\x89PNG\r\n"
    out["bad-broken-base64"] = (
        h("bad-broken-base64", "truncated base64 HTML")
        + "Content-Type: text/html; charset=utf-8\nContent-Transfer-Encoding: base64\n\n"
        "PGh0bWw+PGJvZHk+PGltZyBzcmM9Imh0dHBzOi8vcGl4ZWwuZXhhbXBsZS9hLmdpZiIgd2lkdGg9IjEi!!!\n"
    ).encode()
    return out


def notice_fixtures() -> dict[str, bytes]:
    """Newsletters shaped as real ones are, for where the notice goes and how it looks: a
    padded hidden preheader, a table layout, a dark-mode stylesheet, a text/plain twin."""
    head = HEAD.format(subject="{subject}", name="{name}")
    pad = "&zwnj;&nbsp;" * 120  # what senders put after a preheader to fill the preview
    story = ("This week we tested the new trail shoes on three mountains, in rain and in snow. "
             "Our verdict, the prices and where to try them on are below, together with the "
             "dates of the autumn running club and a short interview with our repair workshop. ")
    plain = ("Autumn trail report\n\n" + story + "\n\n" + story + "\n\nSee you on the trail,\n"
             "the shop team\n")
    layout = (
        '<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0">'
        '<tr><td></td><td width="600" class="col" style="max-width:600px">\n'
        '<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0">\n'
        '<tr><td class="box" style="padding:16px"><h1 class="fg">Autumn trail report</h1>\n'
        '<img src="https://cdn.shop.example/trail.jpg" width="568" alt="Trail" '
        'style="max-width:100%;height:auto">\n'
        f'<p class="fg">{story}</p>\n<p class="fg">{story}</p>\n'
        '<p class="fg">See you on the trail, the shop team</p></td></tr>\n</table>\n'
        '</td><td></td></tr></table>\n'
        f'<img src="https://u1234567.ct.sendgrid.net/wf/open?upn={TOKEN}" width="1" height="1" alt="">\n'
        f'<img src="https://news.shop.example/o/{TOKEN}" width="1" height="1" alt="">\n'
        f'<img src="https://media.mailer.example/m/open.gif?r={TOKEN}" style="display:none">\n'
    )
    dark = ('<meta name="color-scheme" content="light dark">'
            '<meta name="supported-color-schemes" content="light dark">'
            "<style>body{margin:0;background:#ffffff}.fg{color:#222222}"
            "@media (prefers-color-scheme: dark){body,.box{background:#121212 !important}"
            ".fg{color:#eeeeee !important}}"
            "@media only screen and (max-width:480px){.col{width:100% !important}}</style>")

    def alternative(name: str, subject: str, lang: str, preheader: str) -> bytes:
        html = (f'<!DOCTYPE html>\n<html lang="{lang}"><head><meta charset="utf-8">{dark}</head>\n'
                f'<body>\n{preheader}\n{layout}</body></html>\n')
        return (head.replace("{subject}", subject).replace("{name}", name)
                + 'Content-Type: multipart/alternative; boundary="alt-n"\n\n'
                "--alt-n\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n"
                + plain
                + "--alt-n\nContent-Type: text/html; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n"
                + html + "--alt-n--\n").encode()

    hidden = ('<div style="display:none;max-height:0;overflow:hidden;mso-hide:all">'
              "Trail shoes tested, club dates inside{pad}</div>")
    return {
        "notice-padded-preheader": alternative(
            "notice-padded-preheader", "hidden preheader padded to fill the preview", "en",
            hidden.format(pad=pad)),
        "notice-short-preheader": alternative(
            "notice-short-preheader", "short preheader, the preview runs into the content", "de",
            hidden.format(pad="")),
        "notice-no-preheader": alternative(
            "notice-no-preheader", "no preheader at all", "fr", ""),
    }


def main() -> None:
    OUT.mkdir(exist_ok=True)
    for name, (subject, body) in SIMPLE.items():
        (OUT / f"{name}.eml").write_text(html_mail(name, subject, body, HEADS.get(name, "")))
    for name, (subject, head) in STYLE.items():
        (OUT / f"{name}.eml").write_text(html_mail(name, subject, "", head))
    for name, data in {**mime_fixtures(), **notice_fixtures()}.items():
        (OUT / f"{name}.eml").write_bytes(data)
    for verdict in ("pass", "fail"):
        auth = (f"Authentication-Results: mx.example.org; dkim={verdict} header.d=shop.example "
                f"header.s=s1; dmarc={verdict} header.from=shop.example\n")
        name = f"allow-sender-dkim-{verdict}"
        (OUT / f"{name}.eml").write_text(html_mail(name, f"allowed sender, DKIM {verdict}",
                                                   SIMPLE["size-attr-1x1"][1], extra_headers=auth))
    (OUT / "bare-document.html").write_text(
        f"<!DOCTYPE html><html><body>{CONTENT}<img src=\"https://media.mailer.example/bare.gif\" width=\"1\" height=\"1\"></body></html>\n")


if __name__ == "__main__":
    main()
