"""What the links step (docs/links.md) costs as input grows: each case cleaned with links
off and with every link option on (unwrap, strip_params, mark), at n, 4n and 16n. Links-on
cost must grow linearly (per-unit time at 16n within 1.5× of 4n's); past MAX_LINKS_PER_PART
links a part's remaining links are not judged, so the cost flattens to the links-off cost.

    .venv/bin/python benchmarks/links_bench.py            # the table recorded in README.md
    .venv/bin/python benchmarks/links_bench.py --only many-links
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pixelguard import clean_message
from pixelguard.model import LinkOptions, Policy

HEAD = "<html><body><p>Hello reader</p>"
TAIL = '<img src="https://t.example/open.gif?u=1" width="1" height="1"></body></html>'
WRAPPED = "https%3A%2F%2Fnews.example%2Fstory"

# Our own rules in ClearURLs' format, with unanchored `.*url=` redirections of the shape its
# real file has (quadratic in the URL's length), on a pattern every URL matches: the worst
# case for the regex limit.
CLEARURLS = {"providers": {
    f"p{i}": {"urlPattern": ".*", "completeProvider": False, "rules": ["ref_?"],
              "exceptions": [], "redirections": [f".*url{i}=([^&]+)"]}
    for i in range(2)
}}


def many_links(n: int) -> bytes:
    """n short links (<a href=http://a/N>), one a line."""
    return (HEAD + "".join(f"<a href=http://a/{i}>x</a>\n" for i in range(n)) + TAIL).encode()


def newsletter_links(n: int) -> bytes:
    """n links of the shapes a newsletter has: tracked, redirected, with utm_ parameters."""
    shapes = ("https://shop.example/p/{i}?utm_source=nl&utm_medium=email&id={i}",
              "https://www.google.com/url?q=https%3A%2F%2Fnews.example%2F{i}&sa=D",
              "https://abc.list-manage.com/track/click?u=1&id={i}&e=2")
    body = "".join(f'<p><a href="{shapes[i % 3].format(i=i)}">Link {i}</a></p>\n'
                   for i in range(n))
    return (HEAD + body + TAIL).encode()


def long_links(length: int):
    def make(n: int) -> bytes:
        pad = "a" * length
        body = "".join(f'<a href="https://go.example/{i}?x={pad}&url9={WRAPPED}">L</a>\n'
                       for i in range(n))
        return (HEAD + body + TAIL).encode()
    return make


# name: (generator, sizes, unit, list file needed, what)
CASES = {
    "many-links": (many_links, [12_500, 50_000, 200_000], "link", False,
                   "n <a href=http://a/N> (the cap: 5000 judged)"),
    "newsletter-links": (newsletter_links, [300, 1_200, 4_800], "link", False,
                         "n newsletter links (utm, google.com/url, Mailchimp)"),
    "long-links-7KB": (long_links(7_000), [20, 80, 320], "link", True,
                       "n links of 7 KB, ClearURLs-format list with .*url= rules"),
    "long-links-2KB": (long_links(1_900), [20, 80, 320], "link", True,
                       "n links of 1.9 KB (under the regex limit), same list"),
}


def _time(raw: bytes, policy: Policy, runs: int) -> tuple[float, object]:
    best, res = float("inf"), None
    for _ in range(runs):
        t0 = time.perf_counter()
        res = clean_message(raw, policy)
        best = min(best, time.perf_counter() - t0)
    return best, res


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", help="comma-separated case names")
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    names = args.only.split(",") if args.only else list(CASES)
    with tempfile.TemporaryDirectory() as tmp:
        lst = Path(tmp) / "data.min.json"
        lst.write_text(json.dumps(CLEARURLS))
        limits = {"time_budget": 1e9, "max_html_bytes": 1 << 40}
        off = Policy(**limits)
        clean_message(many_links(10), off)  # warm-up: tracker list, imports
        results = {}
        print("| case | n | input | links off (s) | links on (s) | on, per link | links edited | skipped |")
        print("|---|---|---|---|---|---|---|---|")
        for name in names:
            make, sizes, unit, needs_list, _what = CASES[name]
            on = Policy(links=LinkOptions(unwrap=True, strip_params=True, mark=True,
                                          lists=(str(lst),) if needs_list else ()), **limits)
            clean_message(make(2), on)
            rows = []
            for n in sizes:
                raw = make(n)
                t_off, _ = _time(raw, off, args.runs)
                t_on, res = _time(raw, on, args.runs)
                rows.append({"n": n, "bytes": len(raw), "off": t_off, "on": t_on,
                             "links": len(res.links), "skipped": list(res.skipped)})
                print(f"| {name} | {n:,} | {len(raw) / 1e6:.2f} MB | {t_off:.3f} | {t_on:.3f} | "
                      f"{t_on / n * 1e6:.1f} µs/{unit} | {len(res.links)} | "
                      f"{'; '.join(res.skipped) or '-'} |", flush=True)
            ratio = (rows[-1]["on"] / rows[-1]["n"]) / (rows[1]["on"] / rows[1]["n"])
            results[name] = {"rows": rows, "ratio": ratio, "linear": ratio < 1.5}
        print("\n| case | what | links on: n / 4n / 16n (s) | per-link ratio 16n / 4n | linear? |")
        print("|---|---|---|---|---|")
        for name in names:
            r = results[name]
            times = " / ".join(f"{row['on']:.3f}" for row in r["rows"])
            print(f"| {name} | {CASES[name][4]} | {times} | {r['ratio']:.2f} | "
                  f"{'yes' if r['linear'] else '**NO**'} |")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0 if all(r["linear"] for r in results.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
