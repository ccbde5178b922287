"""`pixelguard report --html` on a 300-message Maildir, opened in headless Chromium (scripting
off, every request intercepted): the page asks for nothing but itself, its charts are drawn
inside an 800 px viewport with no label cut off, in light and in dark colours; and the text
report of the same Maildir fits a screen."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from engine import ARGS, CHROMIUM, available
from png import colours
from report_mail import maildir, varied_messages

ROOT = Path(__file__).resolve().parents[2]
PAGE = "http://report.pixelguard.invalid/report.html"
CHARTS = ("chart-months", "chart-vendors", "chart-senders")
WIDTH = 800


def report(*args: str) -> str:
    proc = subprocess.run([sys.executable, "-m", "pixelguard", "report", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.fixture(scope="module")
def mail(tmp_path_factory) -> tuple[Path, str, str]:
    """The Maildir, its report page and its text report."""
    folder = tmp_path_factory.mktemp("report")
    box = maildir(folder / "Maildir", varied_messages(300))
    page = folder / "report.html"
    text = report("--html", str(page), str(box))
    return box, page.read_text(encoding="utf-8"), text


@pytest.fixture(scope="module")
def browser():
    why = available()
    if why is not None:
        pytest.skip(f"BROWSER TESTS NOT RUN: {why}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


def open_page(browser, html: str, scheme: str):
    """The page at PAGE in a fresh context; returns (page, every URL requested)."""
    ctx = browser.new_context(java_script_enabled=False, color_scheme=scheme,
                              viewport={"width": WIDTH, "height": 1000}, service_workers="block")
    requested: list[str] = []
    ctx.on("request", lambda request: requested.append(request.url))

    def answer(route) -> None:
        if route.request.url == PAGE:
            route.fulfill(status=200, body=html.encode(),
                          headers={"content-type": "text/html; charset=utf-8"})
        else:
            route.abort()

    ctx.route("**/*", answer)
    page = ctx.new_page()
    page.goto(PAGE, wait_until="load")
    page.wait_for_load_state("networkidle")
    return page, requested


def luminance(rgb: tuple[int, int, int]) -> float:
    def channel(c: int) -> float:
        c = c / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4
    r, g, b = (channel(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def test_the_text_report_of_the_same_maildir_fits_a_screen(mail):
    _, _, text = mail
    lines = text.splitlines()
    assert len(lines) <= 40, text
    assert lines[0].endswith("removed") and " of 300 messages carried trackers " in lines[0]


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_page_loads_nothing_and_draws_its_charts(browser, mail, scheme, tmp_path):
    _, html, text = mail
    page, requested = open_page(browser, html, scheme)
    try:
        assert requested == [PAGE]
        assert page.locator("p.headline").inner_text() == text.splitlines()[0]
        for ident in CHARTS:
            chart = page.locator(f"svg#{ident}")
            assert chart.is_visible()
            box = chart.bounding_box()
            assert box and box["width"] > 300 and box["height"] > 100, (ident, box)
            assert box["x"] >= 0 and box["x"] + box["width"] <= WIDTH, (ident, box)
            bars = chart.locator("rect.bar")
            assert bars.count() >= 10
            texts = chart.locator("text")
            assert texts.count() >= 2 * bars.count()  # a label and a value per bar
            for i in range(texts.count()):
                inner = texts.nth(i).bounding_box()
                assert inner and inner["width"] > 0, (ident, i)
                assert box["x"] <= inner["x"] and inner["x"] + inner["width"] <= box["x"] + box["width"] + 0.5, (
                    ident, texts.nth(i).text_content())
        shot = page.screenshot(full_page=True)
        (tmp_path / f"report-{scheme}.png").write_bytes(shot)
        seen = colours(shot)
        background = max(seen, key=seen.get)
        assert len(seen) > 20  # text, bars and cards, not a blank page
        if scheme == "dark":
            assert luminance(background) < 0.05, background
        else:
            assert luminance(background) > 0.9, background
        chart_pixels = colours(page.locator("svg#chart-vendors").screenshot())
        card = max(chart_pixels, key=chart_pixels.get)
        bar, share = max(((c, n) for c, n in chart_pixels.items() if c != card), key=lambda cn: cn[1])
        assert share > 0.05 * sum(chart_pixels.values()), "bars cover a real part of the chart"
        contrast = ((max(luminance(bar), luminance(card)) + 0.05)
                    / (min(luminance(bar), luminance(card)) + 0.05))
        assert contrast >= 3, (bar, card, contrast)  # WCAG's contrast for graphics
    finally:
        page.context.close()
