"""Replacing a message safely: APPEND the cleaned copy, confirm it, only then retire the original.

Order of operations, and what a crash at each point leaves behind:

1. APPEND the cleaned copy (original flags minus \\Recent, its INTERNALDATE, `$PixelGuarded`,
   and an `X-PixelGuard-Original: sha256=<hex> run=<nonce>` header naming the original's
   bytes, and the run that made the copy: random, so that without UIDPLUS a run can tell
   its own copy from another run's copy of the same original).
   Crash here: original + copy. The next run finds the copy by that header
   (`copy_index`) and only retires the original.
2. Confirm the copy: by its APPENDUID (UIDPLUS), else by a SEARCH on the digest header.
   Then settle a race with another run (another machine, or a watcher next to a cron job)
   that cleaned the same original at the same time (`Replacer.settle`): one SEARCH per
   batch for other cleaned copies with the same digest header above the original's UID.
   Of all copies of one original, the one with the lowest UID stays; a run whose copy is
   not that one removes its own copy again (only that UID) and leaves the original to the
   run that owns the surviving copy (or to the next run, which finds that copy by its
   header). Every run reaches the same verdict, whatever the interleaving, so exactly one
   copy survives.
3. Retire the original: UID MOVE to the originals folder; or, without MOVE, UID COPY +
   \\Deleted + UID EXPUNGE of that UID alone; or, with `originals: delete`, \\Deleted +
   UID EXPUNGE. Crash here: original (maybe \\Deleted, maybe also copied) + copy; the
   next run retires it again, checking the originals folder first so it is not copied twice.

Without UIDPLUS, expunging one message alone is impossible (a plain EXPUNGE also removes
whatever else the user marked \\Deleted), so replacing is refused unless MOVE to an
originals folder is available.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientAbortError, IMAPClientError

from pixelguard.headers import prepend_header
from pixelguard.imap.connection import AccountError, RefusedError
from pixelguard.imap.work import KEYWORD, ORIGINAL_KEYWORD, OWN_KEYWORDS, seqset

log = logging.getLogger("pixelguard.imap")

DIGEST_HEADER = "X-PixelGuard-Original"

_APPENDUID = re.compile(rb"\[APPENDUID (\d+) ([0-9:,]+)\]", re.IGNORECASE)
_DIGEST_VALUE = re.compile(rb"sha256=([0-9a-f]{64})", re.IGNORECASE)


def digest(raw: bytes) -> str:
    """The value of the digest header for an original message: 'sha256=<hex>'."""
    return "sha256=" + hashlib.sha256(raw).hexdigest()


def cleaned_copy(cleaned: bytes, original_digest: str, run: str = "") -> bytes:
    value = f"{original_digest} run={run}" if run else original_digest
    return prepend_header(cleaned, DIGEST_HEADER, value)


def append_flags(flags: Sequence[bytes]) -> list[bytes]:
    """The original's flags for APPEND: without \\Recent (servers refuse it) and pixelguard's
    own keywords, plus `$PixelGuarded`."""
    out = [f for f in flags if f.lower() != b"\\recent" and f.lower() not in OWN_KEYWORDS]
    return out + [KEYWORD.encode()]


def create_folder(client: IMAPClient, name: str) -> bool:
    """CREATE `name` and SUBSCRIBE to it, so that mail clients that list only subscribed
    folders show it. False when another session created it first. A refused SUBSCRIBE
    only costs visibility: logged, not raised."""
    try:
        client.create_folder(name)
    except IMAPClientAbortError:
        raise
    except IMAPClientError:
        if not client.folder_exists(name):
            raise
        return False
    try:
        client.subscribe_folder(name)
    except IMAPClientAbortError:
        raise
    except IMAPClientError as exc:
        log.warning("created folder %r but could not subscribe to it: %s", name, _text(exc.args))
    return True


def _digests_in(header_block: bytes) -> list[str]:
    return ["sha256=" + m.group(1).decode().lower() for m in _DIGEST_VALUE.finditer(header_block)]


def _header_digests(client: IMAPClient, uids: Sequence[int]) -> dict[int, list[str]]:
    """UID -> the digests in its digest header. A message expunged by another session since
    our SEARCH has none (Dovecot answers its header fetch with NIL)."""
    if not uids:
        return {}
    field = f"BODY.PEEK[HEADER.FIELDS ({DIGEST_HEADER.upper()})]"
    data = client.fetch(list(uids), [field])
    key = f"BODY[HEADER.FIELDS ({DIGEST_HEADER.upper()})]".encode()
    return {uid: _digests_in(item.get(key) or b"") for uid, item in data.items()}


def copy_index(
    client: IMAPClient, above_uid: int, below_uid: int | None, digests: Sequence[str]
) -> dict[str, list[int]]:
    """Digest -> UIDs of the cleaned copies in (`above_uid`, `below_uid`) in the selected
    folder whose digest header names one of `digests` (`below_uid` None: no upper bound).

    A copy appended by a crashed run has a higher UID than its original; one with a lower
    UID means the original was put back into the folder after it was cleaned (see
    pixelguard/imap/keep.py); a pass asks for both, with `above_uid` 0. Only the
    digests of the originals in hand are searched for, so copies of other messages (every
    cleaned message keeps its digest header) are never fetched: a message that stays
    unmarked pass after pass (its APPEND refused, its cleaning failing) does not make each
    pass re-read every copy above it. `below_uid` (the UIDNEXT seen when the pass began)
    keeps out copies this pass appended itself, so that byte-identical originals each get
    their own copy.
    """
    wanted = sorted(set(digests))
    if not wanted:
        return {}
    upper = "*" if below_uid is None else str(below_uid - 1)
    if below_uid is not None and below_uid - 1 <= above_uid:
        return {}
    criteria: list[str] = ["UID", f"{above_uid + 1}:{upper}", "KEYWORD", KEYWORD]
    for d in wanted[:-1]:
        criteria += ["OR", "HEADER", DIGEST_HEADER, d]
    criteria += ["HEADER", DIGEST_HEADER, wanted[-1]]
    uids = client.search(criteria)
    # "N:*" also matches the last UID when it is < N
    uids = [u for u in uids if u > above_uid and (below_uid is None or u < below_uid)]
    index: dict[str, list[int]] = {}
    for uid, found in sorted(_header_digests(client, uids).items()):
        if found and found[0] in wanted:
            index.setdefault(found[0], []).append(uid)
    return index


def _text(response: object) -> str:
    """An imapclient response (bytes, str, or a list of them) as one string."""
    if isinstance(response, (list, tuple)):
        return " ".join(_text(r) for r in response)
    if isinstance(response, bytes):
        return response.decode("utf-8", "replace")
    return str(response)


def _expand_uid_set(text: str) -> list[int]:
    """'5:7,9' -> [5, 6, 7, 9], in the order given (as APPENDUID lists a MULTIAPPEND's UIDs)."""
    out: list[int] = []
    for part in text.split(","):
        lo, _, hi = part.partition(":")
        a, b = int(lo), int(hi or lo)
        out.extend(range(a, b + 1) if a <= b else range(a, b - 1, -1))
    return out


@dataclass
class Pending:
    """A cleaned copy waiting to be appended."""

    uid: int  # the original's
    cleaned: bytes
    digest: str  # the original's
    flags: tuple[bytes, ...]
    internaldate: datetime | None


@dataclass
class Appended:
    original_uid: int
    digest: str
    copy_uid: int | None  # from APPENDUID; None until confirmed by search
    flags: tuple[bytes, ...] = ()  # the original's flags as copied


class Replacer:
    """Appends cleaned copies and retires originals in one selected folder."""

    def __init__(
        self,
        client: IMAPClient,
        folder: str,
        uidvalidity: int,
        uidnext: int,
        originals: str,
        where: str,
    ) -> None:
        self.client = client
        self.folder = folder
        self.uidvalidity = uidvalidity
        self.floor = uidnext  # every copy appended from now on has a UID >= floor
        self.originals = originals  # folder name, or "delete"
        self.where = where
        self.uidplus = client.has_capability("UIDPLUS")
        self.move_ok = client.has_capability("MOVE")
        self.own: set[int] = set()  # UIDs of the copies this run appended and confirmed
        self.run = secrets.token_hex(8)  # in our copies' digest header (see the module doc)

    # -- preconditions -------------------------------------------------------------------
    def check_can_replace(self) -> None:
        """Refuse (before anything is appended) when an original could not be retired safely."""
        if self.uidplus:
            return
        if self.originals != "delete" and self.move_ok:
            return
        raise RefusedError(
            f"{self.where}: the server lacks UIDPLUS"
            + ("" if self.originals == "delete" else " and MOVE")
            + ", so an original cannot be removed without also expunging other messages "
            "marked \\Deleted; nothing was replaced in this folder"
            + (
                " (an originals folder with MOVE would work)"
                if self.originals == "delete" and self.move_ok
                else ""
            )
        )

    # -- step 1 and 2 ---------------------------------------------------------------------
    def append(self, pending: Sequence[Pending]) -> tuple[list[Appended], list[tuple[int, str]]]:
        """APPEND the cleaned copies: (the accepted ones, [(original UID, reason)] refused).

        With MULTIAPPEND all copies of a batch go in one command (one round trip; the server
        stores all or none, and a refusal raises IMAPClientError); otherwise one APPEND each,
        and a refused one is skipped (its original stays).
        """
        if not pending:
            return [], []
        if len(pending) > 1 and self.client.has_capability("MULTIAPPEND"):
            typ, data = self.client.multiappend(
                self.folder,
                [
                    {
                        "msg": cleaned_copy(p.cleaned, p.digest, self.run),
                        "flags": append_flags(p.flags),
                        **({"date": p.internaldate} if p.internaldate else {}),
                    }
                    for p in pending
                ],
            )
            if typ != "OK":
                raise IMAPClientError(f"MULTIAPPEND refused: {_text(data)}")
            uids = self._appenduids(_text(data), len(pending))
            return [Appended(p.uid, p.digest, u, tuple(p.flags)) for p, u in zip(pending, uids)], []
        out: list[Appended] = []
        failed: list[tuple[int, str]] = []
        for p in pending:
            try:
                response = self.client.append(
                    self.folder,
                    cleaned_copy(p.cleaned, p.digest, self.run),
                    append_flags(p.flags),
                    p.internaldate,
                )
            except IMAPClientAbortError:
                raise
            except IMAPClientError as exc:
                failed.append((p.uid, _text(exc.args[0] if exc.args else exc)))
                continue
            (copy_uid,) = self._appenduids(_text(response), 1)
            out.append(Appended(p.uid, p.digest, copy_uid, tuple(p.flags)))
        return out, failed

    def _appenduids(self, response: str, count: int) -> list[int | None]:
        """The copies' UIDs from an APPENDUID response code (UIDPLUS), else Nones."""
        match = _APPENDUID.search(response.encode())
        if not (self.uidplus and match):
            return [None] * count
        if int(match.group(1)) != self.uidvalidity:
            raise AccountError(
                f"{self.where}: UIDVALIDITY of {self.folder!r} changed during the run; "
                "stopping this folder (the next run starts afresh, nothing is lost)"
            )
        uids = _expand_uid_set(match.group(2).decode())
        return uids if len(uids) == count else [None] * count

    def confirm(self, appended: Sequence[Appended]) -> list[Appended]:
        """The appended copies that are verifiably in the folder (digest header checked)."""
        ok: list[Appended] = []
        by_uid = [a for a in appended if a.copy_uid is not None]
        found = _header_digests(self.client, [a.copy_uid for a in by_uid])  # type: ignore[misc]
        for a in by_uid:
            if a.digest in found.get(a.copy_uid, []):  # type: ignore[arg-type]
                ok.append(a)
        rest = [a for a in appended if a.copy_uid is None]
        if rest:
            self.client.noop()  # let the session see the appended messages before SEARCH
        taken: set[int] = set()  # identical originals have copies with the same digest
        for a in rest:
            ours = f"{a.digest} run={self.run}"  # not another run's copy of the same original
            uids = self.client.search(
                ["UID", f"{self.floor}:*", "KEYWORD", KEYWORD, "HEADER", DIGEST_HEADER, ours]
            )
            free = sorted(u for u in uids if u >= self.floor and u not in taken)
            if free:
                a.copy_uid = free[0]
                taken.add(free[0])
                ok.append(a)
        if ok:
            self.floor = max(self.floor, max(a.copy_uid for a in ok) + 1)  # type: ignore[type-var]
        self.own.update(a.copy_uid for a in ok)  # type: ignore[misc]
        return ok

    def settle(self, confirmed: Sequence[Appended]) -> tuple[list[Appended], list[Appended]]:
        """Settle races with another run that cleaned the same originals at the same time:
        (the copies to keep, whose originals we retire; the copies we removed again).

        Another run's copy of the same original has the same digest header and a UID above
        the original's. Of all copies of one original the lowest UID wins: a copy of ours
        that is not the lowest is removed again (that UID alone), and its original is left
        to the run that owns the winning copy. Copies this run made of byte-identical
        originals (same digest) do not count against each other.
        """
        if not confirmed:
            return [], []
        self.client.noop()  # let this session see what other sessions appended
        lowest = min(a.original_uid for a in confirmed)
        digests = sorted({a.digest for a in confirmed})
        criteria: list[str] = ["UID", f"{lowest + 1}:*", "KEYWORD", KEYWORD]
        for d in digests[:-1]:
            criteria += ["OR", "HEADER", DIGEST_HEADER, d]
        criteria += ["HEADER", DIGEST_HEADER, digests[-1]]
        uids = [u for u in self.client.search(criteria) if u > lowest]
        found = _header_digests(self.client, uids)
        keep: list[Appended] = []
        drop: list[Appended] = []
        for a in confirmed:
            copies = {u for u, ds in found.items() if a.digest in ds and u > a.original_uid}
            rivals = copies - self.own
            if rivals and min(rivals) < a.copy_uid:  # type: ignore[operator]
                drop.append(a)
            else:
                keep.append(a)
        if drop:
            self._remove_own([a.copy_uid for a in drop])  # type: ignore[misc]
        return keep, drop

    def _remove_own(self, uids: Sequence[int]) -> None:
        """Remove copies of ours that lost a race (see remove_copies)."""
        self.own.difference_update(uids)
        self.remove_copies(uids)

    def can_remove_copies(self) -> bool:
        return self.uidplus or (self.originals != "delete" and self.move_ok)

    def remove_copies(self, uids: Sequence[int]) -> None:
        """Remove cleaned copies: \\Deleted + UID EXPUNGE of those UIDs alone; without UIDPLUS
        (then MOVE and an originals folder are there, see check_can_replace), move them to
        the originals folder rather than expunge anything else."""
        if not uids:
            return
        if self.uidplus:
            self.client.add_flags(seqset(uids), [b"\\Deleted"], silent=True)
            self.client.uid_expunge(seqset(uids))
        else:
            self._into_originals(self.client.move, uids)

    def sync_flags(self, confirmed: Sequence[Appended]) -> None:
        """Carry over flag changes another client made to an original while its copy was made
        (e.g. the user read it meanwhile), just before the original is retired."""
        if not confirmed:
            return
        now = self.client.fetch([a.original_uid for a in confirmed], ["FLAGS"])
        for a in confirmed:
            flags = now.get(a.original_uid, {}).get(b"FLAGS")
            if flags is not None and set(append_flags(flags)) != set(append_flags(a.flags)):
                self.client.set_flags([a.copy_uid], append_flags(flags), silent=True)

    # -- step 3 ---------------------------------------------------------------------------
    def retire(self, uids: Sequence[int], recovered_raws: dict[int, bytes] | None = None) -> None:
        """Move `uids` to the originals folder (or delete them), touching no other message.

        `recovered_raws` maps leftovers from a crashed run to their bytes; without MOVE, one
        already copied to the originals folder is only deleted, not copied again.
        """
        if not uids:
            return
        if self.originals != "delete":
            # Marks it as an original pixelguard retired: moved back by hand, it is kept as
            # it is (see pixelguard/imap/keep.py), even if its cleaned copy is gone by then.
            self.client.add_flags(seqset(uids), [ORIGINAL_KEYWORD], silent=True)
        if self.originals != "delete" and self.move_ok:
            self._into_originals(self.client.move, uids)
            return
        self.check_can_replace()
        if self.originals == "delete":
            delete = list(uids)
        else:
            already = self._in_originals(recovered_raws or {})
            to_copy = [u for u in uids if u not in already]
            if to_copy:
                self._into_originals(self.client.copy, to_copy)
            delete = list(uids)
        self.client.add_flags(seqset(delete), [b"\\Deleted"], silent=True)
        self.client.uid_expunge(seqset(delete))

    def _into_originals(self, command, uids: Sequence[int]) -> None:
        """UID MOVE or UID COPY `uids` to the originals folder. If that folder was deleted or
        renamed under us (the server answers TRYCREATE, and moved or copied nothing), create
        it again and try once more, so the copies just confirmed do not sit next to their
        originals until the next run."""
        try:
            command(seqset(uids), self.originals)
        except IMAPClientAbortError:
            raise
        except IMAPClientError as exc:
            if "TRYCREATE" not in _text(exc.args[0] if exc.args else exc).upper():
                raise
            log.warning(
                "%s: the originals folder %r is gone (deleted or renamed meanwhile); "
                "creating it again",
                self.where,
                self.originals,
            )
            create_folder(self.client, self.originals)
            command(seqset(uids), self.originals)

    def _in_originals(self, raws: dict[int, bytes]) -> set[int]:
        """Which leftover originals already have a byte-identical copy in the originals folder."""
        if not raws or not self.client.folder_exists(self.originals):
            return set()
        present: set[int] = set()
        self.client.select_folder(self.originals, readonly=True)
        try:
            for uid, raw in raws.items():
                same_size = self.client.search(
                    ["LARGER", str(len(raw) - 1), "SMALLER", str(len(raw) + 1)]
                )
                bodies = self.client.fetch(same_size, ["BODY.PEEK[]"]) if same_size else {}
                if any(item.get(b"BODY[]") == raw for item in bodies.values()):
                    present.add(uid)
        finally:
            info = self.client.select_folder(self.folder)
        if int(info[b"UIDVALIDITY"]) != self.uidvalidity:
            raise AccountError(
                f"{self.where}: UIDVALIDITY of {self.folder!r} changed during the run; "
                "stopping this folder (the next run starts afresh, nothing is lost)"
            )
        return present
