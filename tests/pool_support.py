"""What the tests look at inside the relay's cleaning pool: its workers' process ids (to
signal or kill one, or to see which one served a job). The pool keeps them to itself."""
from __future__ import annotations

from pixelguard.relay.cleaning import Cleaner
from pixelguard.relay.workers import WorkerPool


def pids(pool: WorkerPool, busy: bool = False) -> list[int]:
    """The workers' process ids (busy=True: only of those given a job now)."""
    with pool._lock:
        return [w.pid for w in pool._workers if w.pid is not None and (w.pending or not busy)]


def worker_pids(cleaner: Cleaner, busy: bool = False) -> list[int]:
    """The process ids of a Cleaner's workers (busy=True: those given a message now)."""
    pool = cleaner._pool
    return pids(pool, busy) if pool is not None else []


def held(pool: WorkerPool) -> list[int]:
    """How many jobs each worker holds (the one it runs and those queued behind it)."""
    with pool._lock:
        return [w.pending for w in pool._workers]


def waiting(pool: WorkerPool) -> int:
    """How many jobs wait for a worker to take them."""
    with pool._lock:
        return sum(not w.done() for w in pool._waiters)
