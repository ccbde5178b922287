"""Apply source edits to the original HTML text, leaving every other character as written."""
from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # a type only: detect calls this module, so it cannot import detect
    from pixelguard.detect.vectors import Edit


def apply_edits(text: str, edits: Iterable[Edit]) -> str:
    """Apply non-overlapping edits; where edits overlap, the one starting first (and, at the
    same start, the widest) wins, e.g. removing a whole <img> beats rewriting its srcset."""
    # at one offset: insertions (the notice) first, then the widest removal
    ordered = sorted(set(edits), key=lambda e: (e.start, e.end != e.start, -(e.end - e.start)))
    out: list[str] = []
    pos = 0
    for e in ordered:
        if e.start < pos:
            continue  # inside (or overlapping) an edit already applied
        out.append(text[pos : e.start])
        out.append(e.text)
        pos = e.end
    out.append(text[pos:])
    return "".join(out)
