"""Run the (CPU-bound, synchronous) core off the event loop, in a pool of processes
(relay/workers.py).

The relay never lets cleaning fail a delivery: a core error, an exception, or a message
that crashed two workers all give the original bytes plus `X-PixelGuard: error; ...`
(headers.mark_error). Cleaning is pure, so a message whose worker died under it (killed by
the OOM killer, an admin, a bug in a C extension) is cleaned once more on another worker;
only a message that kills that one too passes uncleaned. A worker that does not answer by
the message's deadline (its policy's time budget plus CLEANING_MARGIN: the core stops itself
at the budget, so only a stopped or stuck worker goes past it) is killed and replaced, and the
message is handled as if the worker had died under it.

A config reload starts and stops no worker: it bumps the Cleaner's generation, which every job
carries. A worker (or, with workers=0, the relay process) given a job of a newer generation
than its own first swaps its process cache for an empty one (pixelguard.cache.swap), so the
tracker and link lists are read anew, even a file edited in place at the same path, and the
memories start empty; the message it is cleaning keeps the cache it started with. Before each
message the worker reads the lists its policy names that its cache lacks
(trust.clean_with_trust: Cache.load), so the core reads no file; a list that cannot be read is
reported by the core with the message (tracker lists: it passes marked with the error; link
lists: its links stay as sent).
"""
from __future__ import annotations

import asyncio
import contextvars
import itertools
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from pixelguard import cache as _cache
from pixelguard import clean_message, gc_tuning, trust
from pixelguard.cache import Cache
from pixelguard.config import AuthConfig
from pixelguard.headers import mark_error
from pixelguard.model import Finding, LinkChange, Policy
from pixelguard.relay.workers import NotStarted, PoolClosed, WorkerDied, WorkerHung, WorkerPool

log = logging.getLogger("pixelguard.relay")

# Seconds a worker may take past a message's time budget before it is deemed hung: the DKIM
# check's DNS lookups (dkim_verify.DNS_BUDGET, 10 s) come before the budget starts, and
# parsing and pickling a big message take a few seconds more.
CLEANING_MARGIN = 15.0


@dataclass(frozen=True)
class Cleaned:
    raw: bytes  # what goes to the next hop
    findings: list[Finding] = field(default_factory=list)
    error: str | None = None
    links: list[LinkChange] = field(default_factory=list)  # link edits (policy.links)


def clean_or_mark(raw: bytes, policy: Policy, auth: AuthConfig | None = None) -> Cleaned:
    """The core's answer, or the message unchanged and marked when the core failed. With
    `auth`, DKIM is verified first where it matters (allowed senders, ARC sealing)."""
    try:
        out, result = trust.clean_with_trust(raw, policy, auth, cache=_job_cache.get())
    except Exception as exc:  # noqa: BLE001 - the core promises not to raise; guard anyway
        error = f"core raised {exc.__class__.__name__}"
        return Cleaned(mark_error(raw, error), [], error)
    if result.error is not None:
        return Cleaned(mark_error(raw, result.error), [], result.error)
    return Cleaned(out, list(result.findings), None, list(result.links))


# The cache in_generation chose for the job this thread (or worker) runs, for clean_or_mark
# (tests replace clean_or_mark with functions of its signature, so it is not an argument).
_job_cache: contextvars.ContextVar[Cache | None] = contextvars.ContextVar("job_cache", default=None)
_generation_lock = threading.Lock()
_generation = 0  # the reload generation this process's default cache was made for
# Reload generations, increasing across every Cleaner of the process: with workers=0 the
# Cleaners of one process share its default cache.
_generations = itertools.count(1)


def in_generation(generation: int, clean: Callable[..., Cleaned], raw: bytes, policy: Policy,
                  *rest: AuthConfig) -> Cleaned:
    """`clean(raw, policy, *rest)` (clean_or_mark) with this process's cache of reload
    `generation` (a newer one than the cache's swaps in an empty cache first; an older one
    takes the newer cache: its lists are the files as they are now)."""
    global _generation
    with _generation_lock:
        if generation > _generation:
            _cache.swap()
            _generation = generation
        cache = _cache.default()
    token = _job_cache.set(cache)  # (a swap by the next job's thread leaves it this one)
    try:
        return clean(raw, policy, *rest)
    finally:
        _job_cache.reset(token)


def _warm_up() -> int:
    clean_message(b"Subject: warm-up\r\n\r\n<p>x</p>\r\n", Policy())
    return os.getpid()


class Cleaner:
    """Cleans messages for the relay.

    workers=None: one process per core; workers=0: a thread of the relay process (the
    core still runs off the event loop, but shares the GIL).
    """

    def __init__(self, workers: int | None = None, auth: AuthConfig | None = None,
                 margin: float = CLEANING_MARGIN) -> None:
        self.margin = margin  # a worker is killed this long past the message's time budget
        # DKIM verification / ARC sealing settings the relay starts with; each clean() is
        # given those of its transaction (a reload may have changed them), pickled to the workers
        self.auth = auth
        self.workers = (os.cpu_count() or 1) if workers is None else workers
        self.generation = 0  # bumped by each config reload: the jobs' caches are made anew
        self._pool: WorkerPool | None = None
        self._lock = threading.Lock()
        self._closed = False

    def describe(self) -> str:
        """How messages are cleaned, for the start-up log line."""
        return f"cleaning with {self.workers or 'thread'} workers"

    def _current(self) -> WorkerPool:
        with self._lock:
            if self._closed:
                raise PoolClosed("the relay is stopping")
            if self._pool is None:
                self._pool = WorkerPool(self.workers, depth=2)  # workers start on first use
            return self._pool

    def start(self) -> None:
        """Start the worker processes now (blocking), so the first message does not pay for it."""
        if self.workers == 0:  # cleaning runs in this process
            _warm_up()
            gc_tuning.for_many_messages()
            return
        self._current().start(_warm_up)  # (each worker tunes its collector after it)

    def reload(self) -> None:
        """A config reload: the messages handed to the workers from now on are cleaned with a
        new cache, whose lists are read from their files anew (the workers keep running; a
        message they are cleaning finishes with the cache it started with)."""
        self.generation = next(_generations)

    async def clean(self, raw: bytes, policy: Policy, auth: AuthConfig | None = None) -> Cleaned:
        """`raw` cleaned with `policy`; `auth`: DKIM/ARC settings (None: no DKIM check).
        Raises PoolClosed only after close()."""
        try:
            # clean_or_mark as this module holds it now (tests replace it)
            args = (self.generation, clean_or_mark, raw, policy) + (() if auth is None else (auth,))
            if self.workers == 0:
                return await asyncio.to_thread(in_generation, *args)
            deadline = policy.time_budget + self.margin
            try:
                return await self._run(args, deadline)
            except WorkerDied as first:
                log.warning("cleaning worker %s with a message; cleaning it again on another worker",
                            _what_happened(first))
                return await self._run(args, deadline)
        except PoolClosed:
            raise  # the relay stopped: the caller defers the message (never sent uncleaned)
        except WorkerDied as second:
            log.error("a message %s two cleaning workers in a row; forwarded uncleaned, workers "
                      "restarted", "hung" if isinstance(second, WorkerHung) else "killed")
            error = "cleaning worker hung" if isinstance(second, WorkerHung) else "cleaning worker crashed"
            return Cleaned(mark_error(raw, error), [], error)
        except NotStarted:
            log.error("three cleaning workers were lost before one took a message; forwarded "
                      "uncleaned")
            error = "no cleaning worker took the message"
            return Cleaned(mark_error(raw, error), [], error)
        except Exception as exc:
            log.exception("cleaning failed; message forwarded uncleaned")
            error = f"cleaning failed: {exc.__class__.__name__}"
            return Cleaned(mark_error(raw, error), [], error)

    async def _run(self, args: tuple, deadline: float) -> Cleaned:
        return await self._current().run(in_generation, *args, deadline=deadline)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()


def _what_happened(error: WorkerDied) -> str:
    return "hung (killed past the deadline)" if isinstance(error, WorkerHung) else "died"
