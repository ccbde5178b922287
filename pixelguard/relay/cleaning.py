"""Run the (CPU-bound, synchronous) core off the event loop, in a pool of processes.

The relay never lets cleaning fail a delivery: a core error, an exception, or a crashed
worker all give the original bytes plus `X-PixelGuard: error; ...` (headers.mark_error).
"""
from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
from concurrent.futures import Executor, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field

from pixelguard import clean_message
from pixelguard.headers import mark_error
from pixelguard.model import Finding, Policy

log = logging.getLogger("pixelguard.relay")


@dataclass(frozen=True)
class Cleaned:
    raw: bytes  # what goes to the next hop
    findings: list[Finding] = field(default_factory=list)
    error: str | None = None


def clean_or_mark(raw: bytes, policy: Policy) -> Cleaned:
    """The core's answer, or the message unchanged and marked when the core failed."""
    try:
        result = clean_message(raw, policy)
    except Exception as exc:  # noqa: BLE001 - the core promises not to raise; guard anyway
        error = f"core raised {exc.__class__.__name__}"
        return Cleaned(mark_error(raw, error), [], error)
    if result.error is not None:
        return Cleaned(mark_error(raw, result.error), [], result.error)
    return Cleaned(result.raw, list(result.findings), None)


def _warm_up() -> int:
    clean_message(b"Subject: warm-up\r\n\r\n<p>x</p>\r\n", Policy())
    return os.getpid()


class Cleaner:
    """Cleans messages for the relay.

    workers=None: one process per core; workers=0: a thread of the relay process (the
    core still runs off the event loop, but shares the GIL); enabled=False forwards
    messages untouched (the benchmark's pass-through baseline).
    """

    def __init__(self, workers: int | None = None, enabled: bool = True) -> None:
        self.enabled = enabled
        self.workers = (os.cpu_count() or 1) if workers is None else workers
        self._pool: Executor | None = None

    def _executor(self) -> Executor | None:
        if self.workers == 0:
            return None  # the loop's default thread pool
        if self._pool is None:
            # forkserver: never fork a process that runs threads (the loop, pool managers).
            context = multiprocessing.get_context("forkserver")
            self._pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=context)
        return self._pool

    def start(self) -> None:
        """Start the worker processes now, so the first message does not pay for it."""
        if not self.enabled or self.workers == 0:
            return
        pool = self._executor()
        assert pool is not None
        for future in [pool.submit(_warm_up) for _ in range(self.workers)]:
            future.result(timeout=120)

    async def clean(self, raw: bytes, policy: Policy) -> Cleaned:
        if not self.enabled:
            return Cleaned(raw)
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor(), clean_or_mark, raw, policy)
        except BrokenProcessPool:
            log.error("cleaning worker died; message forwarded uncleaned, pool restarted")
            broken, self._pool = self._pool, None
            if broken is not None:
                broken.shutdown(wait=False, cancel_futures=True)
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
