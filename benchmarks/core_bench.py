"""Core benchmark: `clean_message` per message vs the Relay- and MailTrackerBlocker-style
baselines, in one run, on the shared corpus and on generated newsletters; plus what each
method flags on the corpus. Not a timed test: run by hand.

    .venv/bin/python benchmarks/core_bench.py                 # timings + detection comparison
    .venv/bin/python benchmarks/core_bench.py --profile DIR   # cProfile + pyinstrument reports

Timing, per message: pixelguard = `clean_message(raw, policy)` on the whole message (MIME
parsing and decoding included); baselines = their scan over the message's already-decoded HTML
parts (MIME decoding *not* counted, which favours them). Message by message, each method
runs `--repeat` times back to back and its median is kept (the methods take turns going
first); the table gives the median and p99 of those per-message times. Corpus and generated messages are read/generated at run time.

The process is set up as the adapters set up theirs: after the warm-up, the collector is
tuned for many messages (pixelguard.gc_tuning.for_many_messages, as a relay worker does);
`--gc default` leaves Python's defaults. `--cold` gives pixelguard what it keeps between
messages (pixelguard.cache.Cache) fresh for every run of a message, so a repeated message is
not served from what its own first run left there (code older than the Cache: its
module-level memories are cleared instead). To compare two versions of pixelguard on a busy
machine: `--methods pixelguard --clock cpu` (this process's CPU time, not wall time).

`--paired-against COMMIT` compares this tree with an older commit message by message: two
worker processes, one importing pixelguard from a `git archive` of COMMIT, the other from
this tree, are handed the same messages in turn (which goes first alternates from message
to message and from round to round), and each reports the CPU time of its `clean_message`;
every round starts two new workers (a process's hash seed and memory layout move its speed
by a per cent or two).
Both see the same load at nearly the same moment, so the machine's noise cancels in each
message's ratio (this tree ÷ COMMIT). In a round each message is cleaned `--repeat` times
by each side and the median kept (once in a `stream`, whose state is carried). Prints, per round, the median of the per-message ratios, and over all
rounds the median of each message's ratio of median times.
`--paired-set`: `corpus` (every corpus message with HTML, a fresh Cache — or the older
code's memories cleared, as `fresh_state()` does — before each run), `stream` (a template
stream: state carried from message to message within a round, fresh at each round's start)
or a size in bytes (generated newsletters of that size, fresh state before each run).
"""
from __future__ import annotations

import argparse
import email
import email.policy
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def pin_source() -> str:
    """Import pixelguard from $PIXELGUARD_SRC when set (e.g. a `git archive` snapshot of a
    commit, so a run measures one known version while the work tree changes); returns a label
    naming the code measured."""
    src = os.environ.get("PIXELGUARD_SRC")
    if src:
        sys.meta_path[:] = [f for f in sys.meta_path
                            if not str(getattr(f, "__module__", "")).startswith("__editable__")]
        sys.path.insert(0, src)
        return f"pixelguard from {src}"
    repo = Path(__file__).resolve().parents[1]
    try:
        head = subprocess.run(["git", "-C", str(repo), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, timeout=10, check=False).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(repo), "status", "--porcelain", "pixelguard"],
                               capture_output=True, text=True, timeout=10, check=False).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "pixelguard (installed)"
    return f"pixelguard work tree at {head}" + (" + uncommitted changes" if dirty else "")


SOURCE = pin_source()

from baselines import MtbStyle, RelayStyle, norm_url
from gen_newsletter import RECIPIENT, as_message, newsletter

from pixelguard import Policy, clean_message
from pixelguard.cli_filter import recipient_of

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"
SIZES = (20_000, 100_000, 1_000_000)
METHODS = ("pixelguard", "mtb", "relay")
SEEDS = {20_000: 20, 100_000: 10, 1_000_000: 4}  # newsletters generated per size


def corpus_files(root: Path) -> list[Path]:
    """Every .eml and .html file, and the SpamAssassin messages (.txt)."""
    files = [p for p in root.rglob("*") if p.suffix in (".eml", ".html")]
    files += list((root / "spamassassin_publiccorpus").rglob("*.txt"))
    return sorted(set(files))


def html_parts(raw: bytes) -> list[str]:
    """The decoded text/html parts, as a mail client hands them to a baseline."""
    head = raw[:512].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"<"):
        return [raw.decode("utf-8", "replace")]
    msg = email.message_from_bytes(raw, policy=email.policy.compat32)
    out = []
    for part in msg.walk():
        if part.get_content_type() != "text/html":
            continue
        data = part.get_payload(decode=True) or b""
        charset = part.get_content_charset() or "utf-8"
        try:
            out.append(data.decode(charset, "replace"))
        except LookupError:
            out.append(data.decode("utf-8", "replace"))
    return out


def policy_for(raw: bytes) -> Policy:
    rcpt = recipient_of(raw)
    return Policy(recipients=(rcpt,) if rcpt else ())


CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}
_clock = CLOCKS["wall"]


def _t(fn, *args, **kwargs) -> float:
    t0 = _clock()
    fn(*args, **kwargs)
    return _clock() - t0


def tune_collector(how: str) -> str:
    """Set up the collector as the adapters do (`how`: "adapters"), leave Python's defaults
    ("default") or switch it off ("off"); returns what was done, for the output."""
    if how == "default":
        return "collector: Python's defaults"
    if how == "off":
        import gc

        gc.collect()
        gc.disable()
        return "collector: off"
    try:
        from pixelguard import gc_tuning
    except ImportError:
        return "collector: Python's defaults (the code measured has no pixelguard.gc_tuning)"
    gc_tuning.for_many_messages()
    return "collector: tuned as the adapters tune it (gc_tuning.for_many_messages)"


def fresh_state() -> dict:
    """What clean_message keeps between messages, forgotten (--cold): keyword arguments
    giving it a fresh Cache, or, for code older than the Cache, its memories cleared (those of
    its modules and the shipped tracker list's)."""
    try:
        from pixelguard.cache import Cache
    except ImportError:
        _clear_module_memories()
        return {}
    return {"cache": Cache()}


def _clear_module_memories() -> None:
    import importlib

    from pixelguard.memo import Memo

    for name, module in list(sys.modules.items()):
        if name.startswith("pixelguard"):
            for value in list(vars(module).values()):
                if isinstance(value, Memo):
                    value.clear()
    for name in ("pixelguard.detect.visibility", "pixelguard.detect.leak"):
        module = importlib.import_module(name)
        for value in list(vars(module).values()):
            if hasattr(value, "cache_clear") and getattr(value, "__module__", "") == name:
                value.cache_clear()
    # the verdicts the shipped tracker list keeps on itself (a Memo held by the instance:
    # kept, they spare that code every list match after a message's first run)
    from pixelguard.trackers import default_list

    for value in list(vars(default_list()).values()):
        if isinstance(value, Memo):
            value.clear()


def _p99(xs: list[float]) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(0.99 * (len(xs) - 1)))]


def time_set(items: list[tuple[bytes, list[str], Policy]], relay: RelayStyle, mtb: MtbStyle,
             repeat: int, cold: bool = False,
             only: frozenset[str] = frozenset(METHODS)) -> dict[str, list[float]]:
    """Per-message median time (seconds) of each method. Message by message, each method
    runs `repeat` times back to back (the median keeps a warm run of each); the methods take
    turns going first.

    Why not alternate the methods run by run: the Relay-style scan sweeps the CPU caches (213
    regexes over the whole text), and the method run after it always starts cold. In a fixed
    order that was always pixelguard (~30% slower for it); in any order it measures which
    method ran last rather than the method."""
    out: dict[str, list[float]] = {name: [] for name in METHODS if name in only}

    def pixelguard(raw: bytes, htmls: list[str], pol: Policy) -> float:
        return _t(clean_message, raw, pol, **(fresh_state() if cold else {}))

    methods = [
        ("pixelguard", pixelguard),
        ("mtb", lambda raw, htmls, pol: sum(_t(mtb.clean, h) for h in htmls)),
        ("relay", lambda raw, htmls, pol: sum(_t(relay.clean, h) for h in htmls)),
    ]
    methods = [(name, run) for name, run in methods if name in only]
    for n, (raw, htmls, pol) in enumerate(items):
        k = n % len(methods)
        for name, run in methods[k:] + methods[:k]:
            out[name].append(statistics.median(run(raw, htmls, pol) for _ in range(repeat)))
    return out


def summarize(times: dict[str, list[float]]) -> dict[str, dict[str, float]]:
    s = {k: {"n": len(v), "median_ms": statistics.median(v) * 1e3, "p99_ms": _p99(v) * 1e3,
             "mean_ms": statistics.fmean(v) * 1e3} for k, v in times.items()}
    pg = s["pixelguard"]
    for k in [m for m in ("mtb", "relay") if m in s]:
        s[k]["pg_median_ratio"] = pg["median_ms"] / s[k]["median_ms"] if s[k]["median_ms"] else 0
        s[k]["pg_p99_ratio"] = pg["p99_ms"] / s[k]["p99_ms"] if s[k]["p99_ms"] else 0
    return s


def print_table(title: str, s: dict[str, dict[str, float]]) -> None:
    print(f"\n### {title}\n")
    print("| method | n | median ms | p99 ms | mean ms | pixelguard median / this | pixelguard p99 / this |")
    print("|---|---|---|---|---|---|---|")
    for k in [m for m in METHODS if m in s]:
        r = s[k]
        ratio = (f"{r['pg_median_ratio']:.2f}x | {r['pg_p99_ratio']:.2f}x"
                 if "pg_median_ratio" in r else "- | -")
        print(f"| {k} | {r['n']} | {r['median_ms']:.2f} | {r['p99_ms']:.2f} | "
              f"{r['mean_ms']:.2f} | {ratio} |")


# ---------------------------------------------------------------- detection comparison

def _pg_loads(result) -> list[str]:
    return [norm_url(f.url) for f in result.findings]


def compare_detection(corpus: list[tuple[str, bytes, list[str], Policy]], relay: RelayStyle,
                      strict: RelayStyle, mtb: MtbStyle) -> dict:
    """URL-level comparison per message: what each baseline flags vs pixelguard's findings."""
    methods = {"mtb": mtb, "relay": relay, "relay-strict": strict}
    stats = {k: Counter() for k in methods}
    only_baseline: dict[str, list[tuple[str, str, str]]] = {k: [] for k in methods}
    only_pg: list[tuple[str, str, str]] = []
    pg_total = Counter()
    for name, raw, htmls, pol in corpus:
        if not htmls:
            continue
        res = clean_message(raw, pol)
        pg = set(_pg_loads(res))
        pg_total["findings"] += len(res.findings)
        pg_total["messages"] += bool(res.findings)
        for f in res.findings:
            pg_total["rule:" + f.rule] += 1
            pg_total["where:" + f.where.split("[")[0].split("@")[0]] += 1
        flagged_by_any: set[str] = set()
        for key, meth in methods.items():
            found = [meth.detect(h) for h in htmls]
            loads = {u for fl in found for u in fl.loads}
            links = sum(len(fl.links) for fl in found)
            st = stats[key]
            st["loads_flagged"] += len(loads)
            st["link_rewrites"] += links
            st["messages"] += bool(loads)
            st["both"] += len(loads & pg)
            st["only_baseline"] += len(loads - pg)
            st["only_pixelguard"] += len(pg - loads)
            only_baseline[key].extend((name, u, "") for u in sorted(loads - pg))
            flagged_by_any |= loads
        only_pg.extend((name, f.url, f.rule) for f in res.findings
                       if norm_url(f.url) not in flagged_by_any)
    return {"pixelguard": dict(pg_total), "baselines": {k: dict(v) for k, v in stats.items()},
            "only_baseline": only_baseline, "only_pixelguard": only_pg}


def print_detection(d: dict) -> None:
    pg = d["pixelguard"]
    print("\n### Detection on the corpus (distinct URLs per message)\n")
    print(f"pixelguard: {pg.get('findings', 0)} findings in {pg.get('messages', 0)} messages; "
          + ", ".join(f"{k}={v}" for k, v in sorted(pg.items()) if ":" in k))
    print("\n| baseline | loads flagged | messages | also by pixelguard | only baseline | "
          "only pixelguard | link rewrites |")
    print("|---|---|---|---|---|---|---|")
    for k, st in d["baselines"].items():
        print(f"| {k} | {st.get('loads_flagged', 0)} | {st.get('messages', 0)} | "
              f"{st.get('both', 0)} | {st.get('only_baseline', 0)} | "
              f"{st.get('only_pixelguard', 0)} | {st.get('link_rewrites', 0)} |")


# ---------------------------------------------------------------- profiling

def profile(outdir: Path, corpus: list[tuple[str, bytes, list[str], Policy]]) -> None:
    import cProfile
    import pstats

    outdir.mkdir(parents=True, exist_ok=True)
    pol = Policy(recipients=(RECIPIENT,))
    cases = {
        "newsletter-100k": ([as_message(newsletter(100_000, s)) for s in range(1, 6)], 4),
        "newsletter-1M": ([as_message(newsletter(1_000_000, 1))], 2),
        "corpus": ([raw for _n, raw, _h, _p in corpus], 2),
    }
    clean_message(cases["newsletter-100k"][0][0], pol)  # warm-up: tracker list, imports
    for name, (raws, reps) in cases.items():
        pols = [pol] * len(raws) if name != "corpus" else [p for *_x, p in corpus]
        prof = cProfile.Profile()
        prof.enable()
        for _ in range(reps):
            for raw, p in zip(raws, pols):
                clean_message(raw, p)
        prof.disable()
        with open(outdir / f"{name}.cprofile.txt", "w") as fh:
            st = pstats.Stats(prof, stream=fh).sort_stats("tottime")
            st.print_stats(40)
            st.sort_stats("cumulative").print_stats(60)
        print(f"\n### cProfile {name}: top 15 by own time ({outdir}/{name}.cprofile.txt)\n")
        pstats.Stats(prof, stream=sys.stdout).sort_stats("tottime").print_stats(15)
        try:
            from pyinstrument import Profiler
        except ImportError:
            print("(pyinstrument not installed: pip install -e '.[bench]')")
            continue
        pi = Profiler(interval=0.0005)
        pi.start()
        for _ in range(reps):
            for raw, p in zip(raws, pols):
                clean_message(raw, p)
        pi.stop()
        (outdir / f"{name}.pyinstrument.txt").write_text(
            pi.output_text(unicode=False, color=False, show_all=False))
        print(f"pyinstrument tree: {outdir}/{name}.pyinstrument.txt")


# ---------------------------------------------------------------- paired runs

STREAM_TEMPLATES = 4  # generated 30 kB newsletters (seeds 101-104) a template stream cycles
STREAM_LENGTH = 160
_TOKEN = __import__("re").compile(r"[A-Za-z0-9_-]{48}|[0-9a-f]{24}|[0-9a-f]{10}")


def personalised(html: str, n: int) -> str:
    """`html` made new for recipient `n`: every per-recipient token of its links and pixels
    replaced, as an ESP does (the styles, stylesheets and images stay the template's)."""
    import hashlib

    return _TOKEN.sub(lambda m: hashlib.sha1(f"{m.group()}{n}".encode()).hexdigest()[:len(m.group())],
                      html)


def template_stream(length: int = STREAM_LENGTH) -> list[tuple[bytes, Policy]]:
    """Messages from STREAM_TEMPLATES 30 kB newsletters taken in turn, each personalised:
    what a relay sees of a campaign."""
    pol = Policy(recipients=(RECIPIENT,))
    base = [newsletter(30_000, seed) for seed in range(101, 101 + STREAM_TEMPLATES)]
    return [(as_message(personalised(base[i % len(base)], i)), pol) for i in range(length)]


def corpus_with_html(root: Path = CORPUS) -> list[tuple[bytes, Policy]]:
    """Every corpus message with an HTML part, with the policy for its recipient."""
    out = []
    for p in corpus_files(root):
        raw = p.read_bytes()
        if html_parts(raw):
            out.append((raw, policy_for(raw)))
    return out


def paired_messages(which: str, root: Path = CORPUS) -> tuple[list[tuple[bytes, Policy]], bool]:
    """The messages of a --paired-set, and whether state is carried between them."""
    if which == "corpus":
        return corpus_with_html(root), False
    if which == "stream":
        return template_stream(), True
    size = int(which)
    pol = Policy(recipients=(RECIPIENT,))
    return [(as_message(newsletter(size, seed)), pol) for seed in (1, 2)], False


def paired_worker(which: str, collector: str, root: Path) -> int:
    """One side of --paired-against: reads commands on stdin ("reset", or a message's index)
    and answers each index with the CPU seconds its clean_message took."""
    import hashlib

    msgs, carried = paired_messages(which, root)
    clean_message(msgs[0][0], msgs[0][1])  # warm-up: imports, the shipped tracker list
    tune_collector(collector)
    digest = hashlib.sha1(b"".join(raw for raw, _p in msgs)).hexdigest()[:12]
    print(len(msgs), digest, SOURCE.replace(" ", "_"), flush=True)
    state: dict = {}
    for line in sys.stdin:
        command = line.strip()
        if command == "reset":
            state = fresh_state()
            print("ok", flush=True)
            continue
        raw, pol = msgs[int(command)]
        kwargs = state if carried else fresh_state()
        t0 = time.process_time()
        clean_message(raw, pol, **kwargs)
        print(time.process_time() - t0, flush=True)
    return 0


def paired(commit: str, which: str, rounds: int, repeat: int, collector: str, root: Path) -> int:
    """--paired-against: this tree against `commit`, message by message (module docstring)."""
    import shutil
    import tarfile
    import tempfile

    if which == "stream":
        repeat = 1  # (a repeat would find the message in what its first run left)
    repo = Path(__file__).resolve().parents[1]
    full = subprocess.run(["git", "-C", str(repo), "rev-parse", "--short", commit],
                          capture_output=True, text=True, check=True).stdout.strip()
    tmp = Path(tempfile.mkdtemp(prefix="core-bench-paired-"))
    procs: list[subprocess.Popen] = []
    try:
        archive = subprocess.run(["git", "-C", str(repo), "archive", full, "pixelguard"],
                                 capture_output=True, check=True).stdout
        with tarfile.open(fileobj=__import__("io").BytesIO(archive)) as tar:
            tar.extractall(tmp, filter="data")
        sides = [str(tmp), str(repo)]

        def start() -> int:
            """Two new workers (a new process has its own hash seed and memory layout, which
            move its speed by a per cent or two: each round gets its own); their messages."""
            for p in procs:
                p.stdin.close()
                p.wait()
            procs.clear()
            for src in sides:
                env = dict(os.environ, PIXELGUARD_SRC=src)
                env.pop("PYTHONDONTWRITEBYTECODE", None)
                procs.append(subprocess.Popen(
                    [sys.executable, str(Path(__file__).resolve()), "--paired-worker", which,
                     "--gc", collector, "--corpus", str(root)],
                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env))
            hellos = [p.stdout.readline().split() for p in procs]
            if hellos[0][:2] != hellos[1][:2]:
                raise SystemExit(f"the workers disagree on the messages: {hellos}")
            return int(hellos[0][0])

        def ask(k: int, command: str) -> str:
            procs[k].stdin.write(command + "\n")
            procs[k].stdin.flush()
            return procs[k].stdout.readline().strip()

        n = start()
        load = [os.getloadavg()[0]]
        print(f"paired, {which}: {full} (old) against {SOURCE.replace('pixelguard ', '')} (new); "
              f"{n} messages, {rounds} rounds (new workers each) of {repeat} runs per message "
              f"(median kept), CPU time of clean_message; collector "
              f"{'off on both sides' if collector == 'off' else 'as ' + collector}")
        times: list[list[list[float]]] = [[[] for _ in range(n)] for _ in (0, 1)]
        per_round = []
        for r in range(rounds):
            if r:
                start()
            for k in (0, 1):
                ask(k, "reset")
            for i in range(n):
                runs: list[list[float]] = [[], []]
                for j in range(repeat):
                    for k in ((0, 1) if (i + r + j) % 2 == 0 else (1, 0)):
                        runs[k].append(float(ask(k, str(i))))
                for k in (0, 1):
                    times[k][i].append(statistics.median(runs[k]))
            ratios = [new[-1] / old[-1] for old, new in zip(times[0], times[1]) if old[-1] > 0]
            load.append(os.getloadavg()[0])
            per_round.append(statistics.median(ratios))
            print(f"round {r + 1}: median per-message ratio {per_round[-1]:.3f}; "
                  f"total {sum(t[-1] for t in times[0]) * 1e3:.0f} vs "
                  f"{sum(t[-1] for t in times[1]) * 1e3:.0f} ms; load {load[-1]:.2f}", flush=True)
        old_med = [statistics.median(t) for t in times[0]]
        new_med = [statistics.median(t) for t in times[1]]
        ratios = [b / a for a, b in zip(old_med, new_med) if a > 0]
        print(f"\nmedian per message: {statistics.median(old_med) * 1e3:.2f} ms ({full}) vs "
              f"{statistics.median(new_med) * 1e3:.2f} ms (this tree), ratio of medians "
              f"{statistics.median(new_med) / statistics.median(old_med):.3f}; "
              f"median of per-message ratios **{statistics.median(ratios):.3f}** "
              f"(quartiles {statistics.quantiles(ratios, n=4)[0]:.3f}–"
              f"{statistics.quantiles(ratios, n=4)[2]:.3f}); the rounds' medians: median "
              f"**{statistics.median(per_round):.3f}**, {min(per_round):.3f}–"
              f"{max(per_round):.3f}; load {min(load):.2f}–{max(load):.2f}")
        return 0
    finally:
        for p in procs:
            if p.stdin:
                p.stdin.close()
            p.wait()
        shutil.rmtree(tmp, ignore_errors=True)


# ---------------------------------------------------------------- main

def main() -> int:
    ap = argparse.ArgumentParser(description="clean_message vs Relay/MTB-style baselines")
    ap.add_argument("--corpus", type=Path, default=CORPUS)
    ap.add_argument("--repeat", type=int, default=3, help="timings per message and method")
    ap.add_argument("--sizes", default=",".join(map(str, SIZES)))
    ap.add_argument("--json", type=Path, help="write all numbers here")
    ap.add_argument("--review", type=Path, help="write the URLs only one side flags here")
    ap.add_argument("--profile", type=Path, metavar="DIR", help="profile instead of timing")
    ap.add_argument("--no-detect", action="store_true", help="skip the detection comparison")
    ap.add_argument("--cold", action="store_true",
                    help="forget what pixelguard keeps between messages before each run")
    ap.add_argument("--methods", default=",".join(METHODS),
                    help="methods timed (pixelguard alone: to compare two versions of it; the "
                         "baselines then no longer sweep the CPU caches between its runs)")
    ap.add_argument("--clock", choices=tuple(CLOCKS), default="wall",
                    help="wall time, or this process's CPU time (steadier on a busy machine)")
    ap.add_argument("--gc", choices=("adapters", "default", "off"), default="adapters",
                    help="collector set up as the adapters do (default), Python's defaults, or "
                         "(--paired-against only) off after the warm-up")
    ap.add_argument("--paired-against", metavar="COMMIT",
                    help="this tree against COMMIT, message by message, in two processes")
    ap.add_argument("--paired-set", default="corpus",
                    help="with --paired-against: corpus, stream or a newsletter size in bytes")
    ap.add_argument("--rounds", type=int, default=5, help="with --paired-against")
    ap.add_argument("--paired-worker", metavar="SET", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.paired_worker:
        return paired_worker(args.paired_worker, args.gc, args.corpus)
    if args.paired_against:
        return paired(args.paired_against, args.paired_set, args.rounds, args.repeat, args.gc,
                      args.corpus)

    global _clock
    _clock = CLOCKS[args.clock]
    relay, strict, mtb = RelayStyle(), RelayStyle(category="EmailAggressive"), MtbStyle()
    corpus = []
    for p in corpus_files(args.corpus):
        raw = p.read_bytes()
        corpus.append((str(p.relative_to(args.corpus)), raw, html_parts(raw), policy_for(raw)))
    if args.profile:
        profile(args.profile, corpus)
        return 0

    print(SOURCE)
    print(f"machine: {platform.machine()}, {len(__import__('os').sched_getaffinity(0))} cpu(s), "
          f"Python {platform.python_version()}; corpus: {len(corpus)} messages "
          f"({sum(bool(h) for *_x, h, _p in corpus)} with HTML), repeat={args.repeat}, "
          f"{args.clock} time")
    results: dict = {}
    # Warm-up: tracker list load, regex compilation caches, imports.
    clean_message(corpus[0][1], corpus[0][3])
    for _n, _raw, htmls, _p in corpus[:5]:
        for h in htmls:
            mtb.clean(h), relay.clean(h)
    print(tune_collector(args.gc) + ("; --cold: what the core keeps between messages is "
                                     "forgotten before each run" if args.cold else ""))

    with_html = [(raw, h, p) for _n, raw, h, p in corpus if h]
    sizes = [len(h.encode()) for _r, hs, _p in with_html for h in hs]
    print(f"corpus HTML part size: median {statistics.median(sizes) / 1e3:.1f} kB, "
          f"max {max(sizes) / 1e3:.0f} kB")
    only = frozenset(args.methods.split(","))
    t = time_set(with_html, relay, mtb, args.repeat, args.cold, only)
    results["corpus_with_html"] = summarize(t)
    print_table(f"corpus, messages with an HTML part (n={len(with_html)})",
                results["corpus_with_html"])
    no_html = [(raw, h, p) for _n, raw, h, p in corpus if not h]
    if no_html:
        t2 = time_set(no_html, relay, mtb, args.repeat, args.cold, only)
        all_t = {k: t[k] + t2[k] for k in t}
        results["corpus_all"] = summarize(all_t)
        print_table(f"corpus, all messages (n={len(corpus)}; baselines take 0 on text-only)",
                    results["corpus_all"])

    pol = Policy(recipients=(RECIPIENT,))
    for size in (int(s) for s in args.sizes.split(",") if s):
        n = SEEDS.get(size, 3)
        items = []
        for seed in range(1, n + 1):
            html = newsletter(size, seed)
            items.append((as_message(html), [html], pol))
        reps = max(1, min(args.repeat, 3 if size <= 100_000 else 1))
        t = time_set(items, relay, mtb, reps, args.cold, only)
        results[f"newsletter_{size}"] = summarize(t)
        print_table(f"generated newsletters, {size / 1e3:g} kB HTML (n={n} seeds, "
                    f"median of {reps})", results[f"newsletter_{size}"])

    if not args.no_detect:
        det = compare_detection(corpus, relay, strict, mtb)
        print_detection(det)
        results["detection"] = {k: det[k] for k in ("pixelguard", "baselines")}
        if args.review:
            with open(args.review, "w") as fh:
                for k, rows in det["only_baseline"].items():
                    fh.write(f"## flagged by {k}, not by pixelguard ({len(rows)})\n")
                    fh.writelines(f"{n}\t{u}\n" for n, u, _ in rows)
                fh.write(f"## flagged by pixelguard only ({len(det['only_pixelguard'])})\n")
                fh.writelines(f"{n}\t{r}\t{u}\n" for n, u, r in det["only_pixelguard"])
            print(f"\nURLs flagged by one side only: {args.review}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
