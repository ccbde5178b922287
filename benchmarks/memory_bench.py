"""Memory benchmark: peak RSS of `clean_message` on a ~25 MB message with large attachments,
and a check that the attachments come out byte-identical. Not a timed test: run by hand.

    .venv/bin/python benchmarks/memory_bench.py [--mb 25]

The message (generated into a temp dir, deleted afterwards): multipart/mixed with a 100 kB
quoted-printable newsletter (3 open pixels) + text alternative, and three base64 attachments
of random bytes. Each measurement runs in a fresh subprocess: peak RSS (VmHWM) after imports,
after reading the message, and after cleaning (the process peak); then, in a second process,
the Python-heap peak of the `clean_message` call alone with tracemalloc.
"""
from __future__ import annotations

import argparse
import email
import email.policy
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def build(target_mb: float, path: Path) -> int:
    from gen_newsletter import as_message, newsletter

    rng = random.Random(7)
    # base64 with CRLF every 76 chars: 4/3 * 78/76 ≈ 1.368 bytes per attachment byte
    budget = int(target_mb * 1e6 / 1.368) - 150_000
    sizes = [int(budget * 0.55), int(budget * 0.33)]
    sizes.append(budget - sum(sizes))
    names = ("annual-report.pdf", "photos.zip", "slides.pptx")
    atts = [(n, rng.randbytes(s)) for n, s in zip(names, sizes)]
    raw = as_message(newsletter(100_000, 3), attachments=atts)
    path.write_bytes(raw)
    return len(raw)


def peak_rss_mib() -> float:
    """This process image's peak RSS: VmHWM (unlike ru_maxrss, not inherited across fork+exec
    from the launching process), falling back to ru_maxrss off Linux."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _attachments(raw: bytes) -> list[tuple[str | None, bytes]]:
    msg = email.message_from_bytes(raw, policy=email.policy.compat32)
    return [(p.get_filename(), p.get_payload(decode=False).encode("ascii"))
            for p in msg.walk() if p.get_filename()]


def child(path: str, mode: str) -> None:
    """Runs in its own process; prints one JSON line."""
    from core_bench import SOURCE
    from gen_newsletter import RECIPIENT

    from pixelguard import Policy, clean_message

    pol = Policy(recipients=(RECIPIENT,))
    clean_message(b"<html><body><img src='https://x.example/o.gif' width=1 height=1>", pol)
    out = {"source": SOURCE, "rss_after_imports_mb": peak_rss_mib()}
    raw = Path(path).read_bytes()
    out["rss_after_read_mb"] = peak_rss_mib()
    if mode == "tracemalloc":
        import tracemalloc

        tracemalloc.start()
        t0 = time.perf_counter()
        res = clean_message(raw, pol)
        out["seconds_traced"] = time.perf_counter() - t0
        _cur, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        out["tracemalloc_peak_mb"] = peak / 1e6
    else:
        t0 = time.perf_counter()
        res = clean_message(raw, pol)
        out["seconds"] = time.perf_counter() - t0
        out["rss_peak_mb"] = peak_rss_mib()
        out["message_bytes"] = len(raw)
        out["output_bytes"] = len(res.raw)
        out["error"] = res.error
        out["findings"] = len(res.findings)
        before, after = _attachments(raw), _attachments(res.raw)
        out["attachments"] = len(before)
        out["attachments_identical"] = before == after and all(b in res.raw for _n, b in before)
    print(json.dumps(out))


def run_child(path: Path, mode: str, timeout: float) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--child", str(path), "--mode", mode],
                          check=False, capture_output=True, text=True, timeout=timeout, env=os.environ.copy())
    if proc.returncode != 0:
        raise SystemExit(f"child ({mode}) failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=float, default=25.0, help="message size in MB")
    ap.add_argument("--timeout", type=float, default=300.0)
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--mode", default="rss", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        if args.mode == "build":
            print(build(args.mb, Path(args.child)))
        else:
            child(args.child, args.mode)
        return 0
    with tempfile.TemporaryDirectory(prefix="pg-mem-") as tmp:
        path = Path(tmp) / "big.eml"
        # built in a subprocess too, so this process stays small
        size = int(subprocess.run([sys.executable, __file__, "--child", str(path), "--mode",
                                   "build", "--mb", str(args.mb)], check=True, text=True,
                                  capture_output=True, timeout=args.timeout).stdout)
        rss = run_child(path, "rss", args.timeout)
        tm = run_child(path, "tracemalloc", args.timeout)
    mb = size / 1e6
    assert rss["message_bytes"] == size
    peak = rss["rss_peak_mb"] * 1.048576  # MiB -> MB, to compare with the message in MB
    print(rss["source"])
    print(f"message: {mb:.1f} MB ({rss['attachments']} attachments); cleaned in "
          f"{rss['seconds']:.2f} s; {rss['findings']} findings; error={rss['error']}")
    print(f"RSS after imports {rss['rss_after_imports_mb']:.0f} MiB, after reading the message "
          f"{rss['rss_after_read_mb']:.0f} MiB, peak while cleaning {rss['rss_peak_mb']:.0f} MiB"
          f" = {peak / mb:.2f}x the message (target < 4x)")
    extra = (rss["rss_peak_mb"] - rss["rss_after_read_mb"]) * 1.048576
    print(f"cleaning added {extra:.0f} MB on top of interpreter + input = {extra / mb:.2f}x the "
          f"message; tracemalloc peak inside clean_message: {tm['tracemalloc_peak_mb']:.0f} MB"
          f" = {tm['tracemalloc_peak_mb'] / mb:.2f}x (input bytes not counted)")
    print(f"attachments byte-identical: {rss['attachments_identical']}")
    return 0 if rss["attachments_identical"] and rss["error"] is None else 1


if __name__ == "__main__":
    raise SystemExit(main())
