"""The pipe-filter commands: clean, scan, check-config."""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Sequence
from email.parser import BytesHeaderParser
from email.utils import getaddresses

from pixelguard import __version__, cache, clean_message
from pixelguard.model import Policy, Result

RECIPIENT_HEADERS = ("Delivered-To", "X-Original-To", "To")
CONFIG_HELP = "YAML config file (default: ~/.config/pixelguard.yaml if it exists)"


def _exit_status(text: str) -> int:
    if not text.isdigit() or not 0 <= int(text) <= 255:
        raise argparse.ArgumentTypeError(f"{text!r} is not an exit status (0 to 255)")
    return int(text)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="pixelguard",
        description="Remove tracking pixels and remote tracking CSS from HTML mail.",
    )
    p.add_argument("--version", action="version", version=f"pixelguard {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    c = sub.add_parser("clean", help="clean one message (file or stdin) and write it to stdout")
    c.add_argument("--config", metavar="F", help=CONFIG_HELP)
    c.add_argument("--user", metavar="ADDR", help="recipient whose policy applies")
    c.add_argument("--action", choices=("strip", "rewrite"), help="override the policy's action")
    c.add_argument("-v", "--verbose", action="store_true", help="list what was removed on stderr")
    c.add_argument("--unchanged-exit", type=_exit_status, default=0, metavar="N",
                   help="exit N instead of 0 when the message is written out unchanged, so a "
                        "delivery agent keeps its own copy (procmail: see docs/pipe.md)")
    c.add_argument("file", nargs="?", default="-", metavar="FILE", help="message file, or - for stdin")

    s = sub.add_parser("scan", help="list the trackers in messages without changing them")
    s.add_argument("--config", metavar="F", help=CONFIG_HELP)
    s.add_argument("--user", metavar="ADDR", help="recipient whose policy applies")
    s.add_argument("-v", "--verbose", action="store_true", help="say which config file applies")
    s.add_argument("--json", action="store_true",
                   help="one JSON object per message, one per line (no totals line)")
    s.add_argument("files", nargs="+", metavar="PATH",
                   help="a message file, a Maildir, an mbox file, a directory of messages, "
                   "or - for stdin")

    k = sub.add_parser("check-config", help="validate a config file, its password sources, and "
                       "show each user's policy and the relay and IMAP settings")
    k.add_argument("file", metavar="F", nargs="?",
                   help="config file (default: ~/.config/pixelguard.yaml)")
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
    from pixelguard.config_file import describe_source, find_config

    if args.command == "check-config":
        from pixelguard.check_config import check_config
        from pixelguard.config import load_config_or_exit

        path = find_config(args.file)
        return check_config(path, load_config_or_exit(path), sys.stdout)
    path = find_config(args.config)
    if args.verbose:
        print(f"pixelguard: {describe_source(path)}", file=sys.stderr)
    if path is None:  # the defaults without importing pydantic: clean starts once per message
        from pixelguard.defaults import DEFAULTS as cfg
    else:
        from pixelguard.config import load_config_or_exit

        cfg = load_config_or_exit(path)
    if args.command == "clean":
        return _clean(cfg, args)
    return _scan(cfg, args)


def recipient_of(raw: bytes) -> str | None:
    """Delivered-To, then X-Original-To, then To: the first address found."""
    try:
        headers = BytesHeaderParser().parsebytes(raw[:65536])  # policy: compat32
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
    from pixelguard import gc_tuning
    from pixelguard.trust import clean_with_trust  # DKIM/ARC only where they matter

    gc_tuning.for_one_message()
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
    # Written out in full either way: an agent that ignores the status still gets the mail.
    return args.unchanged_exit if out == raw else 0


def _scan(cfg, args) -> int:
    import io
    from pathlib import Path

    from pixelguard import gc_tuning
    from pixelguard.display import count
    from pixelguard.sources import Message, SourceError, messages

    gc_tuning.for_many_messages()
    status = 0
    scanned = with_trackers = trackers = errors = 0
    stdin = Message("-", lambda: io.BytesIO(sys.stdin.buffer.read()))
    for path in args.files:
        try:
            for msg in [stdin] if path == "-" else messages(Path(path)):
                try:
                    raw = msg.raw()
                except OSError as exc:  # removed or moved (new/ -> cur/) meanwhile
                    print(f"pixelguard: cannot read {msg.name}: {exc.strerror or exc}",
                          file=sys.stderr)
                    status = 2
                    continue
                policy = policy_for(cfg, args.user, raw)
                cache.default().load(policy)  # the lists it names: the core reads no file
                result = clean_message(raw, policy)
                scanned += 1
                errors += result.error is not None
                with_trackers += bool(result.findings)
                trackers += len(result.findings)
                if args.json:
                    _print_json(msg.name, raw, result)
                else:
                    _print_table(msg.name, result, sys.stdout, raw)
        except SourceError as exc:
            print(f"pixelguard: cannot read {exc}", file=sys.stderr)
            status = 2
        except OSError as exc:
            print(f"pixelguard: cannot read {path}: {exc.strerror or exc}", file=sys.stderr)
            status = 2
    if not args.json:
        print(f"{count(scanned, 'message')} scanned, {with_trackers} with trackers, "
              f"{count(trackers, 'tracker')}"
              + (f", {errors} not checked (unparseable)" if errors else ""))
    return status


def _print_json(name: str, raw: bytes, result: Result) -> None:
    from pixelguard.display import from_and_subject

    sender, subject = from_and_subject(raw)
    obj: dict = {"file": name, "from": sender, "subject": subject,
                 "trackers": [f.as_dict() for f in result.findings]}
    if result.links:  # link edits (config `links:`), only when some were made
        obj["links"] = [c.as_dict() for c in result.links]
    if result.error:
        obj["error"] = result.error
    print(json.dumps(obj, ensure_ascii=False))


def _print_table(path: str, result: Result, out, raw: bytes | None = None) -> None:
    """What was (or would be) removed from one message; From and Subject when `raw` is
    given, so a listing of many messages says which is which."""
    from pixelguard.display import count, from_and_subject, shorten_url

    if result.error:
        print(f"{path}: not checked: {result.error}", file=out)
    else:
        n = len(result.findings)
        print(f"{path}: {count(n, 'tracker') if n else 'no trackers'}", file=out)
    if raw is not None:
        sender, subject = from_and_subject(raw)
        print(f"  From: {sender or '(none)'}", file=out)
        print(f"  Subject: {subject or '(none)'}", file=out)
    for f in result.findings:
        print(f"  {f.rule:<15} {(f.vendor or '-'):<18} {f.where:<28} {shorten_url(f.url)}",
              file=out)
        print(f"  {'':<15} {f.reason}", file=out)
    for c in result.links:
        print(f"  link {c.action:<10} {(c.vendor or '-'):<18} {shorten_url(c.url)}"
              + (f" -> {shorten_url(c.new_url)}" if c.new_url else ""), file=out)
