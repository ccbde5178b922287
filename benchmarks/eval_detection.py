#!/usr/bin/env python3
"""Detection quality on a labelled corpus: tracker recall and content images removed.

    python benchmarks/eval_detection.py [--corpus DIR] [--labels FILE] [--json]
                                        [--min-recall R] [--max-fp N] [--max-fp-per-300 X]

The resource universe is pixelguard's own vector extraction (`pixelguard.detect.vectors.extract`
over the same MIME parts `clean_message` cleans), so a miss here means "found but not judged a
tracker", never "not found". Vectors the extractor does not see at all are checked separately
by an independent, deliberately crude regex scan of every HTML part ("extraction gaps").
Detection runs through `clean_message` with the policy `pixelguard scan` would use (no config,
recipient from Delivered-To / X-Original-To / To), so what is measured is what users get.

Labels (benchmarks/labels/*.jsonl) are one JSON object per remote resource:
    {"file", "part", "where", "url", "label": tracker|content|unsure, "reason", "vendor"?}
keyed by (file, url); part and where say where it was first seen. A URL that occurs several
times in a message is one label: a tracker counts as caught only when every occurrence is
removed; content counts as removed when a visible copy is (more removals than copies that are
tiny or never shown: dropping the 1x1 twin of a shown image breaks nothing). A URL the crude scan sees but the
extractor does not is in the universe too (where "(not extracted)"), and a tracker there is a miss.

Exit status: 0 done; 1 a quality floor given on the command line was not met; 2 harness error
(no corpus, unreadable or malformed labels, a finding outside the universe).
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pixelguard import clean_message, css, message
from pixelguard.cli_filter import policy_for
from pixelguard.config import Config

try:
    from pixelguard.core import is_bare_html
except ImportError:  # the core before it made this public
    from pixelguard.core import _is_bare_html as is_bare_html
from pixelguard.detect.shape import open_shape
from pixelguard.detect.vectors import extract
from pixelguard.detect.visibility import Visibility, box, inline_decls, tiny_reason
from pixelguard.htmlscan import scan
from pixelguard.trackers import default_list

DEFAULT_CORPUS = ROOT.parent / "shared" / "corpus"
DEFAULT_LABELS = ROOT / "benchmarks" / "labels" / "shared_corpus.jsonl"
LABELS = ("tracker", "content", "unsure")
IMAGE_KINDS = ("image", "background", "media")
GAP_WHERE = "(not extracted)"  # a URL only the independent crude scan saw
NOT_MESSAGES = {"SOURCES.md", "AUTO_LABELS.jsonl", "README.md"}


class HarnessError(Exception):
    """The evaluation itself could not be done (not a quality problem)."""


@dataclass
class Occurrence:
    """One remote resource in one HTML part, with the facts a reviewer needs."""

    file: str
    part: str
    where: str
    url: str
    kind: str
    width: str  # as written (attribute / CSS), "" when absent
    height: str
    tiny: str | None
    hidden: str | None  # "never: reason" / "revealable: reason"
    shape: str | None
    listed: str | None  # "Vendor (precise|host-only) pattern"

    @property
    def key(self) -> tuple[str, str]:
        return (self.file, self.url)


@dataclass
class Label:
    file: str
    part: str
    where: str
    url: str
    label: str
    reason: str
    vendor: str | None = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.file, self.url)


# --- the universe -----------------------------------------------------------------------------

def corpus_files(corpus: Path) -> list[str]:
    """Every message/HTML file under the corpus, as sorted POSIX paths relative to it."""
    if not corpus.is_dir():
        raise HarnessError(f"corpus directory not found: {corpus}")
    out = [p.relative_to(corpus).as_posix() for p in corpus.rglob("*")
           if p.is_file() and p.name not in NOT_MESSAGES and not p.name.startswith(".")]
    if not out:
        raise HarnessError(f"no messages in {corpus}")
    return sorted(out)


def html_parts(raw: bytes) -> list[tuple[str, str, str | None]]:
    """(part path, decoded HTML text, base URL) for every HTML part clean_message would clean."""
    if is_bare_html(raw):
        try:
            return [("1", raw.decode("utf-8"), None)]
        except UnicodeDecodeError:
            return [("1", raw.decode("latin-1"), None)]
    try:
        root = message.parse(raw)
    except message.MimeError:
        return []
    out = []
    for part in root.leaves():
        if part.content_type != "text/html":
            continue
        try:
            data = message.decode_body(raw, part)
        except message.MimeError:
            continue
        base = part.headers.get("Content-Base") or part.headers.get("Content-Location")
        text = data.decode(message.pick_codec(part, data), "surrogateescape")
        out.append((part.path, text, str(base).strip() if base else None))
    return out


def _attr_size(el, decls, side: str) -> str:
    for d in decls:
        if d.name in (side, "max-" + side):
            return f"{d.name}:{d.value}"
    return el.get(side)


def part_resources(file: str, part: str, text: str, base: str | None) -> list[Occurrence]:
    """The remote resources of one HTML part, described (pixelguard's own extraction)."""
    doc = scan(text)
    sheets = [(block, css.parse_stylesheet(text[block.start:block.end])) for block in doc.styles]
    found = extract(doc, base, sheets)
    vis = Visibility(doc, [(sheet, block.in_mso) for block, sheet in sheets])
    trackers = default_list()
    out = []
    for res in found:
        el = res.element
        decls = inline_decls(el) if el is not None else []
        tiny = None
        if el is not None and res.kind in IMAGE_KINDS:
            tiny = tiny_reason(*box(el, decls))
        state = vis.state(el)
        hit = trackers.match(res.url)
        listed = None
        if hit is not None:
            listed = f"{hit.vendor} ({'precise' if hit.precise else 'host-only'}) {hit.pattern}"
        out.append(Occurrence(
            file=file, part=part, where=res.where, url=res.url, kind=res.kind,
            width=_attr_size(el, decls, "width") if el is not None else "",
            height=_attr_size(el, decls, "height") if el is not None else "",
            tiny=tiny, hidden=f"{state[0]}: {state[1]}" if state else None,
            shape=open_shape(res.url), listed=listed,
        ))
    return out


# An independent, crude look for remote URLs in loading positions, to catch vectors the
# extractor does not know. Not used for scoring; only reported.
_CRUDE = re.compile(
    r"""(?:\b(?:src|background|poster|srcset|data|href)\s*=\s*["']?\s*|url\(\s*["']?\s*)"""
    r"""((?:https?:)?//[^\s"'()<>,]+)""",
    re.IGNORECASE,
)


_COMMENT = re.compile(r"<!--(?!\[if)(?:[^-]|-(?!->))*-->", re.IGNORECASE)  # not conditional ones


def crude_urls(text: str) -> set[str]:
    from pixelguard.htmlscan import unescape_attr  # the HTML rule for attribute values

    out = set()
    text = _COMMENT.sub("", text)
    for m in _CRUDE.finditer(text):
        start = text.rfind("<", 0, m.start())
        tag = text[start + 1:start + 12].lower() if start >= 0 else ""
        if m.group(0).lower().startswith("href") and not tag.startswith(("link", "image", "use", "v:")):
            continue  # a link, not a load
        if m.group(0).lower().startswith("data") and not tag.startswith("object"):
            continue
        url = unescape_attr(m.group(1))
        out.add("https:" + url if url.startswith("//") else url)
    return out


# --- labels -----------------------------------------------------------------------------------

def read_labels(path: Path, make: Callable[[dict], Any], kinds: tuple[str, ...],
                fault: Callable[[Any], str | None] | None = None) -> dict:
    """The labels of a JSON-lines file, keyed by their `key`: `make` builds one from its
    object; each needs a `label` among `kinds`, a reason and a key of its own, and `fault`
    may name one more thing wrong with it. Any problem: HarnessError naming file and line."""
    if not path.is_file():
        raise HarnessError(f"labels file not found: {path}")
    labels: dict = {}
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                lab = make(json.loads(line))
            except (ValueError, KeyError, TypeError) as exc:
                raise HarnessError(f"{path}:{n}: malformed label: {exc}") from None
            if lab.label not in kinds:
                raise HarnessError(f"{path}:{n}: label must be one of {kinds}, not {lab.label!r}")
            if not lab.reason.strip():
                raise HarnessError(f"{path}:{n}: a label needs a reason")
            problem = fault(lab) if fault is not None else None
            if problem is not None:
                raise HarnessError(f"{path}:{n}: {problem}")
            if lab.key in labels:
                raise HarnessError(f"{path}:{n}: duplicate label for {lab.key}")
            labels[lab.key] = lab
    return labels


def _label(obj: dict) -> Label:
    return Label(file=obj["file"], part=str(obj["part"]), where=obj["where"], url=obj["url"],
                 label=obj["label"], reason=obj["reason"], vendor=obj.get("vendor"))


def load_labels(path: Path) -> dict[tuple[str, str], Label]:
    return read_labels(path, _label, LABELS)


# --- evaluation -------------------------------------------------------------------------------

@dataclass
class Judged:
    occ: Occurrence
    count: int  # occurrences of this key in its part
    flagged: int  # findings for this key
    invisible: int  # occurrences that cannot show anything (tiny, or never shown)
    rules: list[str]
    vendors: list[str]
    label: Label | None


@dataclass
class Report:
    files: int = 0
    errors: list[str] = field(default_factory=list)  # messages clean_message could not clean
    judged: list[Judged] = field(default_factory=list)
    unlabelled: list[Judged] = field(default_factory=list)
    stale_labels: list[Label] = field(default_factory=list)
    extraction_gaps: list[tuple[str, str]] = field(default_factory=list)

    def of(self, label: str) -> list[Judged]:
        return [j for j in self.judged if j.label is not None and j.label.label == label]

    @property
    def trackers(self) -> list[Judged]:
        return self.of("tracker")

    @property
    def caught(self) -> list[Judged]:
        return [j for j in self.trackers if j.flagged >= j.count]

    @property
    def misses(self) -> list[Judged]:
        return [j for j in self.trackers if j.flagged < j.count]

    @property
    def recall(self) -> float:
        return len(self.caught) / len(self.trackers) if self.trackers else 1.0

    @property
    def content_images(self) -> list[Judged]:
        return [j for j in self.of("content") if j.occ.kind in IMAGE_KINDS]

    @property
    def content_removed(self) -> list[Judged]:
        # removing a 1x1 copy of an image that is also shown full size breaks nothing
        return [j for j in self.content_images if j.flagged > j.invisible]

    @property
    def other_content_removed(self) -> list[Judged]:
        return [j for j in self.of("content") if j.occ.kind not in IMAGE_KINDS and j.flagged]

    @property
    def per_300(self) -> float:
        n = len(self.content_images)
        return 300.0 * len(self.content_removed) / n if n else 0.0


def _gap(file: str, part: str, url: str) -> Occurrence:
    return Occurrence(file=file, part=part, where=GAP_WHERE, url=url, kind="unextracted",
                      width="", height="", tiny=None, hidden=None, shape=open_shape(url), listed=None)


def message_resources(rel: str, raw: bytes) -> list[Occurrence]:
    """Every remote resource of one message: extracted ones, then extraction gaps."""
    occs: list[Occurrence] = []
    for part, text, base in html_parts(raw):
        part_occs = part_resources(rel, part, text, base)
        occs.extend(part_occs)
        known = {o.url for o in part_occs}
        for url in sorted(crude_urls(text)):
            # a crude match cut short (commas in srcset URLs) is a prefix of a known URL
            if url not in known and not any(k.startswith(url) for k in known):
                occs.append(_gap(rel, part, url))
    return occs


def evaluate(corpus: Path, labels: dict[tuple[str, str], Label]) -> Report:
    report = Report()
    cfg = Config()
    seen_keys: set[tuple[str, str]] = set()
    for rel in corpus_files(corpus):
        raw = (corpus / rel).read_bytes()
        report.files += 1
        result = clean_message(raw, policy_for(cfg, None, raw))
        if result.error:
            report.errors.append(f"{rel}: {result.error}")
        occs = message_resources(rel, raw)
        report.extraction_gaps.extend((rel, o.url) for o in occs if o.kind == "unextracted")
        counts = Counter(o.key for o in occs if o.kind != "unextracted")
        invisible = Counter(o.key for o in occs if o.tiny or (o.hidden or "").startswith("never"))
        first: dict[tuple[str, str], Occurrence] = {}
        for o in occs:
            first.setdefault(o.key, o)
        hits: dict[tuple[str, str], list] = defaultdict(list)
        for f in result.findings:
            key = (rel, f.url)
            if key not in counts:
                raise HarnessError(f"{rel}: finding outside the extracted universe: "
                                   f"{f.part} {f.where} {f.url}")
            hits[key].append(f)
        for key, o in first.items():
            fs = hits.get(key, [])
            j = Judged(o, max(counts[key], 1), len(fs), invisible[key], [f.rule for f in fs],
                       sorted({f.vendor for f in fs if f.vendor}), labels.get(key))
            seen_keys.add(key)
            (report.judged if j.label is not None else report.unlabelled).append(j)
    report.stale_labels = [lab for k, lab in labels.items() if k not in seen_keys]
    return report


# --- why a tracker was missed -----------------------------------------------------------------

def miss_cause(j: Judged) -> str:
    """A short, mechanical description of why the detector let a labelled tracker through."""
    o = j.occ
    if o.kind == "unextracted":
        return "not extracted: vector missed by pixelguard's HTML scan"
    if j.flagged:
        return f"only {j.flagged} of {j.count} occurrences removed"
    if o.listed and "host-only" in o.listed:
        return "host-only list entry without support (visible, sized)"
    if o.hidden and o.hidden.startswith("revealable"):
        return "hidden but revealable by a stylesheet rule"
    if o.tiny:
        return "tiny but treated as a layout spacer"
    if o.shape:
        return "tracking-shaped URL on a visible/sized element"
    if not o.width and not o.height:
        return "unsized, unlisted, no tracking shape"
    return "sized like content, unlisted, no tracking shape"


# --- output -----------------------------------------------------------------------------------

def _short(url: str, n: int = 100) -> str:
    return url if len(url) <= n else url[: n - 3] + "..."


def summary(report: Report) -> dict:
    per_rule: dict[str, Counter] = defaultdict(Counter)
    for j in report.judged + report.unlabelled:
        for rule in set(j.rules):
            per_rule[rule][j.label.label if j.label else "unlabelled"] += 1
    per_vendor: dict[str, Counter] = defaultdict(Counter)
    for j in report.trackers:
        vendor = (j.label.vendor if j.label else None) or "(no vendor)"
        per_vendor[vendor]["trackers"] += 1
        per_vendor[vendor]["caught"] += j.flagged >= j.count
    for j in report.judged:
        for v in j.vendors:
            per_vendor[v]["named_by_detector"] += 1
    causes = Counter(miss_cause(j) for j in report.misses)
    return {
        "files": report.files,
        "resources": len(report.judged) + len(report.unlabelled),
        "labelled": {lab: len(report.of(lab)) for lab in LABELS},
        "unlabelled": len(report.unlabelled),
        "stale_labels": len(report.stale_labels),
        "trackers": len(report.trackers),
        "trackers_caught": len(report.caught),
        "recall": round(report.recall, 4),
        "content_images": len(report.content_images),
        "content_images_removed": len(report.content_removed),
        "content_removed_per_300": round(report.per_300, 3),
        "other_content_removed": len(report.other_content_removed),
        "unsure_removed": sum(1 for j in report.of("unsure") if j.flagged),
        "per_rule": {k: dict(v) for k, v in sorted(per_rule.items())},
        "per_vendor": {k: dict(v) for k, v in sorted(per_vendor.items())},
        "miss_causes": dict(causes.most_common()),
        "misses": [_describe(j, miss_cause(j)) for j in report.misses],
        "false_positives": [_describe(j, ",".join(sorted(set(j.rules))))
                            for j in report.content_removed + report.other_content_removed],
        "clean_errors": report.errors,
        "extraction_gaps": len(report.extraction_gaps),
    }


def _describe(j: Judged, why: str) -> dict:
    return {"file": j.occ.file, "part": j.occ.part, "where": j.occ.where, "url": j.occ.url,
            "label_reason": j.label.reason if j.label else "", "why": why}


def print_report(report: Report, s: dict, out=sys.stdout) -> None:
    p = lambda *a: print(*a, file=out)
    p(f"files: {s['files']}   remote resources: {s['resources']}   "
      f"labelled: {s['labelled']}   unlabelled: {s['unlabelled']}   stale labels: {s['stale_labels']}")
    p(f"tracker recall: {s['trackers_caught']}/{s['trackers']} = {s['recall']:.4f}")
    p(f"content images removed: {s['content_images_removed']} of {s['content_images']} "
      f"({s['content_removed_per_300']:.2f} per 300)   other content removed: "
      f"{s['other_content_removed']}   unsure removed: {s['unsure_removed']}")
    p("\nper rule (distinct resources it fired on, by label):")
    for rule, c in s["per_rule"].items():
        p(f"  {rule:<15} " + "  ".join(f"{k}={v}" for k, v in sorted(c.items())))
    p("\nper vendor (labelled trackers caught / total; detector attributions):")
    for vendor, c in s["per_vendor"].items():
        line = f"  {vendor:<28}"
        if c.get("trackers"):
            line += f" {c.get('caught', 0)}/{c['trackers']}"
        if c.get("named_by_detector"):
            line += f"   named {c['named_by_detector']}x"
        p(line)
    p("\nmisses by cause:")
    for cause, n in s["miss_causes"].items():
        p(f"  {n:>3}  {cause}")
    p(f"\nmisses ({len(s['misses'])}):")
    for m in s["misses"]:
        p(f"  {m['file']} [{m['part']}] {m['where']} {_short(m['url'])}\n"
          f"      label: {m['label_reason']}\n      missed: {m['why']}")
    p(f"\nfalse positives ({len(s['false_positives'])}):")
    for m in s["false_positives"]:
        p(f"  {m['file']} [{m['part']}] {m['where']} {_short(m['url'])}\n"
          f"      label: {m['label_reason']}\n      removed by: {m['why']}")
    if report.unlabelled:
        p(f"\nunlabelled resources ({len(report.unlabelled)}, first 20):")
        for j in report.unlabelled[:20]:
            p(f"  {j.occ.file} [{j.occ.part}] {j.occ.where} {_short(j.occ.url)}")
    if report.stale_labels:
        p(f"\nlabels matching no resource ({len(report.stale_labels)}, first 20):")
        for lab in report.stale_labels[:20]:
            p(f"  {lab.file} [{lab.part}] {lab.where} {_short(lab.url)}")
    if report.errors:
        p(f"\nmessages not cleaned ({len(report.errors)}):")
        for e in report.errors:
            p(f"  {e}")
    if report.extraction_gaps:
        p(f"\nextraction gaps: {len(report.extraction_gaps)} URL(s) a crude regex sees in a loading "
          "position that the extractor does not (first 20):")
        for rel, url in report.extraction_gaps[:20]:
            p(f"  {rel} {_short(url)}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS, help="directory of messages")
    ap.add_argument("--labels", type=Path, default=DEFAULT_LABELS, help="labels (JSON lines)")
    ap.add_argument("--json", action="store_true", help="print the summary as JSON")
    ap.add_argument("--min-recall", type=float, help="exit 1 if tracker recall is below this")
    ap.add_argument("--max-fp", type=int, help="exit 1 if more content images than this are removed")
    ap.add_argument("--max-fp-per-300", type=float,
                    help="exit 1 if more content images per 300 than this are removed")
    ap.add_argument("--require-complete", action="store_true",
                    help="exit 2 if a resource is unlabelled or a label matches nothing")
    args = ap.parse_args(argv)
    try:
        labels = load_labels(args.labels)
        report = evaluate(args.corpus, labels)
    except HarnessError as exc:
        print(f"eval_detection: {exc}", file=sys.stderr)
        return 2
    s = summary(report)
    if args.json:
        print(json.dumps(s, indent=1, ensure_ascii=False))
    else:
        print_report(report, s)
    if args.require_complete and (report.unlabelled or report.stale_labels):
        print(f"eval_detection: {len(report.unlabelled)} unlabelled resource(s), "
              f"{len(report.stale_labels)} stale label(s)", file=sys.stderr)
        return 2
    failed = []
    if args.min_recall is not None and report.recall < args.min_recall:
        failed.append(f"tracker recall {report.recall:.4f} < {args.min_recall}")
    if args.max_fp is not None and len(report.content_removed) > args.max_fp:
        failed.append(f"{len(report.content_removed)} content images removed > {args.max_fp}")
    if args.max_fp_per_300 is not None and report.per_300 > args.max_fp_per_300:
        failed.append(f"{report.per_300:.2f} content images removed per 300 > {args.max_fp_per_300}")
    for f in failed:
        print(f"eval_detection: quality floor not met: {f}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
