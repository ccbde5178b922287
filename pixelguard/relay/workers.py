"""A small pool of cleaning processes, each spoken to over its own socket pair.

Why not concurrent.futures.ProcessPoolExecutor: each job there crosses three threads of
the relay (the event loop, the pool's manager thread and its queue feeder) and so several
wake-ups; on a 2-core VM that cost ~1 ms per message, a fifth of a newsletter's cleaning.
Here the event loop writes the job straight to an idle worker's socket and reads the
answer from it: two wake-ups.

Framing: a 4-byte big-endian length, then a pickle, both ways. A worker is used by one job
at a time. A job whose caller gives up still runs to its end. A job that does not end
normally (the worker died, or its event loop stopped halfway) leaves its worker in an
unknown state: that worker is killed and its slot starts a fresh one for the next job. Whichever event loop runs a job drives the
socket (loop.sock_*), so one pool serves relays on several loops (as the tests do).
"""
from __future__ import annotations

import asyncio
import collections
import multiprocessing
import os
import pickle
import signal
import socket
import struct
import threading
import time
from typing import Any, Callable

_HEADER = struct.Struct("!I")
_STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}
# a worker's answer to a job that raised: the exception's class name and text
_RAISED = "raised"


class WorkerDied(Exception):
    """The worker process ended (killed, crashed) before it answered."""


class PoolClosed(RuntimeError):
    """The pool was retired (a reload replaced it, or the relay stops) before a worker
    became free for this job."""


def _detach() -> None:
    """First thing in a worker: leave the relay's process group and session.

    A terminal's Ctrl-C or a kill of the whole group is meant for the relay, which drains
    its sessions and then stops the workers itself; a worker killed first would send the
    messages in flight on uncleaned. (systemd: KillMode=mixed, see docs/systemd.)
    The worker was started with these signals blocked (see _spawn): one sent to the group
    while it booted is pending; ignoring them discards it before unblocking.
    """
    for sig in _STOP_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)
    os.setsid()
    for sig in _STOP_SIGNALS:
        signal.signal(sig, signal.SIG_DFL)  # the pool's own terminate() must still work
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)


def _recv_exactly(sock: socket.socket, n: int) -> bytes | None:
    buf = bytearray(n)
    view = memoryview(buf)
    got = 0
    while got < n:
        k = sock.recv_into(view[got:])
        if k == 0:
            return None
        got += k
    return bytes(buf)


def _serve(sock: socket.socket) -> None:
    """The worker's loop: read a job, run it, answer; until the relay closes its end."""
    _detach()
    with sock:
        while True:
            header = _recv_exactly(sock, _HEADER.size)
            if header is None:
                return  # the relay closed our socket: retire
            body = _recv_exactly(sock, _HEADER.unpack(header)[0])
            if body is None:
                return
            try:
                fn, args = pickle.loads(body)
                answer: tuple = ("ok", fn(*args))
                out = pickle.dumps(answer, protocol=pickle.HIGHEST_PROTOCOL)
            except Exception as exc:  # noqa: BLE001 - reported to the relay, which decides
                out = pickle.dumps((_RAISED, f"{exc.__class__.__name__}: {exc}"))
            sock.sendall(_HEADER.pack(len(out)) + out)


class _Worker:
    def __init__(self) -> None:
        mine, theirs = socket.socketpair()
        context = multiprocessing.get_context("spawn")  # never fork a process that runs threads
        self.process = context.Process(target=_serve, args=(theirs,), name="pixelguard-cleaner",
                                       daemon=True)  # never outlives the relay's interpreter
        # Started with SIGTERM/SIGINT blocked: the child inherits the mask, so a group
        # signal cannot kill it before _detach() has moved it out of the group.
        old = signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
        try:
            self.process.start()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, old)
            theirs.close()
        mine.setblocking(False)
        self.sock = mine

    @property
    def pid(self) -> int | None:
        return self.process.pid

    def call_blocking(self, fn: Callable, *args: Any, timeout: float) -> Any:
        """A job run from a plain thread (warm-up)."""
        self.sock.settimeout(timeout)
        try:
            for piece in _job(fn, args):
                self.sock.sendall(piece)
            header = _recv_exactly(self.sock, _HEADER.size)
            body = None if header is None else _recv_exactly(self.sock, _HEADER.unpack(header)[0])
        except OSError as exc:
            raise WorkerDied(f"worker {self.pid} failed: {exc}") from None
        finally:
            self.sock.setblocking(False)
        if body is None:
            raise WorkerDied(f"worker {self.pid} ended")
        return _unpack(body)

    async def call(self, fn: Callable, *args: Any) -> bytearray:
        """Send the job, return the answer unread (for _unpack)."""
        loop = asyncio.get_running_loop()
        try:
            # the answer is unpickled from the buffer it was read into: each copy of a big
            # message is time the event loop serves no one else
            for piece in _job(fn, args):
                await loop.sock_sendall(self.sock, piece)
            header = await _read(loop, self.sock, _HEADER.size)
            return await _read(loop, self.sock, _HEADER.unpack(header)[0])
        except OSError as exc:  # ConnectionError included
            raise WorkerDied(f"worker {self.pid} ended: {exc}") from None

    def close(self) -> None:
        """Close our end: an idle worker reads EOF and exits; a busy one after its job."""
        self.sock.close()

    def kill(self) -> None:
        self.sock.close()
        if self.process.is_alive():
            self.process.kill()
        self.process.join(5)



def _job(fn: Callable, args: tuple) -> tuple[bytes, bytes]:
    """The frame of a job: its header and its pickle, sent apart (no copy of a big one)."""
    body = pickle.dumps((fn, args), protocol=pickle.HIGHEST_PROTOCOL)
    return _HEADER.pack(len(body)), body


def _unpack(body: bytes | bytearray) -> Any:
    status, value = pickle.loads(body)
    if status == _RAISED:
        raise RuntimeError(f"in cleaning worker: {value}")
    return value


async def _read(loop: asyncio.AbstractEventLoop, sock: socket.socket, n: int) -> bytearray:
    buf = bytearray(n)
    view = memoryview(buf)
    got = 0
    while got < n:
        k = await loop.sock_recv_into(sock, view[got:])
        if k == 0:
            raise ConnectionResetError("end of stream")
        got += k
    return buf


class WorkerPool:
    """`size` worker processes; `run()` gives a job to an idle one, or waits for one."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._lock = threading.Lock()
        self._idle: collections.deque[_Worker] = collections.deque()
        self._busy: set[_Worker] = set()
        self._vacant = size  # slots with no live worker: filled on demand
        self._waiters: collections.deque[tuple[asyncio.AbstractEventLoop, asyncio.Future]] = collections.deque()
        self._closed = False

    def start(self, warm: Callable[[], Any] | None = None, timeout: float = 120) -> None:
        """Start every worker now (blocking), each running `warm` once."""
        with self._lock:
            count, self._vacant = self._vacant, 0
        started = []
        try:
            for _ in range(count):
                started.append(_Worker())
            for worker in started:
                if warm is not None:
                    worker.call_blocking(warm, timeout=timeout)
        except BaseException:
            for worker in started:
                worker.kill()
            with self._lock:
                self._vacant += count
            raise
        with self._lock:
            self._idle.extend(started)

    def pids(self, busy: bool = False) -> list[int]:
        """The workers' process ids (busy=True: only of those running a job now)."""
        with self._lock:
            workers = self._busy if busy else (*self._idle, *self._busy)
            return [w.pid for w in workers if w.pid is not None]

    async def run(self, fn: Callable, *args: Any) -> Any:
        """fn(*args) in a worker. WorkerDied if the worker ended before answering."""
        worker = await self._acquire()
        try:
            job = asyncio.ensure_future(worker.call(fn, *args))
        except BaseException:
            self._release(worker, True)
            raise

        def done(job: asyncio.Future) -> None:
            # answered (perhaps with an error): fit for the next job; else it is killed
            self._release(worker, not job.cancelled() and job.exception() is None)

        job.add_done_callback(done)
        # A caller that gives up (its client went away) does not cut the job short: the
        # worker would have to be killed and started anew, which a client that keeps
        # hanging up could make us do at will. The job runs on; its worker returns after.
        return _unpack(await asyncio.shield(job))

    async def _acquire(self) -> _Worker:
        loop = asyncio.get_running_loop()
        while True:
            with self._lock:
                if self._closed:
                    raise PoolClosed("worker pool retired")
                worker = None
                while self._idle:
                    worker = self._idle.pop()  # the last used: its caches are warm
                    if worker.process.is_alive():
                        break
                    # died while idle (OOM killer, an admin's kill): no job lost, find another
                    worker.kill()
                    self._vacant += 1
                    worker = None
                if worker is not None:
                    self._busy.add(worker)
                    return worker
                spawn = self._vacant > 0
                if spawn:
                    self._vacant -= 1
                else:  # first come, first served: _release hands a worker to the first waiter
                    waiter = loop.create_future()
                    self._waiters.append((loop, waiter))
            if spawn:  # a slot whose worker died: start its successor (blocking: in a thread)
                try:
                    worker = await loop.run_in_executor(None, _Worker)
                except BaseException:
                    with self._lock:
                        self._vacant += 1
                    self._pass_on(None)
                    raise
                with self._lock:
                    self._busy.add(worker)
                return worker
            try:
                handed = await waiter
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled():  # handed over just as we gave up
                    if waiter.result() is not None:
                        self._release(waiter.result(), True)
                    else:
                        self._pass_on(None)  # the news of a vacant slot goes to the next
                raise
            if handed is not None:
                return handed
            # None: a slot fell vacant, or the pool was retired: look again

    def _release(self, worker: _Worker, ok: bool) -> None:
        """Back to the pool (to the first waiter, if any); a worker whose job did not end
        normally is killed (it may still be writing an answer nobody will read) and its
        slot made vacant."""
        if not ok:
            worker.kill()
        with self._lock:
            self._busy.discard(worker)
            if self._closed:
                if ok:
                    worker.close()
                return
            if not ok:
                self._vacant += 1
            elif not self._waiters:
                self._idle.append(worker)
                return
            else:
                self._busy.add(worker)  # stays busy: it goes straight to the waiter
        self._pass_on(worker if ok else None)

    def _pass_on(self, worker: _Worker | None) -> None:
        """Give `worker` (None: news of a vacant slot) to the first waiter still waiting, on
        whichever loop it waits; with nobody waiting, an unwanted worker goes idle."""
        while True:
            with self._lock:
                if not self._waiters:
                    if worker is not None:
                        self._busy.discard(worker)
                        if self._closed:
                            worker.close()
                        else:
                            self._idle.append(worker)
                    return
                loop, waiter = self._waiters.popleft()

            def deliver(waiter: asyncio.Future = waiter) -> None:
                if waiter.done():  # it gave up (cancelled): the next one's turn
                    self._pass_on(worker)
                else:
                    waiter.set_result(worker)

            try:
                loop.call_soon_threadsafe(deliver)
                return
            except RuntimeError:  # that waiter's loop is closed: try the next
                continue

    def retire(self) -> None:
        """Stop taking jobs: idle workers exit now, busy ones when their job is done."""
        with self._lock:
            self._closed = True
            idle, self._idle = list(self._idle), collections.deque()
            waiters, self._waiters = list(self._waiters), collections.deque()
        for worker in idle:
            worker.close()
        for loop, waiter in waiters:  # they look again, and find the pool retired
            try:
                loop.call_soon_threadsafe(lambda w=waiter: w.done() or w.set_result(None))
            except RuntimeError:  # that loop is closed
                pass

    def close(self, timeout: float = 10) -> None:
        """Retire and wait for the workers to exit (blocking; from any thread). A busy
        worker exits when its job is done (its loop then closes the socket); one still busy
        after `timeout` is killed, and its job ends as WorkerDied."""
        with self._lock:
            idle, busy = list(self._idle), list(self._busy)
        self.retire()  # closes the idle ones' sockets: they exit
        deadline = time.monotonic() + timeout
        for worker in (*idle, *busy):
            worker.process.join(max(0.0, deadline - time.monotonic()))
        for worker in (*idle, *busy):
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join(5)
