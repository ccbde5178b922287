"""Run the (CPU-bound, synchronous) core off the event loop, in a pool of processes.

The relay never lets cleaning fail a delivery: a core error, an exception, or a crashed
worker all give the original bytes plus `X-PixelGuard: error; ...` (headers.mark_error).
"""
from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import signal
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field

from pixelguard import clean_message, trust
from pixelguard.config import AuthConfig
from pixelguard.headers import mark_error
from pixelguard.model import Finding, Policy

log = logging.getLogger("pixelguard.relay")


@dataclass(frozen=True)
class Cleaned:
    raw: bytes  # what goes to the next hop
    findings: list[Finding] = field(default_factory=list)
    error: str | None = None


def clean_or_mark(raw: bytes, policy: Policy, auth: AuthConfig | None = None) -> Cleaned:
    """The core's answer, or the message unchanged and marked when the core failed. With
    `auth`, DKIM is verified first where it matters (allowed senders, ARC sealing)."""
    try:
        out, result = trust.clean_with_trust(raw, policy, auth)
    except Exception as exc:  # noqa: BLE001 - the core promises not to raise; guard anyway
        error = f"core raised {exc.__class__.__name__}"
        return Cleaned(mark_error(raw, error), [], error)
    if result.error is not None:
        return Cleaned(mark_error(raw, result.error), [], result.error)
    return Cleaned(out, list(result.findings), None)


_STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}


def _detach() -> None:
    """Worker initializer: leave the relay's process group and session.

    A terminal's Ctrl-C or a kill of the whole group is meant for the relay, which drains
    its sessions and then stops the workers itself; a worker killed first would send the
    messages in flight on uncleaned. (systemd: KillMode=mixed, see docs/systemd.)
    The worker was started with these signals blocked (see Cleaner._submit): one sent to
    the group while it booted is pending; ignoring them discards it before unblocking.
    """
    for sig in _STOP_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)
    os.setsid()
    for sig in _STOP_SIGNALS:
        signal.signal(sig, signal.SIG_DFL)  # the pool's own terminate() must still work
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)


def _warm_up() -> int:
    clean_message(b"Subject: warm-up\r\n\r\n<p>x</p>\r\n", Policy())
    return os.getpid()


class Cleaner:
    """Cleans messages for the relay.

    workers=None: one process per core; workers=0: a thread of the relay process (the
    core still runs off the event loop, but shares the GIL); enabled=False forwards
    messages untouched (the benchmark's pass-through baseline).
    """

    def __init__(self, workers: int | None = None, enabled: bool = True,
                 auth: AuthConfig | None = None) -> None:
        self.enabled = enabled
        # DKIM verification / ARC sealing settings the relay starts with; each clean() is
        # given those of its transaction (a reload may have changed them), pickled to the workers
        self.auth = auth
        self.workers = (os.cpu_count() or 1) if workers is None else workers
        self._pool: Executor | None = None

    def _executor(self) -> Executor | None:
        if self.workers == 0:
            return None  # the loop's default thread pool
        if self._pool is None:
            self._pool = self._new_pool()
        return self._pool

    def _new_pool(self) -> Executor:
        # spawn: never fork a process that runs threads (the loop, pool managers), and the
        # workers are our own children (a forkserver killed by a group signal breaks the pool).
        context = multiprocessing.get_context("spawn")
        return ProcessPoolExecutor(max_workers=self.workers, mp_context=context, initializer=_detach)

    def start(self) -> None:
        """Start the worker processes now, so the first message does not pay for it."""
        if not self.enabled or self.workers == 0:
            return
        self._warm(self._executor())

    def _warm(self, pool: Executor | None) -> None:
        for future in [self._submit(_warm_up, pool=pool) for _ in range(self.workers)]:
            future.result(timeout=120)

    def renew(self) -> None:
        """Forget what cleaning loaded from files (the extra tracker lists, cached per path):
        the next messages go to fresh workers, started here (blocking: call it off the event
        loop); the old workers finish the messages they have, then exit."""
        if not self.enabled:
            return
        if self.workers == 0:  # cleaning runs in this process: its cache is the one to empty
            from pixelguard import core

            core.forget_tracker_lists()
            return
        fresh = self._new_pool()
        try:
            self._warm(fresh)
        except BaseException:
            fresh.shutdown(wait=False, cancel_futures=True)
            raise
        old, self._pool = self._pool, fresh
        if old is not None:
            old.shutdown(wait=False)  # what was submitted to it still runs

    def _submit(self, fn, *args, pool: Executor | None = None) -> Future:
        """pool.submit with SIGTERM/SIGINT blocked: a worker it spawns inherits the mask,
        so a group signal cannot kill it before _detach() has moved it out of the group."""
        pool = pool or self._executor()
        assert pool is not None
        old = signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
        try:
            return pool.submit(fn, *args)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, old)

    async def clean(self, raw: bytes, policy: Policy, auth: AuthConfig | None = None) -> Cleaned:
        """`raw` cleaned with `policy`; `auth`: DKIM/ARC settings (None: no DKIM check)."""
        if not self.enabled:
            return Cleaned(raw)
        used = None
        try:
            args = (raw, policy) if auth is None else (raw, policy, auth)
            if self.workers == 0:
                return await asyncio.to_thread(clean_or_mark, *args)
            used = self._executor()  # the pool this job goes to (_submit uses the same one)
            return await asyncio.wrap_future(self._submit(clean_or_mark, *args))
        except BrokenProcessPool:
            log.error("cleaning worker died; message forwarded uncleaned, pool restarted")
            # Only retire the pool that broke: another message may already have started a
            # fresh one, which must not be shut down under it.
            if used is not None and self._pool is used:
                self._pool = None
            if used is not None:
                used.shutdown(wait=False, cancel_futures=True)
            error = "cleaning worker crashed"
            return Cleaned(mark_error(raw, error), [], error)
        except Exception as exc:
            log.exception("cleaning failed; message forwarded uncleaned")
            error = f"cleaning failed: {exc.__class__.__name__}"
            return Cleaned(mark_error(raw, error), [], error)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
