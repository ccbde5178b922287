#!/usr/bin/env python3
"""Click-tracking link edits on a labelled corpus: unwrapped, stripped, marked, never broken.

    python benchmarks/eval_links.py [--corpus DIR] [--labels FILE] [--json]
    python benchmarks/eval_links.py --candidates [--corpus DIR] [--labels FILE]

Every corpus file is cleaned through `clean_message` with all link options on
(`LinkOptions(unwrap=True, strip_params=True, mark=True)`), the notice off (its own links would
shift positions) and otherwise the policy `pixelguard scan` would use. The links of each HTML
part (`href` of `<a>` and `<area>`, in document order, as html5lib -- a spec HTML parser, not
pixelguard's scanner -- reads them) are paired by position between input and output.

Labels (benchmarks/labels/links.jsonl), one JSON object per link:
    {"file", "part", "index", "href", "label", "reason", "destination"?, "params_to_strip"?,
     "vendor"?, "wrapper"?}
keyed by (file, part, index); `href` is the input value (entities decoded) and must still be
there. label is one of
    destination-known    a redirector whose true target is in the URL (`destination`, decoded
                         by reading the link); `wrapper: "security"` marks a wrapper a company
                         put there on purpose (Safe Links, Symantec ClickTime), to stay as sent
    destination-unknown  a redirector whose target is not in the URL (it still reports a click)
    unsubscribe          an unsubscribe or preference link (often a redirector too)
    plain                a direct link, not a redirector (mailto: included)
`params_to_strip` lists the query parameters a careful reader says only identify the campaign
or the recipient (for destination-known links: those of the destination).

Acceptance (exit 1 when one fails): every unwrapped link equals its labelled destination (less
parameters the label says may be stripped), zero unsubscribe links changed, zero security
wrappers unwrapped, zero mailto:/tel:/fragment links changed, zero List-Unsubscribe(-Post)
header fields changed, zero invalid URLs produced.
Everything else (recall of unwrapping and marking, parameters stripped vs. labelled) is
reported. Exit 2: harness error (no corpus, malformed or stale labels, input and output parts
with a different number of links).

A changed href is valid when urllib.parse.urlsplit accepts it, its scheme is http(s) with a
host, its port (if any) parses, and every character is one RFC 3986 allows in a URI (unreserved,
reserved, or "%" with two hex digits). No RFC 3986 validator is a dependency of the project, so
this is that documented check.

--candidates prints every link that has no label yet, with its text and what a reader may
decode from it (a query parameter or path segment that is an http(s) URL, plain or base64), as
a starting point for labelling by hand; it decides nothing.
"""
from __future__ import annotations

import argparse
import base64
import binascii
import dataclasses
import json
import re
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from eval_detection import DEFAULT_CORPUS, HarnessError, corpus_files, html_parts, read_labels

from pixelguard import clean_message
from pixelguard.cli_filter import policy_for
from pixelguard.config import Config

DEFAULT_LABELS = ROOT / "benchmarks" / "labels" / "links.jsonl"
LABELS = ("destination-known", "destination-unknown", "unsubscribe", "plain")
NEVER_TOUCH = re.compile(r"(?i)\s*(mailto:|tel:|sms:|#)")


@dataclass(frozen=True)
class Link:
    file: str
    part: str
    index: int
    href: str
    title: str | None
    text: str
    quoted: bool = False  # inside a quoted reply or forward

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.file, self.part, self.index)


@dataclass
class Label:
    file: str
    part: str
    index: int
    href: str
    label: str
    reason: str
    destination: str | None = None
    params_to_strip: tuple[str, ...] = ()
    vendor: str | None = None
    wrapper: str | None = None

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.file, self.part, self.index)


# --- links ------------------------------------------------------------------------------------

def part_links(file: str, part: str, text: str) -> list[Link]:
    """The `<a href>` / `<area href>` of one HTML part in document order, as a browser reads them."""
    import html5lib  # the spec parser (test extra): what a browser would see, not our scanner

    out: list[Link] = []

    def walk(el, quoted: bool) -> None:
        if not isinstance(el.tag, str):
            return  # a comment
        quoted = quoted or _quote_container(el)
        if el.tag in ("a", "area") and el.get("href") is not None:
            words = " ".join("".join(el.itertext()).split())
            if not words:
                words = " ".join(img.get("alt") or "" for img in el.iter("img")).strip()
            out.append(Link(file, part, len(out), el.get("href"), el.get("title"), words[:120],
                            quoted))
        for child in el:
            walk(child, quoted)

    walk(html5lib.parse(text, namespaceHTMLElements=False), False)
    return out


_QUOTE_CLASSES = {"gmail_quote", "gmail_quote_container", "yahoo_quoted", "moz-cite-prefix"}


def _quote_container(el) -> bool:
    """A quoted reply or forward as mail clients mark it (only to explain an edit not made)."""
    if el.tag == "blockquote" and (el.get("type") or "").lower() == "cite":
        return True
    classes = set((el.get("class") or "").lower().split())
    return bool(classes & _QUOTE_CLASSES) or (el.get("id") or "").lower() == "divrplyfwdmsg"


def message_links(rel: str, raw: bytes) -> dict[str, list[Link]]:
    return {part: part_links(rel, part, text) for part, text, _ in html_parts(raw)}


def list_unsubscribe(raw: bytes) -> list[bytes]:
    """The List-Unsubscribe header fields of a message, as raw bytes (empty for bare HTML)."""
    head = re.split(rb"\r?\n\r?\n", raw, maxsplit=1)[0]
    return re.findall(rb"(?im)^list-unsubscribe(?:-post)?[ \t]*:.*(?:\r?\n[ \t].*)*", head)


def links_policy(raw: bytes):
    """The policy `pixelguard scan` uses, with every link option on and no notice."""
    from pixelguard.model import LinkOptions

    base = policy_for(Config(), None, raw)
    return dataclasses.replace(
        base, notice=False, links=LinkOptions(unwrap=True, strip_params=True, mark=True))


# --- URL checks -------------------------------------------------------------------------------

_URI_CHARS = re.compile(r"(?:[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=]|%[0-9A-Fa-f]{2})*")


def invalid_reason(url: str) -> str | None:
    """Why `url` is not a valid absolute http(s) URI (the documented check above), or None."""
    if not _URI_CHARS.fullmatch(url):
        bad = [c for c in url if not _URI_CHARS.fullmatch(c) and c != "%"]
        return f"character {bad[0]!r} not allowed in a URI" if bad else "a bad %-escape"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 -- raises on a bad port
    except ValueError as exc:
        return f"urlsplit: {exc}"
    if parts.scheme.lower() not in ("http", "https"):
        return f"scheme {parts.scheme!r} is not http(s)"
    if not parts.hostname:
        return "no host"
    return None


def query_names(url: str) -> list[str]:
    return [k for k, _ in parse_qsl(urlsplit(url).query, keep_blank_values=True)]


def without_params(url: str, names) -> str:
    """`url` with the query parameters in `names` removed (textually, the rest kept as written)."""
    parts = urlsplit(url)
    if not parts.query:
        return url
    kept = [p for p in parts.query.split("&") if unquote(p.split("=", 1)[0]) not in set(names)]
    return parts._replace(query="&".join(kept)).geturl()


def same_but_stripped(before: str, after: str, allowed) -> bool:
    """True when `after` is `before` with some query parameters removed (any of them when
    `allowed` is None, else only names in `allowed`)."""
    removed = set(query_names(before)) - set(query_names(after))
    if allowed is not None and not removed <= set(allowed):
        return False
    return without_params(before, removed) == after or \
        without_params(before, removed).rstrip("?") == after.rstrip("?")


def stripped_names(before: str, after: str) -> set[str]:
    return set(query_names(before)) - set(query_names(after))


# --- labels -----------------------------------------------------------------------------------

def _label(obj: dict) -> Label:
    return Label(file=obj["file"], part=str(obj["part"]), index=int(obj["index"]),
                 href=obj["href"], label=obj["label"], reason=obj["reason"],
                 destination=obj.get("destination"),
                 params_to_strip=tuple(obj.get("params_to_strip") or ()),
                 vendor=obj.get("vendor"), wrapper=obj.get("wrapper"))


def _destination_fault(lab: Label) -> str | None:
    if (lab.label == "destination-known") != bool(lab.destination):
        return "a destination goes with destination-known, and only there"
    return None


def load_labels(path: Path) -> dict[tuple[str, str, int], Label]:
    return read_labels(path, _label, LABELS, _destination_fault)


# --- evaluation -------------------------------------------------------------------------------

@dataclass
class Pair:
    label: Label
    before: Link
    after: Link

    @property
    def changed(self) -> bool:
        return self.before.href != self.after.href

    @property
    def marked(self) -> bool:
        return self.after.title is not None and self.after.title != self.before.title


@dataclass
class Report:
    files: int = 0
    links: int = 0
    errors: list[str] = field(default_factory=list)
    pairs: list[Pair] = field(default_factory=list)
    # every changed href in the corpus, labelled or not, with why it is invalid
    invalid: list[tuple[str, str, str]] = field(default_factory=list)
    changed_unlabelled: int = 0
    never_touch_changed: list[tuple[Link, Link]] = field(default_factory=list)
    list_unsubscribe: int = 0  # messages with a List-Unsubscribe header
    list_unsubscribe_changed: list[str] = field(default_factory=list)

    def of(self, label: str) -> list[Pair]:
        return [p for p in self.pairs if p.label.label == label]

    # destination-known, less security wrappers
    @property
    def unwrappable(self) -> list[Pair]:
        return [p for p in self.of("destination-known") if p.label.wrapper != "security"]

    @property
    def unwrapped(self) -> list[Pair]:
        """Links whose host changed or that now equal the destination: an unwrap was made."""
        return [p for p in self.unwrappable if p.changed and not _stripped_only(p)]

    @property
    def unwrapped_right(self) -> list[Pair]:
        return [p for p in self.unwrapped if _equals_destination(p)]

    @property
    def unwrapped_wrong(self) -> list[Pair]:
        return [p for p in self.unwrapped if not _equals_destination(p)]

    @property
    def not_unwrapped(self) -> list[Pair]:
        return [p for p in self.unwrappable if p not in self.unwrapped]

    @property
    def security_unwrapped(self) -> list[Pair]:
        return [p for p in self.of("destination-known") if p.label.wrapper == "security"
                and p.changed]

    @property
    def unknown_marked(self) -> list[Pair]:
        return [p for p in self.of("destination-unknown") if p.marked]

    @property
    def unknown_changed(self) -> list[Pair]:
        return [p for p in self.of("destination-unknown") if p.changed]

    @property
    def unsubscribe_changed(self) -> list[Pair]:
        return [p for p in self.of("unsubscribe") if p.changed]

    @property
    def unsubscribe_marked(self) -> list[Pair]:
        return [p for p in self.of("unsubscribe") if p.marked]

    @property
    def plain_changed_otherwise(self) -> list[Pair]:
        return [p for p in self.of("plain")
                if p.changed and not same_but_stripped(p.before.href, p.after.href, None)]

    @property
    def plain_marked(self) -> list[Pair]:
        return [p for p in self.of("plain") if p.marked]


def _stripped_only(p: Pair) -> bool:
    return same_but_stripped(p.before.href, p.after.href, None)


def _equals_destination(p: Pair) -> bool:
    dest = p.label.destination or ""
    return p.after.href == dest or same_but_stripped(dest, p.after.href, p.label.params_to_strip)


def evaluate(corpus: Path, labels: dict[tuple[str, str, int], Label]) -> Report:
    report = Report()
    seen: set[tuple[str, str, int]] = set()
    for rel in corpus_files(corpus):
        raw = (corpus / rel).read_bytes()
        report.files += 1
        result = clean_message(raw, links_policy(raw))
        if result.error:
            report.errors.append(f"{rel}: {result.error}")
        before = message_links(rel, raw)
        after = message_links(rel, result.raw)
        sent = list_unsubscribe(raw)
        if sent:
            report.list_unsubscribe += 1
            if list_unsubscribe(result.raw) != sent:
                report.list_unsubscribe_changed.append(rel)
        for part, links in before.items():
            out = after.get(part, [])
            if len(out) != len(links):
                raise HarnessError(f"{rel} part {part}: {len(links)} links in, {len(out)} out")
            report.links += len(links)
            for b, a in zip(links, out):
                if b.href != a.href:
                    why = invalid_reason(a.href)
                    if why:
                        report.invalid.append((f"{rel} {part}#{b.index}", a.href, why))
                    if NEVER_TOUCH.match(b.href):
                        report.never_touch_changed.append((b, a))
                lab = labels.get(b.key)
                if lab is None:
                    report.changed_unlabelled += b.href != a.href
                    continue
                if lab.href != b.href:
                    raise HarnessError(f"stale label {b.key}: labelled href {lab.href!r} "
                                       f"but the corpus has {b.href!r}")
                seen.add(b.key)
                report.pairs.append(Pair(lab, b, a))
    stale = [k for k in labels if k not in seen]
    if stale:
        raise HarnessError(f"{len(stale)} label(s) match no link, e.g. {stale[:3]}")
    return report


# --- output -----------------------------------------------------------------------------------

def _short(url: str, n: int = 110) -> str:
    return url if len(url) <= n else url[: n - 3] + "..."


def _where(p: Pair) -> str:
    return f"{p.label.file} {p.label.part}#{p.label.index}"


def not_unwrapped_cause(p: Pair) -> str:
    if p.changed:
        return "only parameters stripped"
    vendor = p.label.vendor or urlsplit(p.before.href).hostname
    if p.before.quoted:
        return f"inside a quoted reply or forward ({vendor})"
    return f"{'marked' if p.marked else 'left as sent'} ({vendor})"


def params_summary(report: Report) -> dict:
    """Parameters stripped vs. labelled, over every labelled link whose href changed."""
    stripped_right = Counter()
    over = Counter()  # stripped, not labelled
    under = Counter()  # labelled, not stripped
    for p in report.pairs:
        if p.label.label == "destination-known":
            if p not in report.unwrapped:
                continue
            ref = p.label.destination or ""
        else:
            ref = p.before.href
        gone = stripped_names(ref, p.after.href)
        labelled = set(p.label.params_to_strip) & set(query_names(ref))
        for name in gone & labelled:
            stripped_right[name] += 1
        for name in gone - labelled:
            over[name] += 1
        if p.label.label in ("plain", "destination-known"):
            for name in labelled - gone:
                under[name] += 1
    return {"stripped_as_labelled": dict(stripped_right.most_common()),
            "stripped_not_labelled": dict(over.most_common()),
            "labelled_not_stripped": dict(under.most_common())}


def summary(report: Report) -> dict:
    per_vendor: dict[str, Counter] = defaultdict(Counter)
    for p in report.pairs:
        v = per_vendor[p.label.vendor or "(none)"]
        v[p.label.label] += 1
        if p in report.unwrapped:
            v["unwrapped"] += 1
        if p.marked:
            v["marked"] += 1
        if p.changed and p.label.label in ("plain", "destination-unknown"):
            v["stripped"] += 1
    acceptance = {
        "unwrapped_not_equal_destination": len(report.unwrapped_wrong),
        "unsubscribe_changed": len(report.unsubscribe_changed),
        "security_wrappers_unwrapped": len(report.security_unwrapped),
        "never_touch_changed": len(report.never_touch_changed),
        "list_unsubscribe_changed": len(report.list_unsubscribe_changed),
        "invalid_urls": len(report.invalid),
    }
    return {
        "files": report.files,
        "links": report.links,
        "errors": report.errors,
        "labelled": {lab: len(report.of(lab)) for lab in LABELS},
        "security_wrappers": sum(p.label.wrapper == "security" for p in report.pairs),
        "unwrappable": len(report.unwrappable),
        "unwrapped": len(report.unwrapped),
        "unwrapped_equal_destination": len(report.unwrapped_right),
        "destination_known_not_unwrapped": len(report.not_unwrapped),
        "unwrap_recall": round(len(report.unwrapped) / len(report.unwrappable), 4)
        if report.unwrappable else None,
        "unknown_marked": len(report.unknown_marked),
        "unknown_changed": len(report.unknown_changed),
        "plain_changed_other_than_stripping": len(report.plain_changed_otherwise),
        "plain_marked": len(report.plain_marked),
        "unsubscribe_marked": len(report.unsubscribe_marked),
        "changed_unlabelled_links": report.changed_unlabelled,
        "messages_with_list_unsubscribe": report.list_unsubscribe,
        "params": params_summary(report),
        "per_vendor": {k: dict(v) for k, v in sorted(per_vendor.items())},
        "acceptance": acceptance,
        "mismatches": [{"where": _where(p), "href": p.before.href, "got": p.after.href,
                        "destination": p.label.destination} for p in report.unwrapped_wrong],
        "unsubscribe_changed": [{"where": _where(p), "href": p.before.href, "got": p.after.href}
                                for p in report.unsubscribe_changed],
        "security_unwrapped": [{"where": _where(p), "got": p.after.href}
                               for p in report.security_unwrapped],
        "never_touch_changed": [{"where": f"{b.file} {b.part}#{b.index}", "href": b.href,
                                 "got": a.href} for b, a in report.never_touch_changed],
        "invalid": [{"where": w, "url": u, "why": why} for w, u, why in report.invalid],
        "list_unsubscribe_changed": report.list_unsubscribe_changed,
        "not_unwrapped": [{"where": _where(p), "href": _short(p.before.href),
                           "cause": not_unwrapped_cause(p)} for p in report.not_unwrapped],
        "not_unwrapped_causes": dict(Counter(not_unwrapped_cause(p)
                                             for p in report.not_unwrapped).most_common()),
        "unknown_not_marked": [{"where": _where(p), "vendor": p.label.vendor,
                                "href": _short(p.before.href)}
                               for p in report.of("destination-unknown") if not p.marked],
        "plain_changed": [{"where": _where(p), "href": p.before.href, "got": p.after.href}
                          for p in report.plain_changed_otherwise],
        "unsubscribe_given_title": [{"where": _where(p), "href": _short(p.before.href),
                                "title": p.after.title} for p in report.unsubscribe_marked],
    }


def print_report(s: dict) -> None:
    print(f"{s['files']} files, {s['links']} links, "
          f"{sum(s['labelled'].values())} labelled: "
          + ", ".join(f"{k} {v}" for k, v in s["labelled"].items())
          + f" (of which {s['security_wrappers']} security wrappers)")
    for e in s["errors"]:
        print(f"  clean error: {e}")
    print(f"unwrapped {s['unwrapped']} of {s['unwrappable']} destination-known "
          f"(recall {s['unwrap_recall']}); equal to the label: {s['unwrapped_equal_destination']}")
    print(f"destination-unknown marked: {s['unknown_marked']} of "
          f"{s['labelled']['destination-unknown']}; href changed: {s['unknown_changed']}")
    print(f"plain links changed other than by stripping: "
          f"{s['plain_changed_other_than_stripping']}; plain links marked: {s['plain_marked']}")
    print(f"unsubscribe links given a title (href as sent): {s['unsubscribe_marked']}")
    print(f"unlabelled links changed: {s['changed_unlabelled_links']}; messages with "
          f"List-Unsubscribe: {s['messages_with_list_unsubscribe']}")
    print("parameters:", json.dumps(s["params"]))
    print("per vendor:")
    for vendor, counts in s["per_vendor"].items():
        print(f"  {vendor}: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    print("acceptance (each must be 0):")
    for k, v in s["acceptance"].items():
        print(f"  {k}: {v}{'' if v == 0 else '  <-- FAIL'}")
    print("not unwrapped:", json.dumps(s["not_unwrapped_causes"]))
    for key in ("mismatches", "unsubscribe_changed", "security_unwrapped", "never_touch_changed",
                "list_unsubscribe_changed", "invalid", "plain_changed", "unsubscribe_given_title", "not_unwrapped"):
        if s[key]:
            print(f"{key}:")
            for item in s[key]:
                print("  " + json.dumps(item, ensure_ascii=False))


# --- candidates for labelling -----------------------------------------------------------------

def _b64(seg: str) -> bytes:
    seg = seg.replace("-", "+").replace("_", "/")
    try:
        return base64.b64decode(seg + "=" * (-len(seg) % 4))
    except (binascii.Error, ValueError):
        return b""


def readable_targets(href: str) -> list[str]:
    """http(s) URLs a reader can see inside `href` (query values, path segments, base64)."""
    out = []
    parts = urlsplit(href.strip())
    for _, v in parse_qsl(parts.query, keep_blank_values=True):
        if re.match(r"(?i)https?://", v):
            out.append(v)
    for seg in parts.path.split("/"):
        for piece in [unquote(seg)] + [seg.split(".")[0]]:
            if re.match(r"(?i)\*?https?:", piece):
                out.append(piece.lstrip("*"))
            elif len(piece) > 16:
                m = re.search(rb"https?://[\x21-\x7e]+", _b64(piece))
                if m:
                    out.append(m.group(0).decode())
    star = href.find("*http")
    if star > 0:
        out.append(href[star + 1:])
    return list(dict.fromkeys(out))


def candidates(corpus: Path, labels: dict) -> None:
    for rel in corpus_files(corpus):
        raw = (corpus / rel).read_bytes()
        for part, links in message_links(rel, raw).items():
            for link in links:
                if link.key in labels:
                    continue
                print(json.dumps({"file": rel, "part": part, "index": link.index,
                                  "href": link.href, "text": link.text,
                                  "readable": readable_targets(link.href)}, ensure_ascii=False))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS, help="directory of messages")
    ap.add_argument("--labels", type=Path, default=DEFAULT_LABELS, help="labels (JSON lines)")
    ap.add_argument("--json", action="store_true", help="print the summary as JSON")
    ap.add_argument("--candidates", action="store_true",
                    help="list unlabelled links (JSON lines) for labelling by hand")
    args = ap.parse_args(argv)
    try:
        if args.candidates:
            labels = load_labels(args.labels) if args.labels.is_file() else {}
            candidates(args.corpus, labels)
            return 0
        report = evaluate(args.corpus, load_labels(args.labels))
    except HarnessError as exc:
        print(f"eval_links: {exc}", file=sys.stderr)
        return 2
    s = summary(report)
    if args.json:
        print(json.dumps(s, indent=1, ensure_ascii=False))
    else:
        print_report(s)
    failed = {k: v for k, v in s["acceptance"].items() if v}
    for k, v in failed.items():
        print(f"eval_links: acceptance failed: {k} = {v}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
