"""What a pass does with a message without `$PixelGuarded` (pixelguard/imap/keep.py)."""

from __future__ import annotations

import pytest

from pixelguard.imap.keep import CLEAN, KEEP, LEFTOVER, classify, kept_flags

KEEP_KW, ORIGINAL_KW = b"$PixelGuardKeep", b"$PixelGuardOriginal"


@pytest.mark.parametrize(
    "flags, copies, expected",
    [
        ((), [], (CLEAN, None)),  # new mail
        ((b"\\Seen",), [12], (LEFTOVER, 12)),  # a crashed run's copy above it: retire it
        ((ORIGINAL_KW,), [12], (LEFTOVER, 12)),  # marked, then killed before the move
        ((), [3], (KEEP, 3)),  # its copy is older than it: put back, keywords dropped
        ((ORIGINAL_KW,), [3], (KEEP, 3)),  # moved back by hand
        ((ORIGINAL_KW,), [], (KEEP, None)),  # moved back after the copy was deleted
        ((b"$pixelguardkeep",), [12], (KEEP, 12)),  # keep wins, in any case of the keyword
        ((KEEP_KW,), [3, 7, 12], (KEEP, 7)),  # the nearest copy below
        ((), [3, 12], (LEFTOVER, 12)),  # a copy above means a crash: that comes first
    ],
)
def test_classify(flags, copies, expected):
    assert classify(10, flags, copies) == expected


def test_kept_original_takes_the_copys_flags_without_pixelguards_own():
    copy = (b"\\Seen", b"\\Answered", b"Work", b"$PixelGuarded", b"\\Recent")
    original = (b"\\Flagged", ORIGINAL_KW)

    assert kept_flags(original, copy) == [b"\\Seen", b"\\Answered", b"Work", KEEP_KW]


def test_kept_original_without_copy_keeps_its_own_flags():
    assert kept_flags((b"\\Flagged", ORIGINAL_KW), None) == [b"\\Flagged", KEEP_KW]


def test_deleted_is_never_carried_over_but_the_originals_own_stays():
    assert kept_flags((), (b"\\Deleted", b"\\Seen")) == [b"\\Seen", KEEP_KW]
    assert kept_flags((b"\\Deleted",), (b"\\Seen",)) == [b"\\Seen", b"\\Deleted", KEEP_KW]
