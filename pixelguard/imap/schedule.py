"""When to run: once, every N minutes (with backoff after failures), or live with IMAP IDLE.

Accounts are independent: one account's failure never stops another's work. No state is
kept locally (only a lock file per account, see lock.py), so `--shard I/N` can split
accounts across machines with no coordination.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed

from imapclient.exceptions import IMAPClientError

from pixelguard.config import Config
from pixelguard.imap.connection import (
    EXIT_AUTH,
    EXIT_OK,
    EXIT_PARTIAL,
    EXIT_TEMPFAIL,
    EXIT_USAGE,
    AccountError,
    UnreachableError,
    connect,
)
from pixelguard.imap.progress import Progress, Stats
from pixelguard.imap.run import (
    AccountResult,
    FolderConflictError,
    Options,
    clean_account,
    clean_folder,
    originals_folder,
)
from pixelguard.imap.settings import ImapAccount
from pixelguard.imap.work import announced_new

log = logging.getLogger("pixelguard.imap")

IDLE_RENEW = 25 * 60  # re-issue IDLE before the 30-minute server timeout of RFC 2177
BACKOFF_START = 5.0

_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?")
_UNIT = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}


def parse_duration(text: str) -> float:
    """'90s', '5m', '1h', '2' (seconds) -> seconds. Raises ValueError."""
    m = _DURATION.fullmatch(text.strip().lower())
    if not m or float(m.group(1)) <= 0:
        raise ValueError(f"{text!r} is not a duration like 30s, 5m or 1h")
    return float(m.group(1)) * _UNIT[m.group(2)]


def parse_shard(text: str) -> tuple[int, int]:
    """'I/N' with 1 <= I <= N -> (I, N). Raises ValueError."""
    m = re.fullmatch(r"(\d+)/(\d+)", text.strip())
    if not m or not 1 <= int(m.group(1)) <= int(m.group(2)):
        raise ValueError(f"{text!r} is not a shard like 1/3 (I from 1 to N)")
    return int(m.group(1)), int(m.group(2))


def in_shard(name: str, index: int, count: int) -> bool:
    """Stable: the same account name lands in the same shard on every machine and run."""
    h = int.from_bytes(hashlib.sha256(name.encode("utf-8")).digest()[:8], "big")
    return h % count == index - 1


def exit_code(failures: Sequence[AccountError], stats: Stats) -> int:
    """The most actionable code: a person is needed (3, then 2: a config that does not fit
    the server) > partial (1) > try later (75) > 0."""
    codes = {f.exit_code for f in failures}
    if stats.errors:
        codes.add(EXIT_PARTIAL)
    for code in (EXIT_AUTH, EXIT_USAGE, EXIT_PARTIAL, EXIT_TEMPFAIL):
        if code in codes:
            return code
    return EXIT_OK


def _log_failures(result: AccountResult) -> None:
    for failure in result.failures:
        log.error("error: %s", failure)


def _clean_all(
    accounts: Sequence[ImapAccount], config: Config, opts: Options, progress: Progress, jobs: int
) -> Iterator[tuple[ImapAccount, AccountResult]]:
    """Clean each account; with jobs > 1, that many at once (threads: the work is mostly
    waiting for servers), each reporting in plain log lines."""
    if jobs <= 1 or len(accounts) <= 1:
        for account in accounts:
            if opts.stop.is_set():
                return
            yield account, clean_account(account, config, opts, progress)
        return
    with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="account") as pool:
        futures = {
            pool.submit(clean_account, a, config, opts, Progress(tty=False)): a for a in accounts
        }
        for future in as_completed(futures):
            yield futures[future], future.result()


def run_once(
    accounts: Sequence[ImapAccount],
    config: Config,
    opts: Options,
    progress: Progress,
    jobs: int = 1,
) -> tuple[Stats, list[AccountError]]:
    stats, failures = Stats(), []
    for _, result in _clean_all(accounts, config, opts, progress, jobs):
        _log_failures(result)
        stats.add(result.stats)
        failures += result.failures
    return stats, failures


def run_every(
    accounts: Sequence[ImapAccount],
    config: Config,
    opts: Options,
    progress: Progress,
    interval: float,
    stop: threading.Event,
    jobs: int = 1,
) -> tuple[Stats, list[AccountError]]:
    """Pass over every account each `interval`; an unreachable account is retried sooner,
    with exponential backoff capped at the interval. Returns when `stop` is set."""
    total = Stats()
    due = {a.name: 0.0 for a in accounts}
    backoff = {a.name: 0.0 for a in accounts}
    last_failures: dict[str, list[AccountError]] = {}
    while not stop.is_set():
        now = time.monotonic()
        ready = [a for a in accounts if due[a.name] <= now]
        for account, result in _clean_all(ready, config, opts, progress, jobs):
            _log_failures(result)
            total.add(result.stats)
            last_failures[account.name] = result.failures
            if any(isinstance(f, UnreachableError) for f in result.failures):
                backoff[account.name] = min(max(backoff[account.name] * 2, BACKOFF_START), interval)
                due[account.name] = time.monotonic() + backoff[account.name]
                log.info("%s: retrying in %.0f s", account.name, backoff[account.name])
            else:
                backoff[account.name] = 0.0
                due[account.name] = time.monotonic() + interval
        stop.wait(max(0.0, min(due.values()) - time.monotonic()) if due else interval)
    return total, [f for fs in last_failures.values() for f in fs]


def _idle_folder(
    account: ImapAccount,
    folder: str,
    config: Config,
    opts: Options,
    full_check: float,
    stop: threading.Event,
    totals: dict,
) -> None:
    """Keep one folder clean: a pass, then IDLE until news or the next full check; repeat.
    Reconnects with backoff when the connection is lost."""
    policy = config.policy_for(account.user)
    progress = Progress(tty=False)
    backoff = 0.0
    while not stop.is_set():
        try:
            session = connect(account)
        except AccountError as exc:
            log.error("error: %s", exc)
            backoff = min(max(backoff * 2, BACKOFF_START), full_check)
            if isinstance(exc, UnreachableError):
                stop.wait(backoff)
            else:
                stop.wait(full_check)
            continue
        c = session.client
        try:
            originals = originals_folder(session)
            can_idle = c.has_capability("IDLE")
            if not can_idle:
                log.warning(
                    "%s/%s: the server has no IDLE; checking every %.0f s instead",
                    account.name,
                    folder,
                    full_check,
                )
            while not stop.is_set():
                stats = clean_folder(
                    session, folder, policy, opts, progress, originals, config.auth
                )
                backoff = 0.0
                with totals["lock"]:
                    totals["stats"].add(stats)
                if not can_idle:
                    stop.wait(full_check)
                    continue
                if announced_new(c):
                    continue  # mail arrived while we worked: look again before idling
                _wait_for_news(c, min(full_check, IDLE_RENEW), stop)
        except FolderConflictError as exc:
            log.error("error: %s", exc)
            with totals["lock"]:
                totals["failures"].append(exc)
            return  # the config does not fit this server: watching cannot help
        except AccountError as exc:
            log.error("error: %s", exc)
            stop.wait(full_check)
        except (OSError, IMAPClientError) as exc:
            log.error("error: %s", session.error("connection lost", exc))
            backoff = min(max(backoff * 2, BACKOFF_START), full_check)
            stop.wait(backoff)
        except Exception as exc:  # broad: a watcher must outlive a surprise; state is safe
            log.debug("unexpected error", exc_info=True)
            log.error("error: %s", session.error("unexpected error, reconnecting", exc))
            backoff = min(max(backoff * 2, BACKOFF_START), full_check)
            stop.wait(backoff)
        finally:
            session.logout()


def _wait_for_news(client, timeout: float, stop: threading.Event) -> bool:
    """IDLE until the folder reports new messages, `timeout` passes or `stop` is set.
    Raises ConnectionError when the server says BYE or closes the connection."""
    client.idle()
    deadline = time.monotonic() + timeout
    # A server may announce mail that arrived just before IDLE ahead of its "+ idling"
    # continuation; imaplib files that EXISTS away while waiting for the "+", where
    # idle_check never sees it. Look there first, or the message waits for the full check.
    news = announced_new(client)
    try:
        while not news and not stop.is_set() and time.monotonic() < deadline:
            # Short checks so a stop request is noticed within a second.
            wait = min(1.0, max(0.0, deadline - time.monotonic()))
            started = time.monotonic()
            responses = client.idle_check(timeout=wait)
            for item in responses:
                if item and item[0] == b"BYE":
                    raise ConnectionError("the server ended the session (BYE)")
                if len(item) > 1 and item[1] in (b"EXISTS", b"RECENT"):
                    news = True
            if not responses and wait > 0.2 and time.monotonic() - started < wait / 2:
                # Readable but no response: imapclient swallows EOF in idle_check.
                raise ConnectionError("the server closed the connection")
            if news:
                break
    finally:
        client.idle_done()
    return news


def run_idle(
    accounts: Sequence[ImapAccount],
    config: Config,
    opts: Options,
    full_check: float,
    stop: threading.Event,
) -> tuple[Stats, list[AccountError]]:
    """One thread and connection per (account, folder), until `stop` is set."""
    totals = {"lock": threading.Lock(), "stats": Stats(), "failures": []}
    threads = [
        threading.Thread(
            target=_idle_folder,
            args=(account, folder, config, opts, full_check, stop, totals),
            name=f"idle {account.name}/{folder}",
            daemon=True,
        )
        for account in accounts
        for folder in account.folders
    ]
    for t in threads:
        t.start()
    for t in threads:
        while t.is_alive():
            t.join(timeout=1.0)
    return totals["stats"], totals["failures"]
