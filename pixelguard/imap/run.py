"""One pass over one account: every configured folder, message batches through the core."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from imapclient.exceptions import IMAPClientAbortError, IMAPClientError

from pixelguard import clean_message
from pixelguard.config import Config, ImapAccount
from pixelguard.imap.connection import (
    AccountError,
    RefusedError,
    Session,
    UnreachableError,
    connect,
)
from pixelguard.imap.progress import Progress, Stats
from pixelguard.imap.replace import Pending, Replacer, copy_index, digest
from pixelguard.imap.work import (
    KEYWORD,
    META_BATCH,
    body_batches,
    chunks,
    describe,
    fetch_bodies,
    find_unmarked,
    forget_announced,
    mark,
)
from pixelguard.model import Policy

log = logging.getLogger("pixelguard.imap")


@dataclass
class Options:
    dry_run: bool = False
    report: Callable[[str], None] = print  # where dry-run lines go
    stop: threading.Event = field(default_factory=threading.Event)  # set: end after this batch


@dataclass
class AccountResult:
    stats: Stats = field(default_factory=Stats)
    failures: list[AccountError] = field(default_factory=list)


def originals_folder(session: Session) -> str:
    """The account's `originals` setting as this server names it ('delete' stays 'delete')."""
    name = session.account.originals
    return name if name == "delete" else server_folder_name(session, name)


def server_folder_name(session: Session, name: str) -> str:
    """A folder path ('a/b') as this server names it: its hierarchy delimiter, under its
    personal namespace prefix (e.g. 'INBOX.a.b' on Courier or Cyrus)."""
    c = session.client
    prefix, delim = "", "/"
    try:
        if c.has_capability("NAMESPACE"):
            personal = c.namespace().personal
            if personal:
                prefix, delim = personal[0][0] or "", personal[0][1] or "/"
        else:
            listing = c.list_folders("", "")
            delim = (listing[0][1] if listing else None) or "/"
    except IMAPClientAbortError:
        raise
    except IMAPClientError:
        pass
    if isinstance(delim, bytes):
        delim = delim.decode()
    if isinstance(prefix, bytes):
        prefix = prefix.decode()
    name = name.replace("/", delim)
    if prefix and not name.startswith(prefix):
        name = prefix + name
    return name


def _take_copy(index: dict[str, list[int]], d: str, uid: int) -> int | None:
    """A cleaned copy (its UID) of the original with digest `d` and UID `uid`, if one exists."""
    copies = index.get(d)
    if not copies:
        return None
    for i, copy_uid in enumerate(copies):
        if copy_uid > uid:  # a copy is always appended after its original
            return copies.pop(i)
    return None


def clean_folder(
    session: Session, folder: str, policy: Policy, opts: Options, progress: Progress, originals: str
) -> Stats:
    """Clean every message without the keyword in one folder; returns what was done."""
    c = session.client
    label = f"{session.account.name}/{folder}"
    try:
        info = c.select_folder(folder, readonly=opts.dry_run)
    except IMAPClientAbortError:
        raise
    except IMAPClientError as exc:
        raise AccountError(session.error(f"cannot open folder {folder!r}", exc)) from None
    forget_announced(c)
    uidvalidity = int(info[b"UIDVALIDITY"])
    if not opts.dry_run:
        if not info.get(b"READ-WRITE", True):
            raise RefusedError(session.error(f"folder {folder!r}", "it is read-only"))
        perm = {f.lower() for f in info.get(b"PERMANENTFLAGS", ())}
        if b"\\*" not in perm and KEYWORD.lower().encode() not in perm:
            raise RefusedError(
                session.error(
                    f"folder {folder!r}",
                    f"the server does not allow the {KEYWORD} keyword there; pixelguard "
                    "keeps its state in that keyword and refuses to work without it",
                )
            )
    uids = find_unmarked(c)
    log.debug(
        "%s: UIDVALIDITY %d, %d message(s) without %s", label, uidvalidity, len(uids), KEYWORD
    )
    if uids and not opts.dry_run and originals != "delete" and not c.folder_exists(originals):
        c.create_folder(originals)
        log.info("%s: created folder %r for originals", session.account.name, originals)
    progress.start(label, len(uids))
    if not uids:
        return progress.finish()
    replacer = Replacer(
        c,
        folder,
        uidvalidity,
        int(info.get(b"UIDNEXT", uids[-1] + 1)),
        originals,
        f"account {session.account.name!r}",
    )
    # Cleaned copies left behind by a crashed run (found by their digest header).
    index = copy_index(c, uids[0])
    for batch in chunks(uids, META_BATCH):
        if opts.stop.is_set():  # SIGTERM: leave between batches, every message whole
            break
        cands = describe(c, batch)
        no_html = [x.uid for x in cands if not x.html]
        if not opts.dry_run:
            mark(c, no_html)
        progress.update(Stats(scanned=len(no_html), marked=len(no_html)))
        for group in body_batches([x for x in cands if x.html]):
            if opts.stop.is_set():
                break
            delta = Stats(scanned=len(group))
            _clean_group(session, group, policy, opts, replacer, index, delta, label)
            progress.update(delta)
    return progress.finish()


def _clean_group(session, group, policy, opts, replacer, index, delta: Stats, label: str) -> None:
    c = session.client
    bodies = fetch_bodies(c, group)
    to_mark: list[int] = []
    pending: list[Pending] = []
    trackers: dict[int, int] = {}
    recovered: dict[int, bytes] = {}
    for cand in group:
        raw = bodies.get(cand.uid)
        if raw is None:  # expunged meanwhile
            delta.scanned -= 1
            continue
        d = digest(raw)
        copy_uid = _take_copy(index, d, cand.uid)
        if copy_uid is not None:
            recovered[cand.uid] = raw
            if opts.dry_run:
                opts.report(
                    f"{label} UID {cand.uid}: would retire the leftover original "
                    f"(its cleaned copy is UID {copy_uid})"
                )
            continue
        try:
            result = clean_message(raw, policy)
        except Exception as exc:  # noqa: BLE001 - the core promises not to raise; keep the message
            log.error("%s UID %d: left unchanged, the cleaner failed: %s", label, cand.uid, exc)
            delta.errors += 1
            continue
        if result.error is not None:
            log.warning(
                "%s UID %d: left unchanged (cannot parse: %s)", label, cand.uid, result.error
            )
            to_mark.append(cand.uid)
            continue
        if not result.findings:
            to_mark.append(cand.uid)
            continue
        if opts.dry_run:
            vendors = sorted({f.vendor for f in result.findings if f.vendor})
            opts.report(
                f"{label} UID {cand.uid}: would remove {len(result.findings)} tracker(s)"
                + (f" ({', '.join(vendors)})" if vendors else "")
                + ": "
                + ", ".join(f"{f.url} [{f.rule}]" for f in result.findings)
            )
            delta.cleaned += 1
            delta.trackers += len(result.findings)
            continue
        replacer.check_can_replace()
        pending.append(Pending(cand.uid, result.raw, d, cand.flags, cand.internaldate))
        trackers[cand.uid] = len(result.findings)
    delta.marked += len(to_mark)
    delta.recovered += len(recovered)
    if opts.dry_run:
        return
    mark(c, to_mark)
    try:
        appended, failed = replacer.append(pending)
    except IMAPClientAbortError:
        raise
    except IMAPClientError as exc:
        appended, failed = [], [(p.uid, str(exc)) for p in pending]
    for uid, reason in failed:
        log.error(
            "%s",
            session.error(
                f"{label} UID {uid}: cannot append the cleaned copy (original kept)", reason
            ),
        )
        delta.errors += 1
    confirmed = replacer.confirm(appended)
    for a in appended:
        if a not in confirmed:
            log.error(
                "%s UID %d: the cleaned copy could not be confirmed; original kept",
                label,
                a.original_uid,
            )
            delta.errors += 1
    replacer.sync_flags(confirmed)
    replacer.retire([a.original_uid for a in confirmed] + list(recovered), recovered)
    delta.cleaned += len(confirmed)
    delta.trackers += sum(trackers[a.original_uid] for a in confirmed)


def clean_account(
    account: ImapAccount, config: Config, opts: Options, progress: Progress
) -> AccountResult:
    """Connect, clean each configured folder, log out. Never raises for one account's trouble."""
    result = AccountResult()
    try:
        session = connect(account)
    except AccountError as exc:
        result.failures.append(exc)
        return result
    policy = config.policy_for(account.user)
    try:
        originals = originals_folder(session)
        for folder in account.folders:
            try:
                result.stats.add(clean_folder(session, folder, policy, opts, progress, originals))
            except AccountError as exc:
                progress.finish()
                result.failures.append(exc)
            except IMAPClientAbortError:
                raise
            except IMAPClientError as exc:
                progress.finish()
                result.failures.append(AccountError(session.error(f"folder {folder!r}", exc)))
    except (OSError, IMAPClientAbortError) as exc:
        progress.finish()
        result.failures.append(UnreachableError(session.error("connection lost", exc)))
    except Exception as exc:  # a bug must not stop the other accounts (it is logged with -v)
        progress.finish()
        log.debug("internal error", exc_info=True)
        result.failures.append(AccountError(session.error("internal error (please report)", exc)))
    finally:
        session.logout()
    return result
