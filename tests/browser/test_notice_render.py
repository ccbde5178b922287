"""The notice as a reader meets it, judged in Chromium: the inbox preview a client extracts
stays the sender's (every fixture and every newsletter of the shared corpus, both positions),
and the notice is shown, fits a 375 px phone and an 800 px window without widening the page,
and reads with WCAG AA contrast in light and dark mode."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from engine import html_documents
from notice_page import NOTICE_JS, PAGE_WIDTH_JS, PREVIEW_JS, contrast, drawn_contrast

from pixelguard import Policy, clean_message
from pixelguard.notice.placement import PREVIEW_CHARS

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "fixtures"
CORPUS = ROOT.parent / "shared" / "corpus"  # read in place when present, never copied
CORPUS_SAMPLES = ["omnivore/beehiiv-newsletter.html", "omnivore/substack-newsletter-new.html",
                  "omnivore/convertkit-newsletter.html", "omnivore/ghost-newsletter.html",
                  "omnivore/node-weekly-newsletter.html", "omnivore/india-times-newsletter.html"]
POLICY = Policy(recipients=("bob@example.org",))
MODES = [(375, "light"), (375, "dark"), (800, "light"), (800, "dark")]
LOOKED_AT = ["notice-padded-preheader.eml", "notice-short-preheader.eml",
             "notice-no-preheader.eml", "demo-newsletter.eml"]


def _sources() -> list[Path]:
    """Every fixture and sample the cleaning changes (the others come out byte-identical)."""
    found = sorted(p for p in FIXTURES.iterdir() if p.suffix in (".eml", ".html"))
    if CORPUS.is_dir():  # every newsletter body of the shared corpus
        found += sorted(CORPUS.glob("omnivore/*.html"))
        found += sorted(CORPUS.glob("mailtrackerblocker_tests/*.html"))
    return [p for p in found if _cleaned(p.read_bytes(), "top") != p.read_bytes()]


def _cleaned(raw: bytes, position: str) -> bytes:
    return clean_message(raw, dataclasses.replace(POLICY, notice_position=position)).raw


@pytest.fixture(scope="module")
def page(engine):
    return engine.page(800, "light")


@pytest.fixture(scope="module")
def pages(engine):
    """One page per width and colour scheme."""
    return {mode: engine.page(*mode) for mode in MODES}


def _preview(page, raw: bytes) -> list[str]:
    """The preview text of each HTML document of the message (its text needs no images)."""
    out = []
    for html, charset in html_documents(raw):
        page.set_content(html.decode(charset, "replace"), wait_until="domcontentloaded")
        out.append(page.evaluate(PREVIEW_JS))
    return out


def test_the_corpus_samples_are_there_when_the_corpus_is():
    if not CORPUS.is_dir():
        pytest.skip(f"shared corpus not found at {CORPUS}")
    assert all((CORPUS / s).is_file() for s in CORPUS_SAMPLES)


@pytest.mark.parametrize("source", _sources(), ids=lambda p: p.name)
def test_the_preview_a_client_extracts_stays_the_senders(engine, page, source):
    raw = source.read_bytes()
    before = _preview(page, raw)
    noticed = 0
    for position in ("top", "bottom"):
        out = _cleaned(raw, position)
        after = _preview(page, out)
        assert len(after) == len(before)
        for old, new in zip(before, after):
            if len(old) >= PREVIEW_CHARS:
                assert new[:PREVIEW_CHARS] == old[:PREVIEW_CHARS], position
            else:  # shorter than the window: all of the sender's text comes first
                assert new.startswith(old), position
            noticed += "pixelguard" in new and "pixelguard" not in old
    if b'data-pixelguard="notice"' in _cleaned(raw, "top"):
        assert noticed, "the notice is in the markup but in no extracted text"


def _looked_at() -> list[tuple[Path, str]]:
    cases = [(FIXTURES / name, "top") for name in LOOKED_AT]
    cases.append((FIXTURES / "notice-padded-preheader.eml", "bottom"))
    cases += [(CORPUS / s, "top") for s in CORPUS_SAMPLES[:2] if (CORPUS / s).is_file()]
    return cases


@pytest.mark.parametrize(("source", "position"), _looked_at(),
                         ids=lambda v: v.name if isinstance(v, Path) else v)
def test_the_notice_is_shown_fits_and_reads_in_light_and_dark(engine, pages, source, position):
    raw = source.read_bytes()
    ((original, charset),) = html_documents(raw)[:1]
    ((cleaned, _),) = html_documents(_cleaned(raw, position))[:1]
    for width, scheme in MODES:
        page = pages[(width, scheme)]
        engine.show(page, original, charset)
        page_width = page.evaluate(PAGE_WIDTH_JS)
        engine.show(page, cleaned, charset)
        box = page.evaluate(NOTICE_JS)
        where = f"{source.name} {position} {width}px {scheme}"
        assert box is not None, where
        assert box["shown"] and box["width"] > 0 and box["height"] > 0, where
        assert "pixelguard" in box["text"], where
        # inside the viewport (or the sender's own wider layout), nothing widened by it
        assert box["left"] >= 0 and box["right"] <= max(box["viewport"], page_width) + 1, where
        assert box["pageWidth"] <= page_width + 1, where
        assert box["ownScroll"] <= box["ownWidth"] + 1, where  # its text wraps, no overflow
        ratio = contrast(box["color"], box["background"])
        assert ratio >= 4.5, f"{where}: contrast {ratio:.2f} ({box['color']} on {box['background']})"
        # and as drawn: a screenshot of the notice shows text that stands out that much
        shot = page.locator('[data-pixelguard="notice"] td').screenshot()
        drawn = drawn_contrast(shot)
        assert drawn >= 4.5, f"{where}: drawn contrast {drawn:.2f}"


def test_a_padded_preheader_puts_the_notice_at_the_top_of_the_page(engine, pages):
    raw = (FIXTURES / "notice-padded-preheader.eml").read_bytes()
    ((cleaned, charset),) = html_documents(_cleaned(raw, "top"))[:1]
    page = pages[(375, "light")]
    engine.show(page, cleaned, charset)
    box = page.evaluate(NOTICE_JS)
    assert box is not None and box["top"] < 100, box  # seen on opening, above the content
