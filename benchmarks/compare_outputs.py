"""Compare what two versions of pixelguard make of the same mail: the output bytes and the
findings of `clean_message`, case by case. A redesign must show 0 differences.

    .venv/bin/python benchmarks/compare_outputs.py main .          # commit main vs this tree
    .venv/bin/python benchmarks/compare_outputs.py HEAD~3 HEAD
    .venv/bin/python benchmarks/compare_outputs.py /path/to/tree-a /path/to/tree-b

A side is a directory holding a `pixelguard/` package, or a commit of this repository (checked
out with `git worktree add` into a temporary directory that is removed afterwards). Each side
runs in its own Python process with its tree first on sys.path (an editable install of this
checkout is taken off the import path), on the same inputs:

- every file of the shared corpus (/work/shared/corpus, or --corpus): as it is, the way
  benchmarks/eval_detection.py feeds it (an HTML file is a bare document), and each HTML file
  also wrapped in a MIME message (quoted-printable, as benchmarks/gen_newsletter.py does);
- every file under fixtures/ (and --fixtures, repeated);
- --generated N documents (5,000 by default) from a seeded generator: snippets covering every
  remote-resource vector, hiding, sizes, leaks and nesting, in single-part, alternative and
  mixed messages with varied charsets, transfer encodings and line endings, and small
  newsletters from gen_newsletter. Deterministic: the same N gives the same documents.

Each input is cleaned under four policies: strip and rewrite with recipients set (the
recipient-leak rule runs), strip with allow/deny host lists, and rewrite for an allowed sender
with a deny list. Prints the number of differences and the first few; exits 1 on any
difference, 2 on a usage error, 0 when both sides agree on everything.
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import pickle
import random
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DEFAULT_CORPUS = Path("/work/shared/corpus")
NOT_MESSAGES = {"SOURCES.md", "AUTO_LABELS.jsonl", "README.md"}  # as eval_detection.py
RECIPIENTS = ("reader@example.org", "bob@example.org")

# name -> keyword arguments of Policy (only fields every version of Policy has)
POLICIES: dict[str, dict] = {
    "strip": {"action": "strip", "recipients": RECIPIENTS},
    "rewrite": {"action": "rewrite", "recipients": RECIPIENTS},
    "strip-lists": {"action": "strip", "recipients": RECIPIENTS,
                    "default_deny_hosts": ("media.mailer.example", "img.acme.example"),
                    "user_allow_hosts": ("cdn.shop.example", "list-manage.com")},
    "rewrite-allowed-sender": {"action": "rewrite", "recipients": RECIPIENTS,
                               "allow_senders": ("shop.example", "brand.example"),
                               "require_auth_for_allow": False,
                               "default_deny_hosts": ("media.mailer.example",)},
}

# One snippet per way mail can load something (and the things that decide a verdict).
SNIPPETS = [
    '<p>Hello &amp; welcome</p>',
    '<img src="https://cdn.shop.example/hero.jpg" width="600" height="200">',
    '<img src="cid:logo@x" width="1" height="1">',
    '<img src="https://media.mailer.example/x.gif" width="1" height="1">',
    '<img src="https://media.mailer.example/open/{tok}" alt="">',
    '<img src="//t.shop.example/wf/open?upn={tok}" style="width:1px;height:1px">',
    '<img src="https://img.shop.example/s.gif" width="1" height="20">',
    '<img src="https://img.shop.example/p.png?e={leak}" width="300">',
    '<img srcset="https://img.shop.example/a.png 1x, https://t.shop.example/o/{tok} 2x">',
    '<img src="https://img.shop.example/low.jpg" lowsrc="https://t.shop.example/l.gif">',
    ('<picture><source srcset="https://t.shop.example/pixel.png"><img src="x.png" width="1" '
    'height="1"></picture>'),
    '<div style="display:none"><img src="https://media.mailer.example/h.png"></div>',
    '<div style="max-height:0;overflow:hidden"><img src="https://img.shop.example/m.jpg"></div>',
    '<div class="mobile" style="display:none"><img src="https://img.shop.example/mob.jpg"></div>',
    ('<span style="position:absolute;left:-9999px"><img src="https://t.shop.example/o.gif">'
    '</span>'),
    '<td background="https://img.partner.example/bg.png?e=bob%40example.org">x</td>',
    '<table background="https://img.shop.example/bg.jpg"><tr><td>t</td></tr></table>',
    ('<div style="background-image:url(&quot;https://t.shop.example/track/open?x={tok}&quot;)">'
    '</div>'),
    '<p style="background:url(https://img.shop.example/a\\2e png)">e</p>',
    '<div style="background-image:image-set(url(https://img.shop.example/i.png) 1x)">s</div>',
    '<style>@import url(https://fonts.partner.example/a.css); p{color:red}</style>',
    '<style>.mobile{display:block!important} .h{display:none}</style>',
    '<style>@media print{body{background:url(https://t.shop.example/print?u={tok})}}</style>',
    ('<style>@media (prefers-color-scheme:dark){.x{background:url(https://img.shop.example/d.png)}}'
    '</style>'),
    '<style>@font-face{font-family:F;src:url(https://fonts.shop.example/f.woff?u={tok})}</style>',
    '<style>blockquote .fwd{background:url(https://t.shop.example/fwd.gif)}</style>',
    ('<style>.g::after{content:url(https://t.shop.example/after.gif)}</style><i class="g" '
    'style="display:none"></i>'),
    '<link rel="stylesheet" href="https://css.shop.example/s.css">',
    '<link rel="preload" href="https://t.shop.example/pre.js">',
    ('<link rel="stylesheet" href="data:text/css,body%7Bbackground:url(https://t.shop.example/'
    'd.gif)%7D">'),
    ('<video poster="https://img.shop.example/poster.jpg" src="https://v.shop.example/v.mp4">'
    '</video>'),
    '<audio src="https://a.shop.example/a.mp3"></audio>',
    '<input type="image" src="https://t.shop.example/in.gif" width="1" height="1">',
    '<iframe src="https://frame.shop.example/f.html"></iframe>',
    ('<iframe srcdoc="&lt;img src=https://t.shop.example/srcdoc.gif width=1 height=1&gt;">'
    '</iframe>'),
    '<object data="https://obj.shop.example/o.swf"></object>',
    '<embed src="data:text/html,%3Cimg%20src%3Dhttps://t.shop.example/e.gif%3E">',
    '<script src="https://js.shop.example/s.js"></script>',
    '<svg width="1" height="1"><image href="https://t.shop.example/svg.png"/></svg>',
    '<svg><use xlink:href="https://img.shop.example/sprite.svg#i"/></svg>',
    ('<!--[if mso]><img src="https://media.mailer.example/m.gif" width="1" height="1">'
    '<![endif]-->'),
    ('<!--[if gte mso 9]><v:rect style="width:600px;height:300px"><v:fill type="tile" '
    'src="https://img.shop.example/vml.jpg"/></v:rect><![endif]-->'),
    '<meta http-equiv="refresh" content="0; url=https://t.shop.example/go">',
    '<base href="https://base.shop.example/dir/"><img src="rel/one.gif" width="1" height="1">',
    '<img src="https://u1.ct.sendgrid.net/wf/open?upn={tok}" width="1" height="1">',
    '<img src="https://acme.us1.list-manage.com/track/open.php?u={tok}" height="1" width="1">',
    '<img src="https://img.shop.example/x.gif?h={md5}" width="1" height="1">',
    '<img src="https://img.shop.example/y.gif?b={b64}">',
    '<p style="font-family:&quot;Arial&quot;">Grüße €</p>',
    '<table><tr><td>cell<td>cell</table>',
    '<a href="https://shop.example/deal">Deal</a>',
    '<img src="https://img.shop.example/&#x68;ero.gif" width="1" height="1">',
    '<img src="htt\tps://img.shop.example/tab.gif" width="0" height="0">',
    '<img src="https://xn--bcher-kva.example/b.png" style="opacity:0">',
    '<div hidden><img src="https://img.shop.example/hid.png"></div>',
    '<img src="https://img.shop.example/visibility.png" style="visibility:hidden">',
    '<div style="mso-hide:all"><img src="https://img.shop.example/msohide.png"></div>',
    '<textarea><img src="https://t.shop.example/not-a-tag.gif"></textarea>',
    '<noscript><img src="https://t.shop.example/noscript.gif" width="1" height="1"></noscript>',
    '<html manifest="https://t.shop.example/app.manifest">',
    '<frameset><frame src="https://frame.shop.example/x"></frameset>',
    '<p>' + 'lorem ipsum ' * 20 + '</p>',
]
CHARSETS = ("utf-8", "iso-8859-1", "windows-1252")
CTES = ("7bit", "8bit", "quoted-printable", "base64")


def _fill(snippet: str, rng: random.Random) -> str:
    addr = rng.choice(RECIPIENTS)
    tok = "".join(rng.choice("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
                  for _ in range(rng.choice((8, 24, 40))))
    return (snippet.replace("{tok}", tok)
            .replace("{leak}", rng.choice((addr, addr.replace("@", "%40"))))
            .replace("{md5}", hashlib.md5(addr.encode()).hexdigest())
            .replace("{b64}", base64.urlsafe_b64encode(addr.encode()).decode().rstrip("=")))


def generated(n: int) -> list[tuple[str, bytes]]:
    """`n` documents, the same for the same `n` (each from its own seed)."""
    from gen_newsletter import as_message, encode_text, newsletter

    out = []
    for i in range(n):
        rng = random.Random(i)
        if i % 25 == 0:  # a whole newsletter now and then
            html = newsletter(rng.choice((2_000, 6_000, 20_000)), seed=i)
            out.append((f"gen/{i}-newsletter", as_message(html)))
            continue
        body = "\n".join(_fill(rng.choice(SNIPPETS), rng) for _ in range(rng.randint(0, 10)))
        html = "<html><head></head><body>\n" + body + "\n</body></html>\n"
        layout = rng.choice(("bare", "single", "alternative", "mixed", "related"))
        if layout == "bare":
            out.append((f"gen/{i}-bare", html.encode("utf-8")))
            continue
        charset, cte = rng.choice(CHARSETS), rng.choice(CTES)
        html_part = (f"Content-Type: text/html; charset={charset}\nContent-Transfer-Encoding: "
                     f"{cte}\n\n").encode() + encode_text(html, cte, charset)
        plain = b"Content-Type: text/plain; charset=utf-8\n\nHello Bob\n"
        head = (b"From: News <a@shop.example>\nTo: bob@example.org\nSubject: =?utf-8?q?T=C3=A9st?="
                b"\nMIME-Version: 1.0\n")
        if layout == "single":
            raw = head + html_part
        elif layout == "alternative":
            raw = (head + b'Content-Type: multipart/alternative; boundary="zz"\n\n--zz\n' + plain
                   + b"--zz\n" + html_part + b"\n--zz--\n")
        elif layout == "mixed":
            raw = (head + b'Content-Type: multipart/mixed; boundary="mm"\n\n--mm\n' + html_part
                   + b"\n--mm\nContent-Type: application/octet-stream\nContent-Transfer-Encoding:"
                   b" base64\n\n" + base64.encodebytes(rng.randbytes(rng.randint(0, 200)))
                   + b"--mm--\n")
        else:  # an HTML body with a stylesheet part it loads by cid:
            css = _fill(rng.choice((".a{background:url(https://t.shop.example/css.gif?u={tok})}",
                                    "@import url(https://css.shop.example/i.css);",
                                    "p{color:red}")), rng)
            raw = (head + b'Content-Type: multipart/related; boundary="rr"\n\n--rr\n' + html_part
                   + b"\n--rr\nContent-Type: text/css\nContent-ID: <s@x>\n\n" + css.encode()
                   + b"\n--rr--\n")
        if rng.random() < 0.5:
            raw = raw.replace(b"\n", b"\r\n")
        out.append((f"gen/{i}-{layout}-{charset}-{cte}", raw))
    return out


def inputs(corpus: Path | None, fixture_dirs: list[Path], n_generated: int) -> list[tuple[str, bytes]]:
    from gen_newsletter import as_message

    cases: list[tuple[str, bytes]] = []
    if corpus is not None:
        for p in sorted(corpus.rglob("*")):
            if not p.is_file() or p.name in NOT_MESSAGES or p.name.startswith("."):
                continue
            rel = p.relative_to(corpus).as_posix()
            raw = p.read_bytes()
            cases.append((f"corpus/{rel}", raw))
            if p.suffix.lower() in (".html", ".htm"):
                cases.append((f"corpus/{rel} (as message)",
                              as_message(raw.decode("utf-8", "replace"))))
    for d in fixture_dirs:
        for p in sorted(d.rglob("*")):
            if p.is_file():
                cases.append((f"{d.name}/{p.relative_to(d).as_posix()}", p.read_bytes()))
    cases.extend(generated(n_generated))
    return cases


# --- one side ----------------------------------------------------------------------------------

def _worker(tree: str, cases_file: str) -> int:
    """Clean every case under every policy with the pixelguard of `tree`; one JSON line each."""
    sys.meta_path[:] = [f for f in sys.meta_path
                        if not str(getattr(f, "__module__", "")).startswith("__editable__")]
    sys.path.insert(0, tree)
    import pixelguard
    from pixelguard import Policy, clean_message

    if not Path(pixelguard.__file__).resolve().is_relative_to(Path(tree).resolve()):
        print(f"pixelguard imported from {pixelguard.__file__}, not {tree}", file=sys.stderr)
        return 2
    with open(cases_file, "rb") as fh:
        cases = pickle.load(fh)
    policies = {name: Policy(**kw) for name, kw in POLICIES.items()}
    out = sys.stdout
    for name, raw in cases:
        for pname, policy in policies.items():
            res = clean_message(raw, policy)
            out.write(json.dumps({
                "case": name, "policy": pname,
                "sha256": hashlib.sha256(res.raw).hexdigest(), "size": len(res.raw),
                "findings": [f.as_dict() for f in res.findings],
                "error": res.error, "skipped": list(res.skipped),
            }) + "\n")
    return 0


def _run_side(tree: Path, cases_file: Path) -> list[dict]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", str(tree), str(cases_file)]
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    env.pop("PYTHONPATH", None)
    proc = subprocess.run(cmd, capture_output=True, env=env, check=False)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr.decode(errors="replace"))
        raise SystemExit(f"compare_outputs: the run on {tree} failed (exit {proc.returncode})")
    return [json.loads(line) for line in proc.stdout.decode().splitlines()]


class _Side:
    """A tree to import from: a directory as it is, or a commit checked out for the run."""

    def __init__(self, spec: str, tmp: Path) -> None:
        self.spec = spec
        self.worktree: Path | None = None
        path = Path(spec)
        if (path / "pixelguard" / "__init__.py").is_file():
            self.tree = path.resolve()
            return
        sha = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--verify", spec + "^{commit}"],
                             capture_output=True, text=True, check=False)
        if sha.returncode != 0:
            raise SystemExit(f"compare_outputs: {spec!r} is neither a directory with pixelguard/ "
                             f"nor a commit of {REPO}")
        self.worktree = tmp / f"tree-{sha.stdout.strip()[:12]}-{len(list(tmp.iterdir()))}"
        subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", "--quiet",
                        str(self.worktree), sha.stdout.strip()], check=True)
        self.tree = self.worktree

    def close(self) -> None:
        if self.worktree is not None:
            subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force",
                            str(self.worktree)], check=False, capture_output=True)


def _describe(a: dict, b: dict) -> str:
    what = []
    if a["sha256"] != b["sha256"]:
        what.append(f"bytes differ ({a['size']} vs {b['size']} bytes)")
    if a["findings"] != b["findings"]:
        fa, fb = a["findings"], b["findings"]
        first = next((i for i in range(max(len(fa), len(fb)))
                      if i >= len(fa) or i >= len(fb) or fa[i] != fb[i]), 0)
        what.append(f"findings differ ({len(fa)} vs {len(fb)}; first at #{first}: "
                    f"{fa[first] if first < len(fa) else None} vs "
                    f"{fb[first] if first < len(fb) else None})")
    for key in ("error", "skipped"):
        if a[key] != b[key]:
            what.append(f"{key}: {a[key]!r} vs {b[key]!r}")
    return f"{a['case']} [{a['policy']}]: " + "; ".join(what)


def compare(old: list[dict], new: list[dict]) -> list[str]:
    """One line per (case, policy) on which the two sides differ."""
    if len(old) != len(new):
        return [f"the sides cleaned {len(old)} and {len(new)} cases"]
    return [_describe(a, b) for a, b in zip(old, new, strict=True) if a != b]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("old", nargs="?", default="main", help="commit or tree (default: main)")
    ap.add_argument("new", nargs="?", default=str(REPO), help="commit or tree (default: this "
                    "checkout)")
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    ap.add_argument("--no-corpus", action="store_true")
    ap.add_argument("--fixtures", type=Path, action="append", default=None,
                    help="a directory of inputs (default: fixtures/ of this checkout)")
    ap.add_argument("--generated", type=int, default=5000, help="generated documents (5000)")
    ap.add_argument("--show", type=int, default=10, help="differences printed (10)")
    ap.add_argument("--worker", nargs=2, metavar=("TREE", "CASES"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        return _worker(args.worker[0], args.worker[1])

    sys.path.insert(0, str(HERE))
    corpus = None if args.no_corpus else args.corpus
    if corpus is not None and not corpus.is_dir():
        print(f"compare_outputs: corpus directory not found: {corpus}", file=sys.stderr)
        return 2
    fixtures = args.fixtures if args.fixtures is not None else [REPO / "fixtures"]
    cases = inputs(corpus, fixtures, args.generated)
    tmp = Path(tempfile.mkdtemp(prefix="pg-compare-"))
    sides: list[_Side] = []
    try:
        sides = [_Side(args.old, tmp), _Side(args.new, tmp)]
        cases_file = tmp / "cases.pickle"
        cases_file.write_bytes(pickle.dumps(cases))
        old = _run_side(sides[0].tree, cases_file)
        new = _run_side(sides[1].tree, cases_file)
    finally:
        for side in sides:
            side.close()
        shutil.rmtree(tmp, ignore_errors=True)
    diffs = compare(old, new)
    print(f"{len(cases)} inputs x {len(POLICIES)} policies = {len(old)} cleanings "
          f"({args.old} vs {args.new}), {sum(bool(r['findings']) for r in new)} with findings: "
          f"{len(diffs)} differences")
    for line in diffs[: args.show]:
        print("  " + line[:600])
    return 1 if diffs else 0


if __name__ == "__main__":
    sys.exit(main())
