"""`pixelguard restore`: undo a cleaning over IMAP (a false positive).

    pixelguard restore --config F [--account NAME]
                       (--uid N [--folder F] | --message-id ID | --digest D)

Finds the cleaned copy (by its UID in a folder, by Message-ID, or by the digest in its
`X-PixelGuard-Original` header), moves its original back from the originals folder into
the copy's folder (a move keeps the original's bytes and INTERNALDATE), and then keeps it
there as pixelguard/imap/keep.py does for an original moved back by hand: the cleaned
copy's flags, `$PixelGuardKeep` so it is never cleaned again, and the cleaned copy removed
last. A crash at any point leaves the original and at worst its copy; running restore again,
or the next `pixelguard imap` pass, finishes the work.
"""

from __future__ import annotations

import argparse
import email.parser
import email.policy
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientAbortError, IMAPClientError

from pixelguard.config_file import add_required_config_option, require_config
from pixelguard.imap.connection import (
    EXIT_OK,
    EXIT_PARTIAL,
    EXIT_TEMPFAIL,
    EXIT_USAGE,
    AccountError,
    RefusedError,
    Session,
    _reason,
    connect,
)
from pixelguard.imap.keep import PutBack, keep_originals
from pixelguard.imap.replace import DIGEST_HEADER, Replacer, digest
from pixelguard.imap.settings import ImapAccount
from pixelguard.imap.work import KEEP_KEYWORD, KEYWORD, chunks, seqset

PROG = "pixelguard restore"
_HEX = re.compile(r"[0-9a-f]{8,64}")


class NotFoundError(AccountError):
    """No (single) cleaned copy, or no original, to restore: nothing was changed."""


@dataclass(frozen=True)
class Copy:
    """A cleaned copy pixelguard made, and what identifies its original."""

    folder: str
    uid: int
    digest: str  # 'sha256=<hex>' of the original's bytes
    message_id: str | None
    date: str | None  # the Date header (the same in the original)

    def narrowing(self) -> list[str]:
        """SEARCH criteria that the original also matches, to fetch few messages."""
        if self.message_id:
            return ["HEADER", "Message-ID", self.message_id.strip("<>")]
        if self.date:
            return ["HEADER", "Date", self.date]
        return []


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=PROG,
        description="Undo a cleaning: move an original back from the originals folder in place "
        "of its cleaned copy, with the copy's flags, and mark it so that pixelguard never "
        "cleans it again.",
        epilog="exit codes: 0 restored; 1 no such cleaned copy or original, or the server "
        "refused; 2 usage or config error; 3 login failed; 75 server unreachable. "
        "See docs/imap.md (False positives).",
    )
    add_required_config_option(p, "config file with imap.accounts")
    p.add_argument("--account", metavar="NAME", help="the account (needed with several)")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--uid", metavar="N", type=int, help="UID of the cleaned copy")
    which.add_argument("--message-id", metavar="ID", help="Message-ID of the message")
    which.add_argument(
        "--digest",
        metavar="D",
        help="the sha256 in the copy's X-PixelGuard-Original header (at least 8 hex digits)",
    )
    p.add_argument(
        "--folder",
        metavar="F",
        help="folder of the cleaned copy (default: with --uid the account's first folder, "
        "else all its folders)",
    )
    return p


def main(argv: Sequence[str]) -> int:
    from pixelguard.config import load_config_or_exit
    from pixelguard.imap.lock import account_lock

    parser = _parser()
    args = parser.parse_args(list(argv))
    args.config = require_config(args.config, parser, "the account is in its imap.accounts")
    wanted_digest = None
    if args.digest is not None:
        wanted_digest = args.digest.strip().lower().removeprefix("sha256=")
        if not _HEX.fullmatch(wanted_digest):
            parser.error(f"--digest {args.digest!r}: give 8 to 64 hex digits (sha256=... is fine)")
    if args.message_id is not None and not args.message_id.strip("<> \t"):
        parser.error("--message-id must not be empty")
    config = load_config_or_exit(args.config)
    account = _pick_account(config.imap.accounts, args.account, args.config)
    if isinstance(account, int):
        return account
    if args.folder:
        folders = [args.folder]
    else:  # a UID means something in one folder only
        folders = list(account.folders[:1] if args.uid is not None else account.folders)
    try:
        with account_lock(account):
            session = connect(account)
            try:
                return _restore(session, folders, args, wanted_digest)
            finally:
                session.logout()
    except AccountError as exc:
        _say(str(exc))
        return exc.exit_code
    except (OSError, IMAPClientAbortError) as exc:
        _say(f"account {account.name!r}: connection lost: {_reason(exc)}; run restore again")
        return EXIT_TEMPFAIL
    except IMAPClientError as exc:
        _say(f"account {account.name!r}: the server refused: {_reason(exc)}")
        return EXIT_PARTIAL


def _say(line: str) -> None:
    print(f"{PROG}: {line}", file=sys.stderr)


def _pick_account(
    accounts: Sequence[ImapAccount], name: str | None, path: str
) -> ImapAccount | int:
    if not accounts:
        _say(f"{path}: no imap.accounts configured")
        return EXIT_USAGE
    if name is None:
        if len(accounts) == 1:
            return accounts[0]
        _say(
            f"{path} has several accounts; choose one with --account "
            f"({', '.join(a.name for a in accounts)})"
        )
        return EXIT_USAGE
    for a in accounts:
        if a.name == name:
            return a
    _say(f"no account named {name!r} in {path} (known: {', '.join(a.name for a in accounts)})")
    return EXIT_USAGE


def _restore(session: Session, folders: list[str], args, wanted_digest: str | None) -> int:
    from pixelguard.imap.run import originals_folder

    originals = originals_folder(session)
    copies = [c for folder in folders for c in _find_copies(session, folder, args, wanted_digest)]
    name = session.account.name
    if not copies:
        raise NotFoundError(
            f"account {name!r}: no cleaned copy "
            + (f"UID {args.uid} " if args.uid is not None else "")
            + f"in {', '.join(map(repr, folders))} matches; nothing was changed"
        )
    if len(copies) > 1:
        listed = "; ".join(f"{c.folder} UID {c.uid} ({c.digest[:19]})" for c in copies)
        raise NotFoundError(
            f"account {name!r}: {len(copies)} cleaned copies match: {listed}; choose one with "
            "--uid N --folder F; nothing was changed"
        )
    (copy,) = copies
    uid, copy_removed = _bring_back(session, copy, originals)
    print(
        f"{PROG}: account {name!r}, {copy.folder}: the original"
        + (f" {copy.message_id}" if copy.message_id else "")
        + f" is back as UID {uid}"
        + (f", its cleaned copy UID {copy.uid} removed" if copy_removed else "")
        + f"; pixelguard will leave it as it is ({KEEP_KEYWORD})"
    )
    return EXIT_OK


def _find_copies(session: Session, folder: str, args, wanted_digest: str | None) -> list[Copy]:
    """The cleaned copies in `folder` that the command line names."""
    c = session.client
    try:
        c.select_folder(folder, readonly=True)
    except IMAPClientAbortError:
        raise
    except IMAPClientError as exc:
        raise NotFoundError(session.error(f"cannot open folder {folder!r}", exc)) from None
    if args.uid is not None:
        if not c.search(["UID", str(args.uid)]):
            raise NotFoundError(
                session.error(f"folder {folder!r}", f"there is no UID {args.uid}; nothing changed")
            )
        found = _copies_among(c, folder, [args.uid])
        if not found:
            raise NotFoundError(
                session.error(
                    f"{folder} UID {args.uid}",
                    f"not a cleaned copy made by pixelguard (no {KEYWORD} keyword and "
                    f"{DIGEST_HEADER} header); nothing changed",
                )
            )
        return found
    criteria = ["KEYWORD", KEYWORD]
    if args.message_id is not None:
        bare = args.message_id.strip().strip("<>")
        criteria += ["HEADER", "Message-ID", bare, "HEADER", DIGEST_HEADER, "sha256="]
        uids = c.search(criteria)
        return [x for x in _copies_among(c, folder, uids) if x.message_id == f"<{bare}>"]
    criteria += ["HEADER", DIGEST_HEADER, f"sha256={wanted_digest}"]
    uids = c.search(criteria)
    return [
        x for x in _copies_among(c, folder, uids) if x.digest.startswith(f"sha256={wanted_digest}")
    ]


_HEADERS = f"BODY.PEEK[HEADER.FIELDS ({DIGEST_HEADER.upper()} MESSAGE-ID DATE)]"
_HEADERS_KEY = f"BODY[HEADER.FIELDS ({DIGEST_HEADER.upper()} MESSAGE-ID DATE)]".encode()
_DIGEST = re.compile(r"sha256=([0-9a-fA-F]{64})")


def _copies_among(c: IMAPClient, folder: str, uids: Sequence[int]) -> list[Copy]:
    """Those of `uids` that are cleaned copies (the keyword and a digest header)."""
    out: list[Copy] = []
    for batch in chunks(sorted(uids), 500):
        data = c.fetch(list(batch), ["FLAGS", _HEADERS])
        for uid, item in sorted(data.items()):
            if not any(f.lower() == KEYWORD.lower().encode() for f in item.get(b"FLAGS", ())):
                continue
            headers = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(
                item.get(_HEADERS_KEY) or b""
            )
            m = _DIGEST.search(str(headers.get(DIGEST_HEADER, "")))
            if not m:
                continue
            mid = headers.get("Message-ID")
            date = headers.get("Date")
            out.append(
                Copy(
                    folder,
                    uid,
                    "sha256=" + m.group(1).lower(),
                    " ".join(str(mid).split()) or None if mid else None,
                    " ".join(str(date).split()) or None if date else None,
                )
            )
    return out


def _originals_like(c: IMAPClient, copy: Copy, criteria: list[str]) -> list[tuple[int, tuple]]:
    """(UID, flags) of the messages in the selected folder matching `criteria` whose bytes
    are the copy's original (their digest is the one in the copy's header)."""
    uids = sorted(c.search(criteria + copy.narrowing() or ["ALL"]))
    out = []
    for batch in chunks(uids, 50):
        data = c.fetch(list(batch), ["FLAGS", "BODY.PEEK[]"])
        for uid, item in sorted(data.items()):
            raw = item.get(b"BODY[]")
            if raw is not None and digest(raw) == copy.digest:
                out.append((uid, tuple(item.get(b"FLAGS", ()))))
    return out


def _writable(session: Session, folder: str) -> dict:
    c = session.client
    info = c.select_folder(folder)
    if not info.get(b"READ-WRITE", True):
        raise RefusedError(session.error(f"folder {folder!r}", "it is read-only"))
    return info


def _keywords_allowed(info: dict) -> bool:
    perm = {f.lower() for f in info.get(b"PERMANENTFLAGS", ())}
    return b"\\*" in perm or KEEP_KEYWORD.lower().encode() in perm


def _bring_back(session: Session, copy: Copy, originals: str) -> tuple[int, bool]:
    """Move the original into the copy's folder (unless it is there already) and keep it
    there; (its UID there, whether the cleaned copy was removed)."""
    c = session.client
    where = f"account {session.account.name!r}"
    info = _writable(session, copy.folder)
    if not _keywords_allowed(info):
        raise RefusedError(
            session.error(
                f"folder {copy.folder!r}",
                f"the server does not allow the {KEEP_KEYWORD} keyword there; nothing changed",
            )
        )
    uidvalidity, uidnext = int(info[b"UIDVALIDITY"]), int(info[b"UIDNEXT"])
    replacer = Replacer(c, copy.folder, uidvalidity, uidnext, originals, where)
    # Already back: moved by hand, or a restore interrupted after its move.
    back = [o for o in _originals_like(c, copy, ["UNKEYWORD", KEYWORD]) if o[0] != copy.uid]
    if not back:
        if originals == "delete":
            raise NotFoundError(
                session.error(
                    f"{copy.folder} UID {copy.uid}",
                    "this account deletes originals (originals: delete), so there is none "
                    "to bring back; nothing changed",
                )
            )
        if not _move_from_originals(session, copy, originals):
            raise NotFoundError(
                session.error(
                    f"{copy.folder} UID {copy.uid}",
                    f"its original ({copy.digest[:19]}…) is neither in {originals!r} nor back "
                    f"in {copy.folder!r} (deleted or moved elsewhere?); nothing changed",
                )
            )
        info = _writable(session, copy.folder)
        if int(info[b"UIDVALIDITY"]) != uidvalidity:
            raise AccountError(
                session.error(
                    f"folder {copy.folder!r}",
                    "its UIDVALIDITY changed meanwhile; the original is back in it, and the "
                    "next `pixelguard imap` pass removes the cleaned copy",
                )
            )
        back = _originals_like(c, copy, ["UID", f"{uidnext}:*", "UNKEYWORD", KEYWORD])
        back = [o for o in back if o[0] >= uidnext]
        if not back:
            raise AccountError(
                session.error(
                    f"folder {copy.folder!r}",
                    "the original was moved back but cannot be found there now (moved again "
                    "by another client?); the cleaned copy was left in place",
                )
            )
    # An original the user marked \Deleted may be expunged by their client at any time;
    # one without that mark is the one to keep.
    live = [o for o in back if not any(f.lower() == b"\\deleted" for f in o[1])]
    uid, flags = (live or back)[-1]
    kept = keep_originals(replacer, [PutBack(uid, flags, copy.uid)], f"{where} {copy.folder}")
    if uid not in kept:
        raise AccountError(
            session.error(
                f"{copy.folder} UID {uid}",
                "the original vanished before it could be kept; the cleaned copy stays",
            )
        )
    c.noop()
    return uid, not c.search(["UID", str(copy.uid)])


def _move_from_originals(session: Session, copy: Copy, originals: str) -> bool:
    """Move the copy's original from the originals folder into the copy's folder, marked
    `$PixelGuardKeep` first where that folder allows keywords. False: it is not there."""
    c = session.client
    if not c.folder_exists(originals):
        return False
    info = _writable(session, originals)
    found = _originals_like(c, copy, [])
    if not found:
        return False
    uid = found[0][0]
    move, uidplus = c.has_capability("MOVE"), c.has_capability("UIDPLUS")
    if not (move or uidplus):
        raise RefusedError(
            session.error(
                "restore",
                "the server has neither MOVE nor UIDPLUS, so the original cannot leave the "
                f"originals folder without expunging other messages there; move UID {uid} of "
                f"{originals!r} to {copy.folder!r} in your mail client: the next pixelguard "
                "run then removes the cleaned copy",
            )
        )
    if _keywords_allowed(info):
        c.add_flags([uid], [KEEP_KEYWORD], silent=True)
    if move:
        c.move([uid], copy.folder)
    else:
        c.copy([uid], copy.folder)
        c.add_flags([uid], [b"\\Deleted"], silent=True)
        c.uid_expunge(seqset([uid]))
    return True
