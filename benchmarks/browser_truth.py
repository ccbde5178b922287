"""Browser-truth numbers for docs/FIDELITY.md: what Chromium requests for the vector cases and
the fixtures of tests/browser, before and after cleaning, with both actions. Not a test (the
tests assert; this counts): run by hand.

    .venv/bin/python benchmarks/browser_truth.py
"""
from __future__ import annotations

import sys
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests" / "browser"), str(ROOT / "tests")]

from cases import CASES, CONTENT_CASES
from engine import Engine, remote
from support import BOB, FIXTURES

from pixelguard import Policy, clean_message


def _under(url: str, domain: str) -> bool:
    host = urllib.parse.urlsplit(url).hostname or ""
    return host == domain or host.endswith("." + domain)


def main() -> int:
    rows = []
    with Engine() as engine:
        for label, cases in (("vector cases", CASES), ("content cases", CONTENT_CASES)):
            before = {n: remote(engine.requests(raw)) for n, raw in cases.items()}
            row = {"set": label, "messages": len(cases),
                   "tracker requests": sum(sum(_under(u, "tracker.test") for u in r)
                                           for r in before.values()),
                   "content requests": sum(sum(_under(u, "content.test") for u in r)
                                           for r in before.values())}
            for action in ("strip", "rewrite"):
                after = {n: remote(engine.requests(
                    clean_message(raw, Policy(recipients=(BOB,), action=action)).raw))
                    for n, raw in cases.items()}
                row[f"trackers after {action}"] = sum(
                    sum(_under(u, "tracker.test") for u in r) for r in after.values())
                row[f"content kept ({action})"] = sum(
                    len({u for u in before[n] if _under(u, "content.test")} & after[n])
                    for n in cases)
            rows.append(row)
        files = sorted(FIXTURES.glob("*.eml")) + [FIXTURES / "bare-document.html"]
        fixture = {"set": "fixtures", "messages": len(files), "tracker requests": 0,
                   "content requests": 0}
        for action in ("strip", "rewrite"):
            left = kept = 0
            for path in files:
                raw = path.read_bytes()
                result = clean_message(raw, Policy(recipients=(BOB,), action=action))
                removed = {f.url.split(":", 1)[1] for f in result.findings}
                before = {u.split(":", 1)[1] for u in remote(engine.requests(raw))}
                after = {u.split(":", 1)[1] for u in remote(engine.requests(result.raw))}
                if action == "strip":
                    fixture["tracker requests"] += len(before & removed)
                    fixture["content requests"] += len(before - removed)
                left += len(after & removed)
                kept += len((before - removed) & after)
            fixture[f"trackers after {action}"] = left
            fixture[f"content kept ({action})"] = kept
        rows.append(fixture)
    keys = list(rows[0])
    print("| " + " | ".join(keys) + " |")
    print("|" + "---|" * len(keys))
    for row in rows:
        print("| " + " | ".join(str(row[k]) for k in keys) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
