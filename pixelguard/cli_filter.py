"""The pipe-filter commands: clean, scan, check-config."""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.utils import getaddresses
from typing import Sequence

from pixelguard import __version__, clean_message
from pixelguard.cli import load_config_or_exit
from pixelguard.model import Policy, Result

RECIPIENT_HEADERS = ("Delivered-To", "X-Original-To", "To")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="pixelguard",
        description="Remove tracking pixels and remote tracking CSS from HTML mail.",
    )
    p.add_argument("--version", action="version", version=f"pixelguard {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    c = sub.add_parser("clean", help="clean one message (file or stdin) and write it to stdout")
    c.add_argument("--config", metavar="F", help="YAML config file")
    c.add_argument("--user", metavar="ADDR", help="recipient whose policy applies")
    c.add_argument("--action", choices=("strip", "rewrite"), help="override the policy's action")
    c.add_argument("-v", "--verbose", action="store_true", help="list what was removed on stderr")
    c.add_argument("file", nargs="?", default="-", metavar="FILE", help="message file, or - for stdin")

    s = sub.add_parser("scan", help="list the trackers in messages without changing them")
    s.add_argument("--config", metavar="F", help="YAML config file")
    s.add_argument("--user", metavar="ADDR", help="recipient whose policy applies")
    s.add_argument("--json", action="store_true", help="one JSON object per file, one per line")
    s.add_argument("files", nargs="+", metavar="FILE")

    k = sub.add_parser("check-config", help="validate a config file and show each user's policy")
    k.add_argument("file", metavar="F")
    # Listed for --help only: cli.main hands these to their own modules before parsing.
    sub.add_parser("relay", help="SMTP/LMTP relay that cleans mail in flight (see relay --help)")
    sub.add_parser("imap", help="clean IMAP folders once, on a schedule or live (see imap --help)")
    sub.add_parser("report", help="who tracks you most, from cleaned mail (see report --help)")
    sub.add_parser("restore", help="put an IMAP original back in place of its cleaned copy")
    sub.add_parser("allow", help="add a host or sender to an allow list of the config file")
    return p


def main(argv: Sequence[str]) -> int:
    parser = build_parser()
    args = parser.parse_args(list(argv))
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    if args.command == "check-config":
        from pixelguard.config import describe_policies

        cfg = load_config_or_exit(args.file)
        print(describe_policies(cfg))
        return 0
    cfg = load_config_or_exit(args.config)
    if args.command == "clean":
        return _clean(cfg, args)
    return _scan(cfg, args)


def recipient_of(raw: bytes) -> str | None:
    """Delivered-To, then X-Original-To, then To: the first address found."""
    try:
        headers = BytesHeaderParser(policy=compat32).parsebytes(raw[:65536])
    except Exception:  # noqa: BLE001 - unparseable headers simply name no recipient
        return None
    for name in RECIPIENT_HEADERS:
        values = [str(v) for v in headers.get_all(name) or []]
        for _, addr in getaddresses(values):
            if "@" in addr:
                return addr.strip().lower()
    return None


def policy_for(cfg, user: str | None, raw: bytes, action: str | None = None) -> Policy:
    policy = cfg.policy_for(user or recipient_of(raw))
    if action:
        policy = dataclasses.replace(policy, action=action)
    return policy


def _read(path: str) -> bytes:
    if path == "-":
        return sys.stdin.buffer.read()
    with open(path, "rb") as fh:
        return fh.read()


def _clean(cfg, args) -> int:
    try:
        raw = _read(args.file)
    except OSError as exc:
        print(f"pixelguard: cannot read {args.file}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    from pixelguard.trust import clean_with_trust  # DKIM/ARC only where they matter

    out, result = clean_with_trust(raw, policy_for(cfg, args.user, raw, args.action), cfg.auth)
    if result.error:
        print(f"pixelguard: warning: {args.file}: passed through unchanged: {result.error}",
              file=sys.stderr)
    try:
        sys.stdout.buffer.write(out)
        sys.stdout.buffer.flush()
    except (OSError, AttributeError, ValueError) as exc:  # full disk, closed or missing stdout
        print(f"pixelguard: cannot write the message: {getattr(exc, 'strerror', None) or exc}",
              file=sys.stderr)
        return 75  # EX_TEMPFAIL: the MDA keeps the original and retries

    if args.verbose:
        _print_table(args.file, result, sys.stderr)
    return 0


def _scan(cfg, args) -> int:
    status = 0
    for path in args.files:
        try:
            raw = _read(path)
        except OSError as exc:
            print(f"pixelguard: cannot read {path}: {exc.strerror or exc}", file=sys.stderr)
            status = 2
            continue
        result = clean_message(raw, policy_for(cfg, args.user, raw))
        if args.json:
            obj: dict = {"file": path, "trackers": [f.as_dict() for f in result.findings]}
            if result.error:
                obj["error"] = result.error
            print(json.dumps(obj, ensure_ascii=False))
        else:
            _print_table(path, result, sys.stdout)
    return status


def _print_table(path: str, result: Result, out) -> None:
    if result.error:
        print(f"{path}: not cleaned: {result.error}", file=out)
        return
    n = len(result.findings)
    print(f"{path}: {n} tracker{'s' if n != 1 else ''}", file=out)
    for f in result.findings:
        url = f.url if len(f.url) <= 90 else f.url[:87] + "..."
        print(f"  {f.rule:<15} {(f.vendor or '-'):<18} {f.where:<24} {url}", file=out)
        print(f"  {'':<15} {f.reason}", file=out)
