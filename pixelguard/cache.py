"""Cache: everything the core keeps between messages, in one bounded object the caller owns.

    cache = Cache()
    cache.load(policy)                 # the caller reads the list files the policy names
    clean_message(raw, policy, cache)  # the core reads none

It holds the lists the caller loaded, by the paths a Policy names (`extra_lists`: tracker
lists; `links.lists`: redirector and parameter lists; the shipped lists need no loading), and
bounded memories of what a piece of text alone decides (a style, a stylesheet, a tag, a URL),
kept because mail from one template repeats it within and between messages.
Nothing in it depends on a recipient or a policy. A config reload swaps the whole object
(`swap()` for the process default that `clean_message(raw, policy)` uses): the lists are read
anew, the memories start empty, and a message being cleaned keeps the object it started with.

What is kept, and what each memory is worth: benchmarks/README.md, "What the core keeps
between messages".
"""
from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Self

import cachetools

from pixelguard.trackers import TrackerList, default_list

if TYPE_CHECKING:  # links is imported only when a policy turns link edits on
    from pixelguard.links.rules import LinkRules
    from pixelguard.model import Policy

MAX_LISTS = 8  # sets of extra lists of each kind kept (one per config; the milter merges policies)
# A list set that could not be read is read again by load() when one of its files changes, and
# at least this often (seconds): for a failure the files do not show (too many open files, out
# of memory), and a change that left their stat as it was. Short enough that such a failure
# leaves few messages uncleaned; long enough that a large broken list is not parsed for every
# message.
RETRY_UNREADABLE = 1.0


class ListsNotLoaded(LookupError):
    """A policy names lists its cache was not given (and cannot load), or could not be read."""


class _Unreadable(str):
    """What a Cache keeps of a list set `load()` could not read: the error's text alone (an
    exception kept would keep the frames of the message that last raised it, and the error
    it was raised from), the state of its files before that read, and when it was read."""

    def __new__(cls, error: str, files: tuple[object, ...], read_at: float) -> Self:
        self = super().__new__(cls, error)
        self.files, self.read_at = files, read_at
        return self

    def stale(self, paths: tuple[str, ...]) -> bool:
        """Whether the set is worth reading again: a file changed, or the retry time passed."""
        return (time.monotonic() - self.read_at >= RETRY_UNREADABLE
                or _files_state(paths) != self.files)


def _files_state(paths: tuple[str, ...]) -> tuple[object, ...]:
    """What tells a changed list file from the one read: path, size, mtime, ctime (which a
    chmod or chown changes too) and inode (or why it cannot be looked at)."""
    state: list[object] = []
    for path in paths:
        try:
            st = os.stat(path)
        except (OSError, ValueError) as exc:  # missing, unreadable directory, NUL in the path
            state.append((path, type(exc).__name__, getattr(exc, "errno", None)))
        else:
            state.append((path, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev))
    return tuple(state)


class Memory:
    """At most `chars` characters of results (each costing what its caller counts: its key's
    characters and more); a result costing more than `largest` is never kept. `get(key,
    default=None)` is a plain dict's: it runs for every tag, style and URL of a message.

    A put runs for every new piece of text (some 80 in a corpus message, thousands in a large
    one), so it costs about a dict write: new results are counted in a batch, and a batch
    goes into a cachetools.FIFOCache as one entry costing the sum of its results' costs once
    it holds a sixteenth of the budget. The FIFOCache keeps the budget, less that sixteenth,
    and evicts the oldest batch first, with its results."""

    __slots__ = ("_batch", "_batch_chars", "_batch_limit", "_kept", "_lock", "_values", "chars",
                 "get", "largest")

    def __init__(self, chars: int, largest: int) -> None:
        self.chars = chars
        self.largest = min(largest, chars - chars // 16)  # (what fits the FIFOCache below)
        # the values by key; the FIFOCache holds the batches of their keys (dropping a batch
        # drops its keys from both)
        self._values: dict[Hashable, object] = {}
        self._batch_limit = chars // 16
        self._kept: _Kept = _Kept(chars - self._batch_limit, self._values)
        self._batch: list[Hashable] = []  # keys put since the last batch went in
        self._batch_chars = 0
        self._lock = threading.Lock()
        self.get: Callable[..., object] = self._values.get

    def put(self, key: Hashable, value: object, cost: int) -> None:
        if cost <= self.largest:
            # (one writer at a time: threads share the process default Cache, and the
            # FIFOCache's eviction is not safe against a concurrent put)
            with self._lock:
                if key in self._values:  # (two threads missed it at once: it is counted once)
                    return
                if self._batch_chars + cost > self._batch_limit:
                    self._close_batch()
                    if cost > self._batch_limit:  # (a tiny memory's: a batch of one)
                        self._values[key] = value
                        self._kept[(key,)] = (key,), cost
                        return
                self._values[key] = value
                self._batch.append(key)
                self._batch_chars += cost

    def _close_batch(self) -> None:
        if self._batch:
            keys = tuple(self._batch)
            self._kept[keys] = keys, self._batch_chars
            self._batch = []
            self._batch_chars = 0

    def __contains__(self, key: object) -> bool:
        return key in self._values

    def __len__(self) -> int:
        return len(self._values)

    @property
    def used(self) -> int:
        """Characters spent of the budget."""
        return int(self._kept.currsize) + self._batch_chars


class _Kept(cachetools.FIFOCache):
    """The bounded store of a Memory: batches of its keys, each costing what its results
    cost (the results are in `values`, which what it evicts leaves too)."""

    def __init__(self, chars: int, values: dict[Hashable, object]) -> None:
        super().__init__(chars, getsizeof=_cost_of)
        self._values = values

    def popitem(self) -> tuple[Hashable, tuple[tuple[Hashable, ...], int]]:
        batch, (keys, cost) = super().popitem()
        for key in keys:
            self._values.pop(key, None)
        return batch, (keys, cost)


def _cost_of(entry: tuple[tuple[Hashable, ...], int]) -> int:
    return entry[1]


class Cache:
    """What the core keeps between messages.

    `lists`: tracker lists the caller loaded, by the `Policy.extra_lists` that names them;
    `links`: link lists (pixelguard.links.rules.load_rules), by the `LinkOptions.lists`.
    `load_lists`, `load_links`: how `load()` reads lists (None: trackers.load_lists,
    links.rules.load_rules), and, when given, how the core reads a set on first use that the
    caller did not load (without them, a policy naming lists not loaded is an error the
    message reports)."""

    def __init__(self, lists: Mapping[tuple[str, ...], TrackerList] | None = None, *,
                 links: Mapping[tuple[str, ...], LinkRules] | None = None,
                 load_lists: Callable[[Sequence[str]], TrackerList] | None = None,
                 load_links: Callable[[Sequence[str]], LinkRules] | None = None) -> None:
        self._load = load_lists
        self._load_links = load_links
        # paths -> what was loaded, or the exception loading them gave (reported by the core)
        self._lists: cachetools.LRUCache = cachetools.LRUCache(MAX_LISTS)
        self._links: cachetools.LRUCache = cachetools.LRUCache(MAX_LISTS)
        for paths, loaded in (lists or {}).items():
            self._lists[tuple(paths)] = loaded
        for paths, rules in (links or {}).items():
            self._links[tuple(paths)] = rules
        self._lock = threading.Lock()
        # Each memory is bounded by characters of what it keeps (parsed CSS takes some 30
        # bytes per character of its text): some tens of MB in all, whatever the mail.
        self.styles = Memory(1 << 19, 4096)  # style="" text -> css.parse_inline's result
        self.sheets = Memory(1 << 20, 64 * 1024)  # <style> text -> css.parse_stylesheet's
        # a kept StyleSheet -> what its rules reveal and hide (detect.visibility)
        self.sheet_facts = Memory(1 << 20, 64 * 1024)
        self.tags = Memory(1 << 21, 4096)  # start tag text -> its attributes' matches
        self.boxes = Memory(1 << 20, 4096)  # start tag text -> visibility.tag_box
        self.style_facts = Memory(1 << 19, 1024)  # style="" text -> how it hides an element
        self.resolved = Memory(1 << 20, 4096)  # (reference, base) -> urls.resolve
        # (TrackerList, URL) -> (shape.url_facts, the list's match): one entry per new URL
        self.urls = Memory(1 << 20, 4096)

    def tracker_list(self, paths: tuple[str, ...]) -> TrackerList:
        """The shipped list plus the extra lists at `paths` (the shipped list alone for none).
        Raises ListsNotLoaded for lists neither given nor loaded by `load()` (or that it could
        not read), and what loading them raised when this cache loads them on first use."""
        if not paths:
            return default_list()
        return self._kept(self._lists, paths, self._load, "tracker lists")

    def link_rules(self, paths: tuple[str, ...]) -> LinkRules:
        """The shipped link list plus the user's lists at `paths`. Raises as tracker_list()
        does (LinkListError when this cache loads them on first use)."""
        if not paths:
            from pixelguard.links.rules import shipped_rules

            return shipped_rules()
        return self._kept(self._links, paths, self._load_links, "links lists")

    def load(self, policy: Policy) -> None:
        """Read the list files `policy` names that this cache does not hold yet: the caller's
        step before `clean_message`, which then reads none. A set that cannot be read is kept
        as its error, which the core reports for each message naming it (the tracker lists:
        the message passes with `error`; link lists: its links stay as sent), and is read
        again by a later load() once one of its files changed (path, size, mtime, ctime, inode)
        or RETRY_UNREADABLE seconds passed."""
        if policy.extra_lists:
            from pixelguard.trackers import load_lists

            self._fill(self._lists, policy.extra_lists, self._load or load_lists)
        if policy.links.active and policy.links.lists:
            from pixelguard.links.rules import load_rules

            self._fill(self._links, policy.links.lists, self._load_links or load_rules)

    def _fill(self, kept: cachetools.LRUCache, paths: tuple[str, ...],
              load: Callable[[Sequence[str]], Any]) -> None:
        with self._lock:
            found = kept.get(paths)
        if found is not None and not (isinstance(found, _Unreadable) and found.stale(paths)):
            return
        files = _files_state(paths)  # (before reading: a change while it reads is seen next)
        read_at = time.monotonic()
        try:
            loaded: object = load(list(paths))
        except Exception as exc:  # noqa: BLE001 - reported by the core with each message
            loaded = _Unreadable(str(exc) or type(exc).__name__, files, read_at)
        with self._lock:
            # (a read that failed does not replace a set another thread read meanwhile)
            if not (isinstance(loaded, _Unreadable) and kept.get(paths) is not None
                    and not isinstance(kept.get(paths), _Unreadable)):
                kept[paths] = loaded

    def _kept(self, kept: cachetools.LRUCache, paths: tuple[str, ...],
              load: Callable[[Sequence[str]], Any] | None, what: str) -> Any:
        with self._lock:  # (an LRUCache reorders itself on every read)
            found = kept.get(paths)
        if found is None:
            if load is None:
                raise ListsNotLoaded(f"{what} not loaded by the caller: {', '.join(paths)}")
            with self._lock:
                found = kept.get(paths)
                if found is None:
                    found = kept[paths] = load(list(paths))
        if isinstance(found, _Unreadable):
            raise ListsNotLoaded(str(found))
        return found


_default: Cache | None = None


def default() -> Cache:
    """The process's cache for callers that pass none: it reads the lists a policy names
    from their files on first use (trackers.load_lists, links.rules.load_rules)."""
    global _default
    cache = _default
    if cache is None:
        from pixelguard.trackers import load_lists

        cache = _default = Cache(load_lists=load_lists, load_links=_load_links)
    return cache


def _load_links(paths: Sequence[str]) -> LinkRules:
    from pixelguard.links.rules import load_rules  # (only for a policy with link lists)

    return load_rules(paths)


def swap(new: Cache | None = None) -> None:
    """Replace the process default cache (None: a fresh one on next use), as a config reload
    does: the lists are read again and the memories start empty."""
    global _default
    _default = new
