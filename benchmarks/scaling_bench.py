"""Scaling benchmark: `clean_message` time vs input size, for normal newsletters (10 kB to
10 MB of HTML) and for pathological inputs, to check that no input makes it superlinear.
Not a timed test: run by hand.

    .venv/bin/python benchmarks/scaling_bench.py [--only CASE,...] [--timeout 120]

Every (case, size) runs in its own subprocess with a timeout, so a superlinear case cannot hang
the run: it is reported as a timeout. The policy's time budget and HTML size cap (if the core
has them) are lifted, so the numbers show how the work grows, not where the core gives up. Inputs are generated in the child (not timed). Each input
carries one 1x1 open pixel after the pathological part; "pixel" says whether it was still found.

Linearity: `ratio` = time per unit at the largest size / time per unit at the middle size
(1.0 = perfectly linear; each case's sizes grow 4x or more per step, so a quadratic case shows
~4 or more); `slope` = log-log slope between the smallest and the largest size (1 = linear).
A case is called linear when ratio < 1.5.

Each child sets up the collector after its warm-up as the adapters do
(pixelguard.gc_tuning.for_many_messages, through core_bench.tune_collector); `--gc default`
leaves Python's defaults.
"""
from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

PIXEL = '<img src="https://t.example.net/o/8f14e45fceea167a5a36dedd4bea2543.gif" width="1" height="1">'
HEAD = "<!DOCTYPE html><html><head><title>t</title></head><body><p>Hello</p>"
TAIL = PIXEL + "</body></html>"


def _newsletter(n: int) -> bytes:
    from gen_newsletter import as_message, newsletter

    return as_message(newsletter(n, 5))


def _nested(n: int) -> bytes:
    return (HEAD + "<div>" * n + "x" + "</div>" * n + TAIL).encode()


def _nested_tables(n: int) -> bytes:
    return (HEAD + "<table><tr><td>" * n + "x" + "</td></tr></table>" * n + TAIL).encode()


def _unclosed(n: int) -> bytes:
    return (HEAD + "<div><span><b>" * n + "x" + TAIL).encode()


def _attributes(n: int) -> bytes:
    attrs = " ".join(f'data-a{i}="v{i}"' for i in range(n))
    return (HEAD + f'<img {attrs} src="https://cdn.example.net/a.png" width="600">' + TAIL).encode()


def _url_inline(n: int) -> bytes:
    return (HEAD + '<div style="background:url(https://cdn.example.net/' + "a" * n
            + '.png)">x</div>' + TAIL).encode()


def _url_unterminated(n: int) -> bytes:
    return (HEAD + "<style>.a{background:url(https://cdn.example.net/" + "a" * n
            + "</style>" + TAIL).encode()


def _style_rules(n: int) -> bytes:
    rules = "\n".join(
        f".c{i} td.k{i % 50} > img, #id{i} .m{i} {{ display: {'none' if i % 2 else 'block'}"
        f" !important; background: #fff url(https://cdn.example.net/bg{i % 100}.png); }}"
        for i in range(n)
    )
    body = "".join(
        f'<table><tr><td class="k{i}"><div class="c{i} m{i}" style="display:none">'
        f'<img src="https://cdn.example.net/i{i}.png" width="300"></div></td></tr></table>'
        for i in range(200)
    )
    return (HEAD + "<style>" + rules + "</style>" + body + TAIL).encode()


def _rules_x_elements(n: int) -> bytes:
    rules = "\n".join(f".c{i} {{ display: block !important; }}" for i in range(n))
    body = "".join(f'<div class="c{i % 97} h" style="display:none"><img src="https://cdn.example.net/'
                   f'i{i}.png" width="300"></div>' for i in range(n))
    return (HEAD + "<style>" + rules + "</style>" + body + TAIL).encode()


def _big_attribute(n: int) -> bytes:
    return (HEAD + '<img alt="' + "x" * n + '" src="https://cdn.example.net/a.png" width="600">'
            + TAIL).encode()


def _nested_conditionals(n: int) -> bytes:
    return (HEAD + "<!--[if mso]>" * n + '<v:fill src="https://cdn.example.net/bg.png"/>'
            + "<![endif]-->" * n + TAIL).encode()


def _many_conditionals(n: int) -> bytes:
    block = ('<!--[if mso]><table><tr><td background="https://cdn.example.net/bg.png">'
             '<v:rect><v:fill src="https://cdn.example.net/bg.png"/></v:rect></td></tr>'
             '</table><![endif]-->')
    return (HEAD + block * n + TAIL).encode()


def _stray_endif(n: int) -> bytes:
    # a downlevel-revealed closer with no later "]>": the stdlib tokenizer's marked-section scan
    return (HEAD + "<p>text</p><![endif]-->" * n + TAIL).encode()


def _unterminated_comments(n: int) -> bytes:
    # the stdlib tokenizer looks for "-->" from every "<!--" again
    return (HEAD + "<!--<p>x</p>" * n + TAIL).encode()


def _one_line(n: int) -> bytes:
    from gen_newsletter import newsletter

    return newsletter(n, 6).replace("\n", " ").encode()


def _cr_only(n: int) -> bytes:
    from gen_newsletter import newsletter

    return newsletter(n, 6).replace("\n", "\r").encode()


def _implicit_close_deep(n: int) -> bytes:
    # each <td> closes the open cell only after looking past 2000 open <span>s to the inner
    # <table> (a scope boundary): a walk down the stack per tag would be quadratic
    return (HEAD + "<table><tr><td><table>" + "<span>" * 2000 + "<td>" * n + TAIL).encode()


def _end_tags_out_of_scope(n: int) -> bytes:
    # n end tags whose element is open below 2000 spans and a table: each is ignored
    return (HEAD + "<div>" + "<span>" * 2000 + "<table><tr><td>" + "</div>" * n + TAIL).encode()


def _comments_before_html(n: int) -> bytes:
    # no doctype after n comments: finding out is one walk, not one per way of grouping them
    return ("<!---->" * n + HEAD.replace("<!DOCTYPE html>", "") + TAIL).encode()


def _head_after_mso_html(n: int) -> bytes:
    # n <html> elements in an Outlook comment, then n <head> start tags: each asks whether
    # the document has begun
    return (HEAD + "<!--[if mso]>" + "<html>" * n + "<![endif]-->" + "<head>" * n + TAIL).encode()


def _unclosed_raw_text(n: int) -> bytes:
    # n raw text elements never closed: each would search to the end for its end tag
    return (HEAD + "<textarea>x" * n + "<svg><style>y" * n + TAIL).encode()


def _list_items_under_blocks(n: int) -> bytes:
    # each <li> looks through the open blocks above the open one for one that stops it
    return (HEAD + "<li><section>" + "<div>" * 1900 + "<li>" * n + TAIL).encode()


def _misnested_formatting(n: int) -> bytes:
    # formatting elements ended with a block open inside them: the adoption agency
    return (HEAD + "<b><div><p>x</p><i>y</i></b>" * n + TAIL).encode()


def _reopened_formatting(n: int) -> bytes:
    # 40 formatting elements closed by a block before each image: the tree builder re-opens
    # them all for every image (the copies are bounded per document)
    fmt = "".join(f"<{t}>" for t in ("b", "i", "u", "s", "em", "strong", "font", "tt") * 5)
    return (HEAD + ("<div>" + fmt + "</div><img src=a.png>") * n + TAIL).encode()


def _img(url: str) -> bytes:
    return (HEAD + f'<img src="{url}" width="1" height="1">' + TAIL).encode()


# Hostile URLs: each family grows one part of one image URL (host, labels, path, query...).
# The generator makes every family at any size n; the case is "long-host": a host of
# n dotted labels (200,000 labels is a 400 kB message).
URL_FAMILIES: dict[str, tuple[str, object]] = {
    "long-host": ("a host of n dotted labels",
                  lambda n: "https://" + "a." * n + "example.com/o.gif"),
    "long-label": ("one host label of n characters",
                   lambda n: "https://" + "a" * n + ".example.com/o.gif"),
    "idna-host": ("a host of n non-ASCII labels (IDNA)",
                  lambda n: "https://" + "\u00e4." * n + "example.com/o.gif"),
    "idna-label": ("one non-ASCII label of n characters (punycode)",
                   lambda n: "https://" + "\u00e4b" * (n // 2) + ".example.com/o.gif"),
    "percent-host": ("a percent-encoded host of n labels",
                     lambda n: "https://" + "%61." * n + "example.com/o.gif"),
    "long-userinfo": ("n characters of user:password@ before the host",
                      lambda n: "https://" + "u" * n + ":p@t.example.net/o.gif"),
    "path-segments": ("n path segments",
                      lambda n: "https://t.example.net" + "/ab" * n + "/o.gif"),
    "query-pairs": ("n query pairs",
                    lambda n: "https://t.example.net/o.gif?"
                    + "&".join(f"k{i}=v{i}" for i in range(n))),
    "long-token": ("one token-like path segment of n characters",
                   lambda n: "https://t.example.net/o/" + "".join(
                       "0123456789abcdefghijklmnopqrstuvwxyz"[(i * 7919) % 36] for i in range(n))),
    "dotted-path": ("a path of n dots and labels after the host",
                    lambda n: "https://t.example.net/" + "a." * n + "gif"),
}


def _url_family(name: str):
    make = URL_FAMILIES[name][1]
    return lambda n: _img(make(n))  # type: ignore[operator]


def _srcset(n: int) -> bytes:
    cands = ", ".join(f"https://cdn.example.net/i{i}.png {i + 1}w" for i in range(n))
    return (HEAD + f'<img srcset="{cands}" width="600">' + TAIL).encode()


def _style_urls(n: int) -> bytes:
    urls = ",".join(f"url(https://cdn.example.net/b{i}.png)" for i in range(n))
    return (HEAD + f'<div style="background-image:{urls}">x</div>' + TAIL).encode()


def _distinct_images(n: int) -> bytes:
    imgs = "".join(f'<img src="https://cdn{i % 50}.example.net/p/{i}/a.png" width="600">'
                   for i in range(n))
    return (HEAD + imgs + TAIL).encode()


def _selector_list(n: int) -> bytes:
    sel = ", ".join(f"div.c{i} > span.d{i} img" for i in range(n))
    return (HEAD + "<style>" + sel + " { display: none }</style>"
            + '<div class="c1"><span class="d1"><img src="https://cdn.example.net/a.png">'
            + "</span></div>"
            + TAIL).encode()


def _nested_not(n: int) -> bytes:
    return (HEAD + "<style>" + ":not(" * n + "p" + ")" * n + " { display: none }</style>"
            + TAIL).encode()


def _many_classes(n: int) -> bytes:
    classes = " ".join(f"c{i}" for i in range(n))
    rules = "\n".join(f".c{i} {{ display: block !important; }}" for i in range(0, n, 7))
    return (HEAD + "<style>" + rules + f'</style><div class="{classes}" style="display:none">'
            '<img src="https://cdn.example.net/a.png" width="600"></div>' + TAIL).encode()


# name: (generator, sizes, unit, what)
CASES: dict[str, tuple] = {
    "newsletter": (_newsletter, [10_000, 100_000, 1_000_000, 3_000_000, 10_000_000], "MB",
                   "generated newsletter, MIME quoted-printable, 10 kB..10 MB HTML"),
    "nested-divs": (_nested, [6_250, 25_000, 100_000], "tag", "100k nested <div>"),
    "nested-tables": (_nested_tables, [2_000, 8_000, 32_000], "tag",
                      "nested <table><tr><td> (3 tags per level)"),
    "unclosed-tags": (_unclosed, [6_250, 25_000, 100_000], "tag", "never-closed inline tags"),
    "attributes": (_attributes, [6_250, 25_000, 100_000], "attr", "100k attributes on one <img>"),
    "url-1MB": (_url_inline, [65_536, 262_144, 1_048_576], "MB", "a 1 MB url() in a style attribute"),
    "url-unterminated": (_url_unterminated, [65_536, 262_144, 1_048_576], "MB",
                         "an unterminated 1 MB url( in a <style> block"),
    "style-rules": (_style_rules, [625, 2_500, 10_000], "rule",
                    "10k <style> rules (+200 hidden images)"),
    "rules-x-elements": (_rules_x_elements, [250, 1_000, 4_000], "rule",
                         "n reveal rules AND n hidden images (both grow)"),
    "attribute-1MB": (_big_attribute, [65_536, 262_144, 1_048_576], "MB", "a 1 MB alt attribute"),
    "nested-conditionals": (_nested_conditionals, [1_000, 4_000, 16_000], "level",
                            "nested <!--[if mso]> (16k deep)"),
    "many-conditionals": (_many_conditionals, [2_500, 10_000, 40_000], "comment",
                          "40k conditional comments with VML"),
    "stray-endif": (_stray_endif, [2_500, 10_000, 40_000], "closer",
                    "40k stray <![endif]--> closers"),
    "unterminated-comments": (_unterminated_comments, [2_500, 10_000, 40_000], "comment",
                              "40k '<!--' never closed"),
    "one-line-5MB": (_one_line, [312_500, 1_250_000, 5_000_000], "MB",
                     "a 5 MB HTML document without a newline"),
    "cr-only-5MB": (_cr_only, [312_500, 1_250_000, 5_000_000], "MB", "5 MB with CR-only line ends"),
    "implicit-close-deep": (_implicit_close_deep, [25_000, 100_000, 400_000], "tag",
                            "<td> x n under 2000 open <span>s and a table"),
    "end-tags-out-of-scope": (_end_tags_out_of_scope, [25_000, 100_000, 400_000], "tag",
                              "</div> x n, each out of scope under 2000 <span>s"),
    "comments-before-html": (_comments_before_html, [2_500, 10_000, 40_000], "comment",
                             "40k comments and no doctype (quirks mode)"),
    "head-after-mso-html": (_head_after_mso_html, [2_500, 10_000, 40_000], "tag",
                            "n <html> in an Outlook comment, then n <head>"),
    "unclosed-raw-text": (_unclosed_raw_text, [2_500, 10_000, 40_000], "tag",
                          "n <textarea> and n SVG <style> never closed"),
    "list-items-under-blocks": (_list_items_under_blocks, [25_000, 100_000, 400_000], "tag",
                                "<li> x n, 1900 open <div>s above the open one"),
    "misnested-formatting": (_misnested_formatting, [2_500, 10_000, 40_000], "tag",
                             "n <b><div>...</b> (adoption agency)"),
    "reopened-formatting": (_reopened_formatting, [1_250, 5_000, 20_000], "image",
                            "n images after 40 formatting elements a block closed"),
    "srcset-candidates": (_srcset, [2_500, 10_000, 40_000], "candidate",
                          "one srcset of n candidates"),
    "style-urls": (_style_urls, [2_500, 10_000, 40_000], "url", "n url() in one style attribute"),
    "distinct-images": (_distinct_images, [2_500, 10_000, 40_000], "image",
                        "n images, each a different URL"),
    "selector-list": (_selector_list, [2_500, 10_000, 40_000], "selector",
                      "one rule with n selectors"),
    "nested-not": (_nested_not, [250, 1_000, 4_000], "level", "a selector of n nested :not("),
    "many-classes": (_many_classes, [2_500, 10_000, 40_000], "class",
                     "one hidden element with n classes, n/7 reveal rules"),
}
for _name, (_what, _make) in URL_FAMILIES.items():
    CASES[_name] = (_url_family(_name), [12_500, 50_000, 200_000], "unit", _what)


def _forget_kept() -> None:
    """Empty what the core keeps between messages (a fresh pixelguard.cache default; the
    memo.Memo objects of trees before it), so a repeated input costs what its first
    cleaning costs."""
    try:
        from pixelguard import cache
    except ImportError:
        import gc

        from pixelguard.memo import Memo

        for obj in gc.get_objects():
            if isinstance(obj, Memo):
                obj.clear()
        return
    cache.swap()


def child(case: str, n: int, budget: float | None = None, cold: bool = False,
          min_runs: int = 1, collector: str = "adapters") -> None:
    from core_bench import SOURCE, tune_collector

    from pixelguard import Policy, clean_message

    raw = CASES[case][0](n)
    # No time budget / size cap: this measures how the work grows, not where the core gives up.
    # With --budget: the default size cap and that budget, each input cleaned once.
    limits = {k: v for k, v in (("time_budget", 1e9), ("max_html_bytes", 1 << 40))
              if k in getattr(Policy, "__dataclass_fields__", {})}
    if budget is not None:
        limits = {"time_budget": budget}
    pol = Policy(recipients=("reader@example.org",), **limits)
    clean_message(HEAD.encode() + TAIL.encode(), pol)  # warm-up: tracker list, imports
    tune_collector(collector)  # as a cleaning worker after its warm-up (core_bench --gc)
    best = math.inf
    spent = 0.0
    res = None
    runs = 0
    while ((runs < min_runs or (spent < 1.0 and best < 0.2))  # small inputs again, keep the best
           and (budget is None or res is None)):
        runs += 1
        if cold:
            _forget_kept()
        t0 = time.perf_counter()
        res = clean_message(raw, pol)
        dt = time.perf_counter() - t0
        best, spent = min(best, dt), spent + dt
    pixel = any("8f14e45f" in f.url or "/o/" in f.url or "list-manage" in f.url
                for f in res.findings)
    print(json.dumps({"source": SOURCE, "bytes": len(raw), "seconds": best,
                      "findings": len(res.findings), "error": res.error, "pixel": pixel,
                      "skipped": bool(res.skipped)}))


def run(case: str, n: int, timeout: float, budget: float | None = None,
        cold: bool = False, min_runs: int = 1, collector: str = "adapters") -> dict:
    try:
        proc = subprocess.run([sys.executable, __file__, "--child", case, str(n),
                               str(budget) if budget is not None else "-", str(min_runs),
                               collector] + (["cold"] if cold else []),
                              check=False, capture_output=True, text=True, timeout=timeout,
                              env=os.environ.copy())
    except subprocess.TimeoutExpired:
        return {"timeout": True}
    if proc.returncode != 0:
        return {"crash": proc.stderr.strip().splitlines()[-1][:200] if proc.stderr else
                f"exit {proc.returncode}"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _units(case: str, n: int, nbytes: int) -> float:
    unit = CASES[case][2]
    return nbytes / 1e6 if unit == "MB" else n


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", help="comma-separated case names")
    ap.add_argument("--timeout", type=float, default=120.0, help="seconds per (case, size)")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--budget", type=float, metavar="SECONDS",
                    help="clean each case's largest input (times --scale) once with this time "
                         "budget and check that it costs at most the budget + 10 %%")
    ap.add_argument("--scale", type=int, default=1, help="with --budget: largest size times this")
    ap.add_argument("--cold", action="store_true",
                    help="empty the caches kept between messages before every repetition "
                         "(else a repeated small input is served from them)")
    ap.add_argument("--runs", type=int, default=1,
                    help="clean each input at least this many times and keep the best")
    ap.add_argument("--gc", choices=("adapters", "default"), default="adapters",
                    help="collector set up as the adapters do (default) or Python's defaults")
    ap.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child[0], int(args.child[1]),
              None if args.child[2] == "-" else float(args.child[2]), "cold" in args.child,
              int(args.child[3]), args.child[4])
        return 0
    names = args.only.split(",") if args.only else list(CASES)
    if args.budget is not None:
        return budget_table(names, args.budget, args.scale, args.timeout)
    results: dict = {}
    print("| case | size | input | seconds | per unit | pixel | findings |")
    print("|---|---|---|---|---|---|---|")
    source = None
    for name in names:
        _gen, sizes, unit, _what = CASES[name]
        rows = []
        for n in sizes:
            r = run(name, n, args.timeout, cold=args.cold, min_runs=args.runs,
                    collector=args.gc)
            r["n"] = n
            rows.append(r)
            source = r.get("source", source)
            if "seconds" in r:
                per = r["seconds"] / _units(name, n, r["bytes"])
                r["per_unit"] = per
                per_s = f"{per * 1e3:.3f} ms/{unit}" if unit == "MB" else f"{per * 1e6:.2f} µs/{unit}"
                print(f"| {name} | {n:,} | {r['bytes'] / 1e6:.2f} MB | {r['seconds']:.3f} | "
                      f"{per_s} | {r['pixel']} | {r['findings']}{' ERR ' + r['error'] if r['error'] else ''} |",
                      flush=True)
            else:
                why = (f"TIMEOUT > {args.timeout:g} s" if r.get("timeout")
                       else f"CRASH {r['crash']}")
                print(f"| {name} | {n:,} | - | {why} | - | - | - |", flush=True)
                break  # larger sizes only take longer
        ok = [r for r in rows if "per_unit" in r]
        verdict: dict = {"rows": rows}
        if len(ok) >= 2 and len(ok) == len(sizes):
            mid = ok[len(ok) // 2] if len(ok) > 2 else ok[0]
            verdict["ratio"] = ok[-1]["per_unit"] / mid["per_unit"]
            verdict["slope"] = (math.log(ok[-1]["seconds"] / ok[0]["seconds"])
                                / math.log(ok[-1]["n"] / ok[0]["n"]))
            verdict["linear"] = verdict["ratio"] < 1.5
        else:
            verdict["linear"] = False
        results[name] = verdict
    print(f"\n{source}\n")
    print("| case | what | n / 4n / 16n (s) | time ×, per 4× | ratio (per unit, largest / mid)"
          " | log-log slope | linear? |")
    print("|---|---|---|---|---|---|---|")
    for name in names:
        v = results[name]
        ratio = f"{v['ratio']:.2f}" if "ratio" in v else "-"
        slope = f"{v['slope']:.2f}" if "slope" in v else "-"
        secs = [r.get("seconds") for r in v["rows"]]
        times = " / ".join(f"{t:.3f}" if t is not None else "-" for t in secs)
        steps = " / ".join(f"{b / a:.1f}" if a and b else "-" for a, b in itertools.pairwise(secs))
        print(f"| {name} | {CASES[name][3]} | {times} | {steps} | {ratio} | {slope} | "
              f"{'yes' if v['linear'] else '**NO**'} |")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


def budget_table(names: list[str], budget: float, scale: int, timeout: float) -> int:
    """Each case's largest input (times `scale`) cleaned once under `budget`: the cost must
    stay within the budget + 10 % (plus 5 ms for the clock's and the interpreter's jitter)."""
    print(f"| case | input | seconds (budget {budget:g} s) | outcome | within budget + 10 %? |")
    print("|---|---|---|---|---|")
    over = 0
    for name in names:
        n = CASES[name][1][-1] * scale
        r = run(name, n, timeout, budget)
        if "seconds" not in r:
            over += 1
            print(f"| {name} | - | {'TIMEOUT' if r.get('timeout') else 'CRASH'} | - | **NO** |")
            continue
        ok = r["seconds"] <= budget * 1.1 + 0.005
        over += not ok
        outcome = r["error"] or ("skipped (over max_html_size)" if r.get("skipped")
                                 else f"{r['findings']} findings")
        print(f"| {name} | {r['bytes'] / 1e6:.2f} MB | {r['seconds']:.3f} | {outcome} | "
              f"{'yes' if ok else '**NO**'} |", flush=True)
    return 1 if over else 0


if __name__ == "__main__":
    raise SystemExit(main())
