"""Originals the user wants back: kept as they are, their cleaned copies removed.

An original comes back into a cleaned folder in two ways: `pixelguard restore` moves it
there, or the user moves it back from the originals folder by hand. Either way pixelguard
must not clean it again (that would make a second cleaned copy), and the cleaned copy it
replaced must go, so that exactly one message, the original, is left.

How a run recognises such an original (a message without `$PixelGuarded`, see `classify`):
- it carries `$PixelGuardKeep` (set by `pixelguard restore`, or by the user); or
- a cleaned copy of it (a `$PixelGuarded` message whose `X-PixelGuard-Original` header names
  the digest of its bytes) sits in the folder at a lower UID: the copy was made before the
  original arrived, so the original was put back (a crashed run's leftover original always
  has a lower UID than its copy, since APPEND gives the highest UID); or
- it carries `$PixelGuardOriginal`, set on every original as it is retired, with no copy
  above it (which would make it a crashed run's leftover): the user put it back after the
  cleaned copy was deleted.
The second rule needs no keyword at all, so a client (or a server's originals folder) that
drops keywords on a move still gets its original kept while the cleaned copy is there.

Keeping one (`keep_originals`), in an order where a crash at any point leaves the original
and at worst its copy, and the next run finishes the work:
1. the original gets its final flags plus `$PixelGuardKeep` (but not yet `$PixelGuarded`, so
   the next run still looks at it);
2. the cleaned copy is removed (that UID alone), only if the original is still there;
3. the original gets `$PixelGuarded`.
Its flags are the cleaned copy's: what the user did since the cleaning (read it, flagged
it, answered it, tagged it) happened on the copy. Without a copy, the original keeps its
own. `\\Deleted` and `\\Recent` are never carried over, and pixelguard's other keywords go.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pixelguard.imap.replace import Replacer
from pixelguard.imap.work import KEEP_KEYWORD, KEYWORD, ORIGINAL_KEYWORD, OWN_KEYWORDS

log = logging.getLogger("pixelguard.imap")

CLEAN = "clean"  # an ordinary message: clean it
LEFTOVER = "leftover"  # a crashed run's original whose copy exists: retire it
KEEP = "keep"  # an original the user wants back: keep it, remove its copy


@dataclass
class PutBack:
    """An original back in a cleaned folder, and the cleaned copy to remove (if any)."""

    uid: int
    flags: tuple[bytes, ...]  # its flags now
    copy_uid: int | None


def has_keyword(flags: Iterable[bytes], keyword: str) -> bool:
    k = keyword.lower().encode()
    return any(f.lower() == k for f in flags)


def classify(uid: int, flags: Sequence[bytes], copies: list[int]) -> tuple[str, int | None]:
    """What to do with a message without `$PixelGuarded` whose bytes have the cleaned copies
    `copies` (UIDs, ascending, not yet paired with another original) in its folder:
    (CLEAN | LEFTOVER | KEEP, the copy it is paired with). See the module docstring."""
    below = [u for u in copies if u < uid]
    above = [u for u in copies if u > uid]
    if has_keyword(flags, KEEP_KEYWORD):
        return KEEP, (below[-1] if below else above[0] if above else None)
    if above:
        return LEFTOVER, above[0]
    if below:
        return KEEP, below[-1]
    if has_keyword(flags, ORIGINAL_KEYWORD):
        return KEEP, None
    return CLEAN, None


def kept_flags(original: Sequence[bytes], copy: Sequence[bytes] | None) -> list[bytes]:
    """The flags a kept original ends up with before `$PixelGuarded` (see the module doc)."""
    base = original if copy is None else copy
    out = [f for f in base if f.lower() not in OWN_KEYWORDS | {b"\\recent", b"\\deleted"}]
    if any(f.lower() == b"\\deleted" for f in original):  # the user's own mark stays
        out.append(b"\\Deleted")
    return out + [KEEP_KEYWORD.encode()]


def keep_originals(replacer: Replacer, putbacks: Sequence[PutBack], where: str) -> list[int]:
    """Keep these originals in the replacer's (selected, writable) folder and remove their
    cleaned copies, crash-safely (steps 1-3 of the module doc). Returns the UIDs kept."""
    if not putbacks:
        return []
    c = replacer.client
    copy_uids = [p.copy_uid for p in putbacks if p.copy_uid is not None]
    copy_flags = c.fetch(copy_uids, ["FLAGS"]) if copy_uids else {}
    copy_now: dict[int, Sequence[bytes] | None] = {}
    for p in putbacks:
        now = copy_flags.get(p.copy_uid, {}).get(b"FLAGS") if p.copy_uid is not None else None
        copy_now[p.uid] = now
        c.set_flags([p.uid], kept_flags(p.flags, now), silent=True)
    # Only an original that is still there (not expunged by another client meanwhile) and
    # now carries the keep keyword lets its copy go.
    present = c.fetch([p.uid for p in putbacks], ["FLAGS"])
    kept: list[int] = []
    removable: list[int] = []
    for p in putbacks:
        flags_now = present.get(p.uid, {}).get(b"FLAGS", ())
        if not has_keyword(flags_now, KEEP_KEYWORD):
            log.warning("%s UID %d: gone before it could be kept; its copy stays", where, p.uid)
            continue
        kept.append(p.uid)
        if p.copy_uid is None or copy_now[p.uid] is None:
            continue
        if any(f.lower() == b"\\deleted" for f in flags_now):
            # The user marked the put-back original deleted: a client's expunge will remove
            # it, so its copy may be the only one left and stays.
            log.info("%s UID %d: kept, but marked \\Deleted, so its copy UID %d stays",
                     where, p.uid, p.copy_uid)
            continue
        removable.append(p.copy_uid)
    if removable:
        if replacer.can_remove_copies():
            replacer.remove_copies(removable)
        else:
            log.warning(
                "%s: the server lacks UIDPLUS (and MOVE to an originals folder), so the "
                "cleaned copies UID %s cannot be removed without expunging other messages "
                "marked \\Deleted; delete them in your mail client",
                where,
                ", ".join(map(str, removable)),
            )
    if kept:
        c.add_flags(kept, [KEYWORD], silent=True)
    return kept
