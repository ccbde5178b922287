"""What a reader sees of the notice, measured in the rendered page (scripting stays off for
the document; Playwright's evaluate runs in its own world): the preview text a client would
extract, and the notice's box, colours and overflow."""
from __future__ import annotations

# The text a client extracts for its preview: every text node of the body, hidden ones
# included (a preheader is display:none), not the content of style/script/template; then
# whitespace collapsed.
PREVIEW_JS = """() => {
  const skip = new Set(["STYLE", "SCRIPT", "TEMPLATE", "TITLE"]);
  const parts = [];
  const walk = (node) => {
    for (const c of node.childNodes) {
      if (c.nodeType === 3) parts.push(c.data);
      else if (c.nodeType === 1 && !skip.has(c.tagName.toUpperCase())) walk(c);
    }
  };
  walk(document.body || document.documentElement);
  return parts.join("").replace(/\\s+/g, " ").trim();
}"""

# The notice's cell: its box, whether it is shown, its text colour and the background it is
# drawn on (its own, else the nearest ancestor's that is not transparent, else the canvas'),
# and the page's width against the viewport's.
NOTICE_JS = """() => {
  const box = document.querySelector('[data-pixelguard="notice"] td');
  if (!box) return null;
  const r = box.getBoundingClientRect();
  const s = getComputedStyle(box);
  let shown = s.display !== "none" && s.visibility === "visible";
  for (let e = box; e; e = e.parentElement) {
    const st = getComputedStyle(e);
    if (st.display === "none" || parseFloat(st.opacity) === 0) shown = false;
  }
  let bg = "rgba(0, 0, 0, 0)";
  for (let e = box; e; e = e.parentElement) {
    const c = getComputedStyle(e).backgroundColor;
    if (!/rgba\\(.*,\\s*0\\)$/.test(c) && c !== "transparent") { bg = c; break; }
  }
  if (bg === "rgba(0, 0, 0, 0)") bg = "rgb(255, 255, 255)";
  return {left: r.left, right: r.right, top: r.top + window.scrollY, width: r.width,
          height: r.height, shown, color: s.color, background: bg,
          text: box.textContent, ownScroll: box.scrollWidth, ownWidth: box.clientWidth,
          viewport: document.documentElement.clientWidth,
          pageWidth: document.documentElement.scrollWidth};
}"""

PAGE_WIDTH_JS = "() => document.documentElement.scrollWidth"


def _channel(c: float) -> float:
    c /= 255
    return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4


def luminance(css_color: str) -> float:
    """Relative luminance (WCAG 2) of an rgb()/rgba() colour from getComputedStyle."""
    inside = css_color[css_color.index("(") + 1 : css_color.index(")")]
    r, g, b = (float(v) for v in inside.replace("/", ",").split(",")[:3])
    return 0.2126 * _channel(r) + 0.7152 * _channel(g) + 0.0722 * _channel(b)


def contrast(fg: str, bg: str) -> float:
    """WCAG contrast ratio of two computed colours (1 to 21)."""
    a, b = sorted((luminance(fg), luminance(bg)), reverse=True)
    return (a + 0.05) / (b + 0.05)


def png_pixels(data: bytes) -> list[tuple[int, int, int]]:
    """The RGB pixels of an 8-bit RGB or RGBA, non-interlaced PNG (what Chromium's
    screenshots are), row by row."""
    import struct
    import zlib

    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width, height, channels = 8, b"", 0, 0, 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour, _c, _f, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and colour in (2, 6) and interlace == 0, "unexpected PNG format"
            channels = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * channels
    prev = bytearray(stride)
    out: list[tuple[int, int, int]] = []
    for y in range(height):
        row_at = y * (stride + 1)
        kind, row = raw[row_at], bytearray(raw[row_at + 1 : row_at + 1 + stride])
        for i in range(stride):
            a = row[i - channels] if i >= channels else 0
            b = prev[i]
            c = prev[i - channels] if i >= channels else 0
            if kind == 1:
                row[i] = (row[i] + a) & 255
            elif kind == 2:
                row[i] = (row[i] + b) & 255
            elif kind == 3:
                row[i] = (row[i] + (a + b) // 2) & 255
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                row[i] = (row[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        out.extend(tuple(row[x : x + 3]) for x in range(0, stride, channels))
        prev = row
    return out


def drawn_contrast(png: bytes) -> float:
    """The contrast between the commonest colour of a screenshot (the background) and the
    colour that stands out most from it (the cores of the glyphs): what the eye gets."""
    from collections import Counter

    pixels = png_pixels(png)
    background = Counter(pixels).most_common(1)[0][0]
    bg = f"rgb{background}"
    return max(contrast(f"rgb{p}", bg) for p in set(pixels))
