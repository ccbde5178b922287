"""Screenshots of the notice for the README: a cleaned newsletter (fixtures/
notice-padded-preheader.eml, notice at the top) in Chromium at 375 and 800 px, light and dark,
cut to the top of the message. Needs the test extra and Debian's chromium:

    .venv/bin/python scripts/notice_screenshots.py      # writes docs/img/notice-*.png
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "browser"))

from engine import Engine, available, html_documents

from pixelguard import Policy, clean_message

SOURCE = ROOT / "fixtures" / "notice-padded-preheader.eml"
OUT = ROOT / "docs" / "img"
MODES = [(375, "light"), (375, "dark"), (800, "light"), (800, "dark")]
BELOW = 120  # px of the message shown under the notice


def main() -> int:
    why = available()
    if why:
        print(f"cannot render: {why}", file=sys.stderr)
        return 1
    cleaned = clean_message(SOURCE.read_bytes(), Policy(recipients=("bob@example.org",))).raw
    ((html, charset),) = html_documents(cleaned)
    OUT.mkdir(parents=True, exist_ok=True)
    with Engine() as engine:
        for width, scheme in MODES:
            page = engine.page(width, scheme)
            engine.show(page, html, charset)
            box = page.locator('[data-pixelguard="notice"]').bounding_box()
            height = int(box["y"] + box["height"] + BELOW)
            path = OUT / f"notice-{scheme}-{width}.png"
            page.screenshot(path=str(path), clip={"x": 0, "y": 0, "width": width,
                                                  "height": height})
            page.context.close()
            print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
