"""`pixelguard report --html FILE`: the report as one self-contained HTML page.

The page loads nothing (no remote or local resource, no script; a Content-Security-Policy
says so to the browser too), carries its CSS inline, follows the reader's light or dark
colour scheme, and draws its charts as inline SVG written here: trackers removed per month,
vendors and senders, each bar with its value as text beside it and the chart's data in its
<title>/<desc> for screen readers. Sender and vendor names come from the mail, that is from
anyone: every text and attribute value on the page is HTML-escaped.
"""
from __future__ import annotations

import html
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from pixelguard.display import count as plural

if TYPE_CHECKING:  # a type only: report calls this module, so it cannot import report
    from pixelguard.report import Report

ROWS_SHOWN = 15  # vendors and senders charted; the rest summed in one bar
WIDTH = 760  # the SVG coordinate width; the chart scales to the page
LABEL_RIGHT = 210  # labels (left-aligned) are cut here, bars start a little after
BAR_LEFT = 220
BAR_MAX = 260  # longest bar; the value and its note follow it (room for ~40 characters)
ROW = 26
LABEL_CHARS = 30

STYLE = """
:root{color-scheme:light dark;--bg:#ffffff;--fg:#1d1d1f;--muted:#5a5a60;--bar:#2f62b0;
--rule:#d9d9de;--card:#f6f6f8}
@media (prefers-color-scheme:dark){:root{--bg:#15171b;--fg:#ececf0;--muted:#a9a9b3;
--bar:#7aa7eb;--rule:#34363d;--card:#1e2127}}
html{background:var(--bg);color:var(--fg)}
body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif}
main{max-width:820px;margin:0 auto;padding:24px 16px 40px}
h1{font-size:1.4em;margin:0 0 8px}
h2{font-size:1.1em;margin:28px 0 4px}
.headline{font-size:1.35em;font-weight:600;margin:8px 0}
.muted,footer{color:var(--muted)}
section{background:var(--card);border:1px solid var(--rule);border-radius:8px;padding:4px 16px 12px;
margin:16px 0;overflow-x:auto}
svg.chart{display:block;width:100%;height:auto;max-width:760px;min-width:540px}
svg.chart text{fill:var(--fg);font:13px system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif}
svg.chart text.note{fill:var(--muted)}
svg.chart rect.bar{fill:var(--bar)}
footer{font-size:.85em;margin-top:24px}
"""
# What the page may load: nothing but its own inline style.
CSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"


def esc(value: object) -> str:
    """Text or attribute value, escaped for HTML (and the SVG inside it)."""
    return html.escape(str(value), quote=True)


def _cut(text: str, width: int = LABEL_CHARS) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


Row = tuple[str, int | None, str]  # label, bar length (None: no bar), text beside it


def bar_chart(ident: str, title: str, rows: list[Row]) -> str:
    """A horizontal bar chart as inline SVG: per row a label, a bar and its value as text.
    A row without a bar (a sum of the rest) is text only and sets no scale."""
    if not rows:
        return '<p class="muted">Nothing to show.</p>'
    most = max((value for _, value, _ in rows if value), default=0) or 1
    height = ROW * len(rows) + 8
    desc = "; ".join(f"{label}: {text}" for label, _, text in rows)
    out = [(f'<svg class="chart" id="{esc(ident)}" role="img" '
           f'aria-labelledby="{esc(ident)}-title {esc(ident)}-desc" '
           f'viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" '
           f'xmlns="http://www.w3.org/2000/svg">'),
           f'<title id="{esc(ident)}-title">{esc(title)}</title>',
           f'<desc id="{esc(ident)}-desc">{esc(desc)}</desc>',
           # a label too wide for its column (wide glyphs) is cut at the column's edge
           (f'<defs><clipPath id="{esc(ident)}-labels"><rect x="0" y="0" width="{LABEL_RIGHT}" '
           f'height="{height}"/></clipPath></defs>')]
    for i, (label, value, text) in enumerate(rows):
        y = 4 + i * ROW
        width = round(BAR_MAX * value / most) if value else 0
        if value and width < 2:
            width = 2  # a value above zero is always a visible bar
        bar = (f'<rect class="bar" x="{BAR_LEFT}" y="{y + 5}" width="{width}" '
               f'height="{ROW - 10}" rx="2"/>' if width else "")
        note = ' class="note"' if value is None else ""
        out.append(
            f'<g><title>{esc(label)}: {esc(text)}</title>'
            f'<text x="0" y="{y + 17}" clip-path="url(#{esc(ident)}-labels)">'
            f'{esc(_cut(label))}</text>'
            f'{bar}<text{note} x="{BAR_LEFT + width + 6}" y="{y + 17}">{esc(text)}</text></g>')
    out.append("</svg>")
    return "".join(out)


def _ranked(rows: list[Row], rest_name: str, noun: str) -> list[Row]:
    """The first ROWS_SHOWN rows, then the rest as one row without a bar: 'N others'."""
    if len(rows) <= ROWS_SHOWN + 1:  # a single rest row would take the place of the sum
        return rows
    shown, rest = rows[:ROWS_SHOWN], rows[ROWS_SHOWN:]
    if rest:
        total = sum(value or 0 for _, value, _ in rest)
        shown.append((plural(len(rest), rest_name), None, f"{plural(total, noun)} in all"))
    return shown


def month_rows(report: Report) -> list[Row]:
    rows: list[Row] = []
    for key in report.month_keys():
        m = report.month(key)
        text = (f"{plural(m.trackers, 'tracker')} in {m.cleaned} of "
                f"{plural(m.read, 'message')}" if m.read else "no mail")
        rows.append((key, m.trackers, text))
    return rows


def vendor_rows(report: Report) -> list[Row]:
    rows: list[Row] = [(v, n, plural(n, "message") + (
        f", {plural(report.link_vendors[v], 'tracked link')}" if report.link_vendors[v] else ""))
        for v, n in report.vendor_ranking()]
    return _ranked(rows, "other vendor", "message")


def sender_rows(report: Report) -> list[Row]:
    rows: list[Row] = [
        (d, report.messages_by_sender[d],
         (f"{report.messages_by_sender[d]} of {plural(report.read_by_sender[d], 'message')}, "
         f"{plural(report.removed_by_sender[d], 'tracker')}"))
        for d in report.senders()]
    return _ranked(rows, "other sender", "message")


def page(report: Report, source: str, now: datetime | None = None) -> str:
    """The whole page as text (UTF-8 when written)."""
    now = now or datetime.now(UTC)
    counts = report.counts_line() if report.scanned else ""
    since = f", messages dated from {report.since:%Y-%m-%d}" if report.since else ""
    sections = [
        ("months", "Trackers removed per month",
         "Trackers removed each month (bars), in how many of the messages read.",
         month_rows(report)),
        ("vendors", "Vendors", "Messages that carried each vendor's trackers.",
         vendor_rows(report)),
        ("senders", "Senders", ("Messages with trackers from each sender domain, of the "
         "messages read from it."), sender_rows(report)),
    ]
    body = "".join(
        f'<section aria-labelledby="{ident}-h"><h2 id="{ident}-h">{esc(title)}</h2>'
        f'<p class="muted">{esc(note)}</p>{bar_chart(f"chart-{ident}", title, rows)}</section>'
        for ident, title, note, rows in sections)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{esc(CSP)}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="color-scheme" content="light dark">'
        f"<title>pixelguard report: {esc(report.headline())}</title>"
        f"<style>{STYLE}</style></head>\n<body><main>"
        "<h1>pixelguard report</h1>"
        f'<p class="headline">{esc(report.headline())}</p>'
        f"<p>{esc(counts)}</p>"
        f'<p class="muted">Read from {esc(source)}{esc(since)}.</p>'
        f"{body}"
        f"<footer>From the X-PixelGuard headers of the messages read; written "
        f"{now:%Y-%m-%d %H:%M} UTC by pixelguard report.</footer>"
        "</main></body></html>\n")
