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
