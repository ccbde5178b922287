"""`pixelguard imap`: clean existing IMAP folders, once, on a schedule or live (IDLE).

    pixelguard imap --config F [--once | --every 5m | --idle] [--dry-run]
                    [--account NAME] [--shard I/N] [--jobs N]

See docs/imap.md; the package's modules: pixelguard/imap/__init__.py.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import time
from collections.abc import Sequence

from pixelguard.config_file import add_required_config_option, require_config
from pixelguard.imap.connection import EXIT_OK, EXIT_TEMPFAIL, EXIT_USAGE

__all__ = ["main"]

log = logging.getLogger("pixelguard.imap")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="pixelguard imap",
        description="Remove tracking pixels from messages already in IMAP folders. Each cleaned "
        "message replaces its original only after the copy is confirmed on the server; the "
        "original goes to the account's originals folder (or is deleted, if configured).",
        epilog="exit codes: 0 done; 1 some messages or folders failed or were refused; "
        "2 usage or config error; 3 login, password source or TLS trust failed; "
        "75 server unreachable, or --once stopped early (try again later). See docs/imap.md.",
    )
    add_required_config_option(p, "config file with imap.accounts")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument(
        "--once", action="store_true", help="one pass over every folder, then exit (default)"
    )
    mode.add_argument(
        "--every", metavar="DURATION", help="a pass every DURATION (e.g. 5m), until stopped"
    )
    mode.add_argument(
        "--idle",
        action="store_true",
        help="stay connected and clean new mail as it arrives (IMAP IDLE)",
    )
    p.add_argument(
        "--full-check",
        metavar="DURATION",
        default="10m",
        help="with --idle: a full pass at least this often, in case a notification is missed "
        "(default 10m)",
    )
    p.add_argument(
        "--dry-run", action="store_true", help="report what would change; change nothing"
    )
    p.add_argument(
        "--account", metavar="NAME", action="append", help="only this account (repeatable)"
    )
    p.add_argument(
        "--shard",
        metavar="I/N",
        help="only the I-th of N stable shares of the accounts (1 <= I <= N)",
    )
    p.add_argument(
        "--jobs",
        metavar="N",
        type=int,
        default=1,
        help="accounts cleaned at the same time with --once/--every (default 1)",
    )
    p.add_argument(
        "-q", "--quiet", action="store_true", help="only warnings, errors and the summary"
    )
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return p


def _setup_logging(quiet: bool, verbose: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("pixelguard imap: %(message)s"))
    log.handlers[:] = [handler]
    log.propagate = False
    log.setLevel(logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO)


def main(argv: Sequence[str]) -> int:
    from pixelguard import gc_tuning
    from pixelguard.config import load_config_or_exit
    from pixelguard.display import count
    from pixelguard.imap.progress import Progress
    from pixelguard.imap.run import Options
    from pixelguard.imap.schedule import (
        exit_code,
        in_shard,
        parse_duration,
        parse_shard,
        run_every,
        run_idle,
        run_once,
    )

    parser = _parser()
    args = parser.parse_args(list(argv))
    _setup_logging(args.quiet, args.verbose)
    try:
        interval = parse_duration(args.every) if args.every else None
        full_check = parse_duration(args.full_check)
        shard = parse_shard(args.shard) if args.shard else None
    except ValueError as exc:
        parser.error(str(exc))
    if args.jobs < 1:
        parser.error("--jobs must be at least 1")
    path = require_config(args.config, parser, "the accounts to clean are in its imap.accounts")
    log.debug("config: %s", path)
    config = load_config_or_exit(path, warn=lambda message: log.warning("warning: %s", message))

    accounts = list(config.imap.accounts)
    if not accounts:
        print(f"pixelguard imap: {path}: no imap.accounts configured", file=sys.stderr)
        return EXIT_USAGE
    if args.account:
        known = {a.name for a in accounts}
        unknown = [n for n in args.account if n not in known]
        if unknown:
            print(
                f"pixelguard imap: no account named {', '.join(map(repr, unknown))} "
                f"in {path} (known: {', '.join(sorted(known))})",
                file=sys.stderr,
            )
            return EXIT_USAGE
        accounts = [a for a in accounts if a.name in args.account]
    if shard:
        accounts = [a for a in accounts if in_shard(a.name, *shard)]
        log.info(
            "shard %d/%d: %s: %s",
            shard[0],
            shard[1],
            count(len(accounts), "account"),
            ", ".join(a.name for a in accounts) or "none",
        )
        if not accounts:
            return EXIT_OK

    gc_tuning.for_many_messages()
    stop = threading.Event()
    opts = Options(dry_run=args.dry_run, stop=stop)
    started = time.monotonic()
    # SIGTERM/Ctrl-C: finish the batch in hand (a kill would be safe too, just untidy),
    # print the summary and exit.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    if args.idle:
        log.info(
            "watching %s with IDLE; stop with SIGTERM",
            count(sum(len(a.folders) for a in accounts), "folder"),
        )
        stats, failures = run_idle(accounts, config, opts, full_check, stop)
    elif interval is not None:
        stats, failures = run_every(accounts, config, opts, Progress(), interval, stop, args.jobs)
    else:
        stats, failures = run_once(accounts, config, opts, Progress(), args.jobs)
    stopped_early = stop.is_set() and interval is None and not args.idle
    if stopped_early:
        log.warning("stopped by a signal before the pass was complete; the next run continues")
    elapsed = time.monotonic() - started
    rate = f", {stats.scanned / elapsed:.0f} msg/s" if stats.scanned and elapsed > 0 else ""
    prefix = "dry run, nothing changed: " if args.dry_run else ""
    failed = len({id(f) for f in failures})
    print(
        f"pixelguard imap: {prefix}{count(len(accounts), 'account')}"
        + (f", {count(failed, 'failure')}" if failed else "")
        + f": {stats.line()} in {elapsed:.1f} s{rate}"
    )
    code = exit_code(failures, stats)
    return EXIT_TEMPFAIL if stopped_early and code == EXIT_OK else code
