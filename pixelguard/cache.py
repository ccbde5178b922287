"""Cache: everything the core keeps between messages, in one bounded object the caller owns.

    cache = Cache(lists={paths: load_lists(paths)})   # the caller reads the list files
    clean_message(raw, policy, cache)                 # the core reads none

It holds the tracker lists the caller loaded, by the paths a Policy names in `extra_lists`
(the shipped list needs no loading), and bounded memories of what a piece of text alone
decides (a style, a stylesheet, a tag, a URL), kept because mail from one template repeats
it within and between messages.
Nothing in it depends on a recipient or a policy. A config reload swaps the whole object
(`swap()` for the process default that `clean_message(raw, policy)` uses).

What is kept, and what each memory is worth: benchmarks/README.md, "What the core keeps
between messages".
"""
from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Mapping, Sequence

import cachetools

from pixelguard.trackers import TrackerList, default_list

MAX_LISTS = 8  # sets of extra tracker lists kept (one per config; the milter merges policies)


class ListsNotLoaded(LookupError):
    """A policy names tracker lists its cache was not given (and cannot load)."""


class Memory:
    """At most `chars` characters of results (each costing what its caller counts: its key's
    characters and more); a result costing more than `largest` is never kept. Evicts the
    oldest first (cachetools.FIFOCache: a hit costs no bookkeeping). `get(key, default=None)`
    is a plain dict's: it runs for every tag, style and URL of a message."""

    __slots__ = ("_kept", "_lock", "_values", "get", "largest")

    def __init__(self, chars: int, largest: int) -> None:
        self.largest = largest
        # the values by key; the FIFOCache keeps their costs (it drops a key from both on
        # eviction)
        self._values: dict[Hashable, object] = {}
        self._kept: _Kept = _Kept(chars, self._values)
        self._lock = threading.Lock()
        self.get: Callable[..., object] = self._values.get

    def put(self, key: Hashable, value: object, cost: int) -> None:
        if cost <= self.largest:
            # (one writer at a time: threads share the process default Cache, and the
            # FIFOCache's eviction is not safe against a concurrent put. The value first:
            # the FIFOCache evicts only keys it holds, so every key it holds has its value here)
            with self._lock:
                self._values[key] = value
                self._kept[key] = cost

    def __contains__(self, key: object) -> bool:
        return key in self._values

    def __len__(self) -> int:
        return len(self._kept)

    @property
    def used(self) -> int:
        """Characters spent of the budget."""
        return int(self._kept.currsize)


class _Kept(cachetools.FIFOCache):
    """The bounded store of a Memory: the cost of each key's value (the value is in
    `values`, which what it evicts leaves too)."""

    def __init__(self, chars: int, values: dict[Hashable, object]) -> None:
        super().__init__(chars, getsizeof=int)  # (an entry is its cost)
        self._values = values

    def popitem(self) -> tuple[Hashable, int]:
        key, cost = super().popitem()
        self._values.pop(key, None)
        return key, cost


class Cache:
    """What the core keeps between messages. `lists`: tracker lists the caller loaded, by the
    `Policy.extra_lists` that names them; `load_lists`: how to load others on first use (None:
    a policy naming lists not given is an error the message reports)."""

    def __init__(self, lists: Mapping[tuple[str, ...], TrackerList] | None = None, *,
                 load_lists: Callable[[Sequence[str]], TrackerList] | None = None) -> None:
        self._load = load_lists
        self._lists: cachetools.LRUCache = cachetools.LRUCache(MAX_LISTS)
        for paths, loaded in (lists or {}).items():
            self._lists[tuple(paths)] = loaded
        self._lock = threading.Lock()
        # Each memory is bounded by characters of what it keeps (parsed CSS takes some 30
        # bytes per character of its text): some tens of MB in all, whatever the mail.
        self.styles = Memory(1 << 19, 4096)  # style="" text -> css.parse_inline's result
        self.sheets = Memory(1 << 20, 64 * 1024)  # <style> text -> css.parse_stylesheet's
        self.boxes = Memory(1 << 20, 4096)  # start tag text -> visibility.tag_box
        self.resolved = Memory(1 << 20, 4096)  # (reference, base) -> urls.resolve
        self.urls = Memory(1 << 20, 4096)  # URL -> shape.url_facts
        self.verdicts = Memory(1 << 19, 2048)  # (TrackerList, URL) -> its match

    def tracker_list(self, paths: tuple[str, ...]) -> TrackerList:
        """The shipped list plus the extra lists at `paths` (the shipped list alone for none)."""
        if not paths:
            return default_list()
        with self._lock:  # (an LRUCache reorders itself on every read)
            found = self._lists.get(paths)
        if found is None:
            if self._load is None:
                raise ListsNotLoaded(f"tracker lists not loaded by the caller: {', '.join(paths)}")
            with self._lock:
                found = self._lists.get(paths)
                if found is None:
                    found = self._lists[paths] = self._load(list(paths))
        return found


_default: Cache | None = None


def default() -> Cache:
    """The process's cache for callers that pass none: it loads extra tracker lists from
    their files on first use (trackers.load_lists)."""
    global _default
    cache = _default
    if cache is None:
        from pixelguard.trackers import load_lists

        cache = _default = Cache(load_lists=load_lists)
    return cache


def swap(new: Cache | None = None) -> None:
    """Replace the process default cache (None: a fresh one on next use), as a config reload
    does: the lists are read again and the memories start empty."""
    global _default
    _default = new
