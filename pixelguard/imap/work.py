"""Finding work cheaply: which messages still need a look, and which of them hold HTML.

State lives on the server: a message pixelguard has dealt with carries the `$PixelGuarded`
keyword, so a re-scan is one UID SEARCH (see KEEP_KEYWORD and ORIGINAL_KEYWORD for the
other two keywords pixelguard sets). BODYSTRUCTURE tells which of the rest have a
text/html part (only those are downloaded); FETCHes go in batches of UIDs.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientAbortError, IMAPClientError

from pixelguard.compat import imap_pending_responses

log = logging.getLogger("pixelguard.imap")

KEYWORD = "$PixelGuarded"  # dealt with: never looked at again
# Set on an original just before it is retired to the originals folder, so that an original
# the user moves back by hand is recognised even when its cleaned copy is gone.
ORIGINAL_KEYWORD = "$PixelGuardOriginal"
# The user wants this message as it is: never cleaned (set by `pixelguard restore`, on an
# original moved back by hand, or by the user).
KEEP_KEYWORD = "$PixelGuardKeep"
OWN_KEYWORDS = frozenset(k.lower().encode() for k in (KEYWORD, ORIGINAL_KEYWORD, KEEP_KEYWORD))
META_BATCH = 500  # UIDs per BODYSTRUCTURE/FLAGS fetch
BODY_BATCH_BYTES = 8_000_000  # download at most this much message text per FETCH
BODY_BATCH_COUNT = 100


@dataclass(frozen=True)
class Candidate:
    """One message without the keyword, as described by FLAGS/INTERNALDATE/BODYSTRUCTURE."""

    uid: int
    flags: tuple[bytes, ...]
    internaldate: datetime | None
    size: int
    html: bool


def seqset(uids: Iterable[int]) -> str:
    """A compact IMAP sequence set ("1:5,9,12:13") for the given UIDs."""
    out: list[str] = []
    ordered = sorted(set(uids))
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        out.append(str(ordered[i]) if i == j else f"{ordered[i]}:{ordered[j]}")
        i = j + 1
    return ",".join(out)


def chunks(items: Sequence[int], size: int) -> Iterator[Sequence[int]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def has_html(body) -> bool:
    """True when a BODYSTRUCTURE contains a text/html part anywhere (also in attached messages).

    Anything we cannot read counts as HTML: downloading one message too many is cheap,
    skipping a tracker is not.
    """
    try:
        if body.is_multipart:
            return any(has_html(part) for part in body[0])
        mtype = body[0].lower() if isinstance(body[0], bytes) else b""
        subtype = body[1].lower() if isinstance(body[1], bytes) else b""
        if mtype == b"text" and subtype == b"html":
            return True
        if mtype == b"message" and subtype in (b"rfc822", b"global") and len(body) > 8:
            return has_html(body[8])
        return False
    except (AttributeError, IndexError, TypeError):
        return True


def forget_announced(client: IMAPClient) -> None:
    """Drop the EXISTS counts kept from SELECT, so that `announced_new` sees only later ones."""
    pending = imap_pending_responses(client)
    if pending is not None:
        pending.pop("EXISTS", None)


def announced_new(client: IMAPClient) -> bool:
    """True when the server announced new messages (EXISTS) since `forget_announced`.

    imapclient drops such unsolicited responses from its answers, and a server does not
    repeat them in IDLE, so without this a message arriving during a pass would wait for the
    next full check. imaplib keeps them, per type, until the next SELECT.
    """
    pending = imap_pending_responses(client) or {}
    return bool(pending.get("EXISTS"))


def find_unmarked(client: IMAPClient) -> list[int]:
    """UIDs in the selected folder without the keyword, oldest first."""
    return sorted(client.search(["UNKEYWORD", KEYWORD]))


def fetch_each(client: IMAPClient, uids: Sequence[int], items: list[str]) -> dict[int, dict]:
    """FETCH `items` of `uids` in one command; if the server refuses that or its answer cannot
    be parsed, one UID at a time, leaving out (with a warning) those that still fail, so one
    broken message cannot stop a folder."""
    if not uids:
        return {}
    try:
        # A list, not a sequence-set string: imapclient 4.1 turns a string into int() for its
        # unsolicited-response filter and raises ValueError on "1:5".
        return client.fetch(list(uids), items)
    except IMAPClientAbortError:
        raise
    except (IMAPClientError, ValueError) as exc:
        if len(uids) == 1:
            log.warning(
                "UID %d: cannot FETCH %s (%s); skipped this time", uids[0], " ".join(items), exc
            )
            return {}
    out: dict[int, dict] = {}
    for uid in uids:
        out.update(fetch_each(client, [uid], items))
    return out


def describe(client: IMAPClient, uids: Sequence[int]) -> list[Candidate]:
    """FLAGS, INTERNALDATE, size and has-HTML of `uids`. Vanished UIDs are left out; one whose
    BODYSTRUCTURE cannot be had is described without it (and so counts as HTML)."""
    if not uids:
        return []
    basic = ["FLAGS", "INTERNALDATE", "RFC822.SIZE"]
    data = fetch_each(client, uids, basic + ["BODYSTRUCTURE"])
    missing = [u for u in uids if u not in data]
    if missing:
        data.update(fetch_each(client, missing, basic))
    out = []
    for uid in uids:
        item = data.get(uid)
        if item is None:  # expunged by someone else meanwhile
            continue
        out.append(
            Candidate(
                uid=uid,
                flags=tuple(item.get(b"FLAGS", ())),
                internaldate=item.get(b"INTERNALDATE"),
                size=int(item.get(b"RFC822.SIZE", 0)),
                html=has_html(item[b"BODYSTRUCTURE"]) if b"BODYSTRUCTURE" in item else True,
            )
        )
    return out


def body_batches(cands: Sequence[Candidate]) -> Iterator[list[Candidate]]:
    """Groups of candidates small enough to download with one FETCH."""
    group: list[Candidate] = []
    size = 0
    for cand in cands:
        if group and (size + cand.size > BODY_BATCH_BYTES or len(group) >= BODY_BATCH_COUNT):
            yield group
            group, size = [], 0
        group.append(cand)
        size += cand.size
    if group:
        yield group


def fetch_bodies(client: IMAPClient, cands: Sequence[Candidate]) -> dict[int, bytes | None]:
    """The full text of each candidate, without setting \\Seen (BODY.PEEK); None for one
    expunged meanwhile (Dovecot then answers its FETCH with BODY[] NIL)."""
    if not cands:
        return {}
    data = fetch_each(client, [c.uid for c in cands], ["BODY.PEEK[]"])
    return {uid: item[b"BODY[]"] for uid, item in data.items() if b"BODY[]" in item}


def mark(client: IMAPClient, uids: Sequence[int]) -> None:
    """Add the keyword to `uids` (nothing to remove, or no HTML)."""
    if uids:
        client.add_flags(seqset(uids), [KEYWORD], silent=True)
