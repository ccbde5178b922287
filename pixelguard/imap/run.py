"""One pass over one account: every configured folder, message batches through the core."""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from imapclient.exceptions import IMAPClientAbortError, IMAPClientError

from pixelguard import trust
from pixelguard.config import AuthConfig, Config
from pixelguard.display import count, from_and_subject, shorten_url
from pixelguard.imap.connection import (
    EXIT_USAGE,
    AccountError,
    RefusedError,
    Session,
    UnreachableError,
    _reason,
    connect,
)
from pixelguard.imap.folder_name import inbox_canonical
from pixelguard.imap.keep import KEEP, LEFTOVER, PutBack, classify, keep_originals
from pixelguard.imap.lock import account_lock
from pixelguard.imap.progress import Progress, Stats
from pixelguard.imap.replace import Pending, Replacer, copy_index, create_folder, digest
from pixelguard.imap.settings import ImapAccount
from pixelguard.imap.work import (
    KEEP_KEYWORD,
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
from pixelguard.model import Policy, Result

log = logging.getLogger("pixelguard.imap")

GONE_REASON = (
    "it no longer exists (deleted or renamed by another client while pixelguard worked on "
    "it, or never created: check `folders` in the config); its other messages were not "
    "touched"
)


class FolderGoneError(AccountError):
    """A configured folder does not exist (any more): that folder is skipped, exit 1."""


class FolderConflictError(AccountError):
    """The originals folder is, on this server, one of the folders to clean: the account is
    refused before anything is touched (each run would add another copy), exit 2."""

    exit_code = EXIT_USAGE


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
    """The account's `originals` setting as this server names it ('delete' stays 'delete').

    Raises FolderConflictError when that is, on this server, one of the configured folders
    (as given, or as translated to its names): INBOX in any case, or e.g. `folders:
    [pixelguard.originals]` on a server whose delimiter is '.'."""
    name = session.account.originals
    if name == "delete":
        return name
    prefix, delim = _namespace(session)
    originals = server_folder_name(session, name, (prefix, delim))
    for folder in session.account.folders:
        names = {folder, server_folder_name(session, folder, (prefix, delim))}
        if any(same_folder(originals, n) for n in names):
            raise FolderConflictError(
                session.error(
                    f"originals {name!r}",
                    f"on this server it is the folder {originals!r}, which is also in "
                    f"`folders` (as {folder!r}), so each run would put the originals back "
                    "into a cleaned folder; nothing was done for this account: name another "
                    "originals folder or 'delete'",
                )
            )
    return originals


def same_folder(a: str, b: str) -> bool:
    """Whether two server-side names are the same folder: INBOX (alone, or as the first level
    of a path) in any case, the rest exactly."""

    return inbox_canonical(a, "/.") == inbox_canonical(b, "/.")


def _namespace(session: Session) -> tuple[str, str]:
    """(personal namespace prefix, hierarchy delimiter) of this server."""
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
    return prefix, delim


def server_folder_name(
    session: Session, name: str, namespace: tuple[str, str] | None = None
) -> str:
    """A folder path ('a/b') as this server names it: its hierarchy delimiter, under its
    personal namespace prefix (e.g. 'INBOX.a.b' on Courier or Cyrus)."""
    prefix, delim = namespace or _namespace(session)
    name = name.replace("/", delim)
    if prefix and not name.startswith(prefix):
        name = prefix + name
    return name


class _Copies:
    """The pass's view of cleaned copies of the originals in hand: those below the UIDNEXT
    seen when the folder was selected (so not this pass's own), minus the ones already
    paired with an original in an earlier batch. A copy above its original was left by a
    crashed run; one below it means the original was put back (see keep.classify)."""

    def __init__(self, below_uid: int | None) -> None:
        self.below_uid = below_uid
        self.taken: set[int] = set()

    def lookup(self, c, digests: dict[int, str], own: set[int]) -> dict[str, list[int]]:
        """Digest -> UIDs (ascending) of the untaken copies of these originals."""
        if not digests:
            return {}
        index = copy_index(c, 0, self.below_uid, list(digests.values()))
        skip = self.taken | own
        return {d: [u for u in uids if u not in skip] for d, uids in index.items()}


def clean_with_trust(raw: bytes, policy: Policy, auth: AuthConfig | None) -> tuple[bytes, Result]:
    """The core on one message: (the bytes to append when it has findings, the result);
    see trust.clean_with_trust."""
    return trust.clean_with_trust(raw, policy, auth)


def dry_run_lines(where: str, raw: bytes, findings, links=()) -> str:
    """What a dry run says about one message: where it is, From, Subject, then one line per
    tracker (rule, vendor, shortened URL) and per link edit (action, vendor, URL)."""
    sender, subject = from_and_subject(raw)
    what = f"would remove {count(len(findings), 'tracker')}"
    if links:
        what += f" and make {count(len(links), 'link edit')}"
    lines = [
        f"{where}: {what}",
        f"  From: {sender or '(none)'}",
        f"  Subject: {subject or '(none)'}",
    ]
    lines += [f"  {f.rule:<15} {(f.vendor or '-'):<18} {shorten_url(f.url)}" for f in findings]
    lines += [f"  link {c.action:<10} {(c.vendor or '-'):<18} {shorten_url(c.url)}"
              + (f" -> {shorten_url(c.new_url)}" if c.new_url else "") for c in links]
    return "\n".join(lines)


def clean_folder(
    session: Session,
    folder: str,
    policy: Policy,
    opts: Options,
    progress: Progress,
    originals: str,
    auth: AuthConfig | None = None,
) -> Stats:
    """Clean every message without the keyword in one folder; returns what was done.

    `auth` (the config's auth section) enables pixelguard's own DKIM check and the ARC seal
    (see clean_with_trust); without it the core alone decides, from trusted upstream
    Authentication-Results headers."""
    c = session.client
    label = f"{session.account.name}/{folder}"
    if originals != "delete":  # the notice in each cleaned copy names the folder, as the
        policy = dataclasses.replace(policy, originals_folder=originals)  # server calls it
    try:
        info = c.select_folder(folder, readonly=opts.dry_run)
    except IMAPClientAbortError:
        raise
    except IMAPClientError as exc:
        if not c.folder_exists(folder):
            raise FolderGoneError(session.error(f"folder {folder!r}", GONE_REASON)) from None
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
        "%s: UIDVALIDITY %d, %s without %s", label, uidvalidity, count(len(uids), "message"),
        KEYWORD,
    )
    if (
        uids
        and not opts.dry_run
        and originals != "delete"
        and not c.folder_exists(originals)
        and create_folder(c, originals)  # False: another run created it just now
    ):
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
    # Cleaned copies left behind by a crashed run are looked up per download batch, by the
    # digests of the originals in hand (see copy_index); `taken` keeps one copy from
    # serving two byte-identical originals across batches.
    uidnext = info.get(b"UIDNEXT")
    copies = _Copies(int(uidnext) if uidnext is not None else None)
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
            _clean_group(session, group, policy, opts, replacer, copies, delta, label, auth)
            progress.update(delta)
    return progress.finish()


def _clean_group(
    session, group, policy, opts, replacer, copies, delta: Stats, label: str, auth=None
) -> None:
    c = session.client
    bodies = fetch_bodies(c, group)
    # (a body is None when the message was expunged meanwhile, e.g. by another run)
    digests = {uid: digest(raw) for uid, raw in bodies.items() if raw is not None}
    index = copies.lookup(c, digests, replacer.own)
    to_mark: list[int] = []
    pending: list[Pending] = []
    trackers: dict[int, int] = {}
    recovered: dict[int, bytes] = {}
    putbacks: list[PutBack] = []
    for cand in group:
        raw = bodies.get(cand.uid)
        if raw is None:  # expunged meanwhile
            delta.scanned -= 1
            continue
        d = digests[cand.uid]
        verdict, copy_uid = classify(cand.uid, cand.flags, index.get(d, []))
        if copy_uid is not None:
            index[d].remove(copy_uid)
            copies.taken.add(copy_uid)
        if verdict == KEEP:
            putbacks.append(PutBack(cand.uid, cand.flags, copy_uid))
            if opts.dry_run:
                opts.report(
                    f"{label} UID {cand.uid}: an original put back (or marked {KEEP_KEYWORD}): "
                    "would keep it as it is"
                    + (f" and remove its cleaned copy UID {copy_uid}" if copy_uid else "")
                )
            continue
        if verdict == LEFTOVER:
            recovered[cand.uid] = raw
            if opts.dry_run:
                opts.report(
                    f"{label} UID {cand.uid}: would retire the leftover original "
                    f"(its cleaned copy is UID {copy_uid})"
                )
            continue
        try:
            out, result = clean_with_trust(raw, policy, auth)
        except Exception as exc:  # noqa: BLE001 - the core promises not to raise; keep the message
            log.error("%s UID %d: left unchanged, the cleaner failed: %s", label, cand.uid, exc)
            delta.errors += 1
            continue
        if result.error is not None:
            log.warning(
                "%s UID %d: left unchanged, not cleaned: %s", label, cand.uid, result.error
            )
            to_mark.append(cand.uid)
            continue
        if not result.changed:
            to_mark.append(cand.uid)
            continue
        if opts.dry_run:
            opts.report(dry_run_lines(f"{label} UID {cand.uid}", raw, result.findings,
                                      result.links))
            delta.cleaned += 1
            delta.trackers += len(result.findings)
            continue
        replacer.check_can_replace()
        pending.append(Pending(cand.uid, out, d, cand.flags, cand.internaldate))
        trackers[cand.uid] = len(result.findings)
    delta.marked += len(to_mark) + len(putbacks)
    delta.recovered += len(recovered)
    if opts.dry_run:
        return
    mark(c, to_mark)
    for uid in keep_originals(replacer, putbacks, label):
        log.info("%s UID %d: an original put back: kept as it is, without its copy", label, uid)
    try:
        appended, failed = replacer.append(pending)
    except IMAPClientAbortError:
        raise
    except IMAPClientError as exc:
        appended, failed = [], [(p.uid, _reason(exc)) for p in pending]
    if failed and (
        any("TRYCREATE" in reason.upper() for _, reason in failed)
        or not c.folder_exists(replacer.folder)
    ):
        # The folder itself is gone (deleted or renamed under us; Dovecot then refuses the
        # APPEND with SERVERBUG, others with TRYCREATE): one line, not one per message.
        raise FolderGoneError(session.error(f"folder {replacer.folder!r}", GONE_REASON))
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
    kept, dropped = replacer.settle(confirmed)
    if dropped:
        log.warning(
            "%s: %s cleaned at the same time by another pixelguard run; "
            "its copies are kept, ours were removed again",
            label,
            "1 message was" if len(dropped) == 1 else f"{len(dropped)} messages were",
        )
    replacer.retire([a.original_uid for a in kept] + list(recovered), recovered)
    delta.cleaned += len(kept)
    delta.trackers += sum(trackers[a.original_uid] for a in kept)


def _lost_in_folder(
    account: ImapAccount, folder: str, exc: BaseException, old: Session
) -> tuple[AccountError, Session | None]:
    """The connection broke while `folder` was being cleaned: log in again to tell a folder
    deleted or renamed under us (some servers, Dovecot among them, drop the connection of a
    session whose selected folder disappears) from a plain disconnect.

    Returns the failure for this folder, and the new session to carry on with the other
    folders (None when the server cannot be reached again: the account stops there).
    """
    old.logout()
    lost = old.error(
        f"connection lost while cleaning folder {folder!r}",
        f"{_reason(exc)}; nothing was lost: an original is only retired after its cleaned "
        "copy is confirmed, and the next run finishes the work",
    )
    try:
        session = connect(account)
    except AccountError:
        return UnreachableError(lost), None
    try:
        gone = not session.client.folder_exists(folder)
    except (OSError, IMAPClientError):
        session.logout()
        return UnreachableError(lost), None
    if gone:
        return FolderGoneError(session.error(f"folder {folder!r}", GONE_REASON)), session
    return UnreachableError(lost), session


def clean_account(
    account: ImapAccount, config: Config, opts: Options, progress: Progress
) -> AccountResult:
    """Connect, clean each configured folder, log out. Never raises for one account's trouble.

    A folder's failure is one line and the other folders go on; a lost connection is
    re-established once per folder for the folders that follow (and stops the account when
    the server cannot be reached again)."""
    result = AccountResult()
    if opts.dry_run:  # read-only: no need to keep another run out
        return _clean_account(account, config, opts, progress, result)
    try:
        with account_lock(account):
            return _clean_account(account, config, opts, progress, result)
    except AccountError as exc:  # the lock is held by another process on this machine
        result.failures.append(exc)
        return result


def _clean_account(
    account: ImapAccount, config: Config, opts: Options, progress: Progress, result: AccountResult
) -> AccountResult:
    try:
        session = connect(account)
    except AccountError as exc:
        result.failures.append(exc)
        return result
    policy = config.policy_for(account.user)
    try:
        try:
            originals = originals_folder(session)
        except FolderConflictError as exc:
            result.failures.append(exc)
            return result
        for folder in account.folders:
            if opts.stop.is_set():
                break
            try:
                result.stats.add(
                    clean_folder(session, folder, policy, opts, progress, originals, config.auth)
                )
            except AccountError as exc:
                result.stats.add(progress.finish())
                result.failures.append(exc)
            except (OSError, IMAPClientAbortError) as exc:
                result.stats.add(progress.finish())
                failure, new_session = _lost_in_folder(account, folder, exc, session)
                result.failures.append(failure)
                if new_session is None:
                    return result  # the old session is logged out; nothing more to do
                session = new_session
            except IMAPClientError as exc:
                result.stats.add(progress.finish())
                result.failures.append(AccountError(session.error(f"folder {folder!r}", exc)))
    except (OSError, IMAPClientAbortError) as exc:
        result.stats.add(progress.finish())
        result.failures.append(
            UnreachableError(
                session.error("connection lost", f"{_reason(exc)}; the next run continues")
            )
        )
    except Exception as exc:  # a bug must not stop the other accounts (it is logged with -v)
        result.stats.add(progress.finish())
        log.debug("internal error", exc_info=True)
        result.failures.append(AccountError(session.error("internal error (please report)", exc)))
    finally:
        session.logout()
    return result
