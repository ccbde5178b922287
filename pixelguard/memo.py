"""Bounded memories of pure functions, kept between messages by a long-lived process.

Mail from one template (a campaign to many recipients, a weekly newsletter) repeats its
images, references and tags message after message, so the core remembers what such a piece
of text alone decides. Hostile mail can be made of nothing but new, long pieces: each memory
has a budget of entries and of characters (of its keys, plus what the caller counts for a
value), and when either is spent it forgets everything at once. That costs nothing on a hit
(no LRU bookkeeping) and a template still in use is learnt again within a message.

Only results that depend on nothing but the key may be kept: never a recipient, a policy, or
where a piece sits in its document.
"""
from __future__ import annotations

from typing import Generic, Hashable, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

MISSING = object()  # get()'s default where None is a result worth keeping


class Memo(Generic[K, V]):
    """At most `entries` results and `chars` characters; a result costing more than
    `largest` is never kept. Safe to share between threads: a race can only forget."""

    __slots__ = ("entries", "chars", "largest", "_kept", "_used")

    def __init__(self, entries: int, chars: int, largest: int) -> None:
        self.entries = entries
        self.chars = chars
        self.largest = largest
        self._kept: dict[K, V] = {}
        self._used = 0

    def get(self, key: K, default: V | None = None) -> V | None:
        return self._kept.get(key, default)

    def put(self, key: K, value: V, cost: int) -> None:
        """Keep `value` for `key`; `cost`: the characters it holds (its key's and more)."""
        if cost > self.largest:
            return
        if len(self._kept) >= self.entries or self._used + cost > self.chars:
            self.clear()
        self._kept[key] = value
        self._used += cost

    def clear(self) -> None:
        self._kept = {}
        self._used = 0

    def __contains__(self, key: object) -> bool:
        return key in self._kept

    def __len__(self) -> int:
        return len(self._kept)

    @property
    def used(self) -> int:
        """Characters spent of the budget."""
        return self._used
