"""A small pool of cleaning processes, each spoken to over its own socket pair.

Why not concurrent.futures.ProcessPoolExecutor: each job there crosses three threads of
the relay (the event loop, the pool's manager thread and its queue feeder) and so several
wake-ups; on a 2-core VM that cost ~1 ms per message, a fifth of a newsletter's cleaning.
Here the event loop writes the job straight to an idle worker's socket and reads the
answer from it: two wake-ups.

Framing: a 4-byte big-endian length, then a pickle, both ways. A worker holds up to
`depth` jobs, answered in the order they were written. A job whose caller gives up still
runs to its end, or to its deadline: a job given a deadline that its worker has not answered
that long after starting on it (a worker stopped, or stuck in a loop) has its worker killed.
A job that does not end normally (the worker died or was killed, or its event loop stopped
halfway) leaves its worker in an unknown state: that worker is killed and its slot starts a
fresh one for the next job; a job queued behind it, not yet begun, runs on another worker.
The jobs run on one event loop at a time (the relay's, or the milter's cleaning loop), which
drives the sockets (loop.sock_*): the loop of the first job, until that loop is closed; a job
from another loop while it is open is refused with a RuntimeError. The pool is started,
retired and closed from any thread.
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
from collections.abc import Callable
from typing import Any

from pixelguard import gc_tuning

_HEADER = struct.Struct("!I")
_STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}
# a worker's answer to a job that raised: the exception's class name and text
_RAISED = "raised"


class WorkerDied(Exception):
    """The worker process ended (killed, crashed) before it answered."""


class WorkerHung(WorkerDied):
    """The worker did not answer by the job's deadline, so it was killed."""


class NotStarted(Exception):
    """Three workers in a row were lost before they took up this job (each was queued behind
    a job that did not end normally): the job itself never ran."""


class PoolClosed(RuntimeError):
    """The pool was retired (the relay or milter stops) before a worker
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
    tuned = False
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
            if not tuned:  # after the first job (the warm-up, or the first message)
                gc_tuning.for_many_messages()
                tuned = True


class _NotStarted(Exception):
    """The worker was lost before it took up this job (it was queued behind one that did not
    end normally): the job can safely run on another worker."""


class _Turn:
    """A job's place in its worker's queue. Jobs are written to the socket, and their answers
    read from it, in the order they took their turns; each waits for the one before it.
    Results: True once this job's step ended whole, False if it did not (the worker is then
    lost, so nothing after it can be trusted)."""

    __slots__ = ("after_read", "after_sent", "begun", "read", "sent")

    def __init__(self, before: _Turn | None) -> None:
        self.after_sent = before.sent if before is not None else None
        self.after_read = before.read if before is not None else None
        loop = asyncio.get_running_loop()
        self.sent: asyncio.Future[bool] = loop.create_future()
        self.read: asyncio.Future[bool] = loop.create_future()
        self.begun = False  # its job started (then the job itself settles the turn)

    def skip(self) -> None:
        """The job wrote nothing: its place passes to the next as if it had not been."""
        _follow(self.after_sent, self.sent)
        _follow(self.after_read, self.read)


def _settle(step: asyncio.Future[bool], ok: bool) -> None:
    if not step.done():
        step.set_result(ok)


def _ended_whole(step: asyncio.Future[bool]) -> bool:
    return not step.cancelled() and step.result()


def _follow(source: asyncio.Future[bool] | None, target: asyncio.Future[bool]) -> None:
    """`target` ends as `source` does."""
    if source is None:
        _settle(target, True)
    elif source.done():  # (perhaps on a loop that has ended since: no callback to it)
        _settle(target, _ended_whole(source))
    else:
        source.add_done_callback(lambda done: _settle(target, _ended_whole(done)))


async def _after(step: asyncio.Future[bool] | None) -> bool:
    """Wait for the step before ours (True if it ended whole). Giving up the wait leaves
    that step alone (cancelling it would fail the job that owns it)."""
    if step is None:
        return True
    if not step.done():
        await asyncio.shield(step)
    return _ended_whole(step)


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
        # The pool's bookkeeping (under its lock):
        self.pending = 0  # jobs given to this worker whose answer is not read yet
        self.load = 0  # their size in bytes
        self.used = 0  # when it last took a job (a count): the last used has warm caches
        self.lost = False  # a job on it did not end normally: no new jobs; killed when idle
        self.hung = False  # killed because a job passed its deadline
        self._last: _Turn | None = None

    @property
    def pid(self) -> int | None:
        return self.process.pid

    def take_turn(self) -> _Turn:
        self._last = _Turn(self._last)
        return self._last

    def call_blocking(self, fn: Callable, *args: Any, timeout: float) -> Any:
        """A job run from a plain thread (warm-up), before the pool gives out any turn."""
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

    def _watch(self, turn: _Turn, deadline: float) -> None:
        """Kill this worker if `turn`'s answer is not read `deadline` seconds after the worker
        started on it (when the job ahead of it was answered, or now)."""
        loop = asyncio.get_running_loop()

        def expired() -> None:
            if not turn.read.done():
                self.hung = True
                self.lost = True
                if self.process.is_alive():
                    self.process.kill()  # its socket ends: the job's read fails (WorkerHung)

        def arm(_done: object = None) -> None:
            if not turn.read.done():
                timer = loop.call_later(deadline, expired)
                turn.read.add_done_callback(lambda _read: timer.cancel())

        if turn.after_read is None or turn.after_read.done():
            arm()
        else:
            turn.after_read.add_done_callback(arm)

    async def call(self, job: tuple[bytes, bytes], turn: _Turn,
                   deadline: float | None = None) -> bytearray:
        """Write the job, then read its answer (returned unread, for _unpack), each step in
        its turn. A job that does not end normally marks the worker lost, unless it ended
        before writing anything: then its turn passes to the next as if it had not been.
        With a `deadline` (s), the worker is killed when it has not answered that long after
        it started on the job (WorkerHung)."""
        loop = asyncio.get_running_loop()
        turn.begun = True
        wrote = False
        if deadline is not None:
            self._watch(turn, deadline)
        try:
            if not await _after(turn.after_sent):
                raise _NotStarted(f"worker {self.pid} was lost before this job was sent")
            wrote = True
            try:
                for piece in job:
                    await loop.sock_sendall(self.sock, piece)
            except OSError as exc:  # never wholly received, so never run: safe to retry
                raise _NotStarted(f"worker {self.pid} ended: {exc}") from None
            turn.sent.set_result(True)
            if not await _after(turn.after_read):
                raise _NotStarted(f"worker {self.pid} was lost before it answered the job ahead")
            # the answer is unpickled from the buffer it was read into: each copy of a big
            # message is time the event loop serves no one else
            header = await _read(loop, self.sock, _HEADER.size)
            body = await _read(loop, self.sock, _HEADER.unpack(header)[0])
            turn.read.set_result(True)
            return body
        except OSError as exc:  # ConnectionError included
            if self.hung:
                raise WorkerHung(f"worker {self.pid} killed: no answer within {deadline:g} s") from None
            raise WorkerDied(f"worker {self.pid} ended: {exc}") from None
        finally:
            if not turn.read.done():
                if not wrote:
                    turn.skip()
                else:
                    # Its answer may still come, with nobody to read it. The jobs ahead of
                    # it are still answered in full; the worker is killed after them.
                    self.lost = True
                    _settle(turn.sent, False)
                    _settle(turn.read, False)

    def kill(self) -> None:
        """Kill the process; a job still reading from it gets the end of the stream."""
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


# A job is queued behind others on a worker only while their total size is below this: a
# newsletter does not wait behind a 30 MB message when another worker will soon be free.
QUEUE_BEHIND_LIMIT = 1 << 20


class WorkerPool:
    """`size` worker processes; `run()` gives a job to a free one, or waits for one (first
    come, first served).

    depth: how many jobs a worker holds at once. With 2, a busy worker finds its next job
    already in its socket when it answers the current one, so it goes on at once, without
    waiting for the event loop to hand it one (the pool alone: ~1.5x the jobs per second;
    the relay under load: ~4 % more messages per second, benchmarks/RELAY.md)."""

    def __init__(self, size: int, depth: int = 1) -> None:
        self.size = size
        self.depth = depth
        self._lock = threading.Lock()
        self._workers: list[_Worker] = []  # live and taking jobs
        self._vacant = size  # slots with no live worker: filled on demand
        self._waiters: collections.deque[asyncio.Future] = collections.deque()
        self._loop: asyncio.AbstractEventLoop | None = None  # the event loop every job runs on
        self._closed = False
        self._uses = 0

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
                worker.sock.close()
                worker.kill()
            with self._lock:
                self._vacant += count
            raise
        with self._lock:
            self._workers.extend(started)
            handed = [(w, self._hand_out(w)) for w in started]
            loop = self._loop
        for worker, places in handed:
            for _ in range(places):  # (places only when jobs wait, so on a loop)
                try:
                    loop.call_soon_threadsafe(self._pass_on, worker)  # start() runs in any thread
                except (AttributeError, RuntimeError):  # no loop, or closed: its waiters are gone
                    self._pass_on(worker)

    def _enter(self) -> None:
        """Make the running loop the pool's, if it has none or its loop is closed (the jobs
        and waiters of a closed loop are over). RuntimeError from another loop while the
        pool's is open: the pool's futures and callbacks run on its loop alone."""
        loop = asyncio.get_running_loop()
        with self._lock:
            if self._loop is None or self._loop.is_closed():
                self._loop = loop
                self._waiters.clear()  # (those of a closed loop wait no more)
            elif self._loop is not loop:
                raise RuntimeError("WorkerPool.run() called from a second event loop while the "
                                   "pool's first is open: a pool serves one loop at a time")

    async def run(self, fn: Callable, *args: Any, deadline: float | None = None) -> Any:
        """fn(*args) in a worker. WorkerDied if the worker ended before answering, WorkerHung
        if it was killed for not answering within `deadline` seconds of starting on the job;
        NotStarted if the job never ran (three workers lost ahead of it)."""
        self._enter()
        job = _job(fn, args)
        load = len(job[1])
        for attempt in (1, 2, 3):
            worker, turn = await self._acquire(load)
            try:
                task = asyncio.ensure_future(worker.call(job, turn, deadline))
            except BaseException:
                turn.skip()
                self._release(worker, load)
                raise

            def done(_task: asyncio.Future, worker: _Worker = worker, turn: _Turn = turn) -> None:
                if not turn.begun:  # cancelled before its first step: it wrote nothing
                    turn.skip()
                self._release(worker, load)

            task.add_done_callback(done)
            # A caller that gives up (its client went away) does not cut the job short: the
            # worker would have to be killed and started anew, which a client that keeps
            # hanging up could make us do at will. The job runs on; its worker returns after.
            try:
                return _unpack(await asyncio.shield(task))
            except _NotStarted as exc:
                if attempt == 3:
                    raise NotStarted(str(exc)) from None
                # lost with a job ahead of it, which ran on it (not this one): try another
        raise AssertionError("unreachable")

    def _free(self, worker: _Worker) -> bool:
        """Under the lock: `worker` can take one more job."""
        return not worker.lost and (worker.pending == 0 or (
            worker.pending < self.depth and worker.load < QUEUE_BEHIND_LIMIT))

    def _pick(self) -> _Worker | None:
        """Under the lock: an idle worker (the last used: its caches are warm), else the
        least loaded one with room in its queue."""
        while True:
            idle = [w for w in self._workers if w.pending == 0 and not w.lost]
            if idle:
                worker = max(idle, key=lambda w: w.used)
                if worker.process.is_alive():
                    return worker
                # died while idle (OOM killer, an admin's kill): no job lost, find another
                self._workers.remove(worker)
                worker.sock.close()
                worker.kill()
                self._vacant += 1
                continue
            room = [w for w in self._workers if self._free(w)]
            return min(room, key=lambda w: (w.pending, w.load)) if room else None

    def _claim(self, worker: _Worker, load: int, reserved: bool) -> _Turn:
        """Under the lock: give `worker` a job of `load` bytes (its place already counted
        when `reserved`, as when it was handed over)."""
        if not reserved:
            worker.pending += 1
        worker.load += load
        self._uses += 1
        worker.used = self._uses
        return worker.take_turn()

    def _hand_out(self, worker: _Worker) -> int:
        """Under the lock: hold as many of `worker`'s free places as there are waiters (each
        then goes to one, by _pass_on); how many."""
        places = 0
        if not self._closed:
            while places < len(self._waiters) and self._free(worker):
                worker.pending += 1
                places += 1
        return places

    async def _acquire(self, load: int) -> tuple[_Worker, _Turn]:
        loop = asyncio.get_running_loop()  # the pool's (run checked)
        woken = False
        while True:
            with self._lock:
                if self._closed:
                    raise PoolClosed("worker pool retired")
                # newcomers queue behind those already waiting; a waiter woken looks first
                worker = self._pick() if woken or not self._waiters else None
                if worker is not None:
                    return worker, self._claim(worker, load, False)
                spawn = self._vacant > 0 and (woken or not self._waiters)
                if spawn:
                    self._vacant -= 1
                else:  # _release hands a place to the first waiter
                    waiter = loop.create_future()
                    if woken:  # it keeps its place at the head of the queue
                        self._waiters.appendleft(waiter)
                    else:
                        self._waiters.append(waiter)
            if spawn:  # a slot whose worker died: start its successor (blocking: in a thread)
                try:
                    worker = await loop.run_in_executor(None, _Worker)
                except BaseException:
                    with self._lock:
                        self._vacant += 1
                    self._pass_on(None)
                    raise
                with self._lock:
                    self._workers.append(worker)
                    turn = self._claim(worker, load, False)
                    places = self._hand_out(worker)  # its other places, to those waiting
                for _ in range(places):
                    self._pass_on(worker)
                return worker, turn
            try:
                handed = await waiter
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled():  # handed over just as we gave up
                    self._pass_on(waiter.result())  # to the next waiter
                raise
            woken = True
            if handed is None:
                continue  # a slot fell vacant, or the pool was retired: look again
            with self._lock:
                if not handed.lost and not self._closed:
                    return handed, self._claim(handed, load, True)
                # lost, or retired, since it was handed over: give the place back, look again
                handed.pending -= 1
                out = self._out_of_jobs(handed)
            self._finish(handed, out)

    def _release(self, worker: _Worker, load: int) -> None:
        """A job of `worker` ended. A lost worker leaves the pool (its slot is made vacant,
        for a fresh worker) and is killed once it has no job left; a worker with room
        goes to the first waiters, if any."""
        vacated = False
        with self._lock:
            worker.pending -= 1
            worker.load -= load
            if worker.lost and worker in self._workers:
                self._workers.remove(worker)
                if not self._closed:
                    self._vacant += 1
                    vacated = True
            places = self._hand_out(worker)
            out = self._out_of_jobs(worker)
        self._finish(worker, out)
        for _ in range(places):
            self._pass_on(worker)
        if vacated:
            self._pass_on(None)

    def _pass_on(self, worker: _Worker | None) -> None:
        """Give a place held on `worker` (None: news of a vacant slot) to the first waiter
        still waiting; with nobody waiting, the place is freed. On the pool's loop."""
        while True:
            with self._lock:
                if not self._waiters:
                    if worker is None:
                        return
                    worker.pending -= 1  # nobody wants the place held
                    out = self._out_of_jobs(worker)
                    break
                waiter = self._waiters.popleft()
            if not waiter.done():  # (done: it gave up, cancelled: the next one's turn)
                try:
                    waiter.set_result(worker)
                    return
                except RuntimeError:  # its loop is closed: the next one's turn
                    continue
        self._finish(worker, out)

    def _out_of_jobs(self, worker: _Worker) -> bool:
        """Under the lock, after `worker.pending` fell: True if it has no job left and is out
        of the pool (lost, or the pool retired), so it is to be ended now."""
        if worker.pending:
            return False
        if self._closed and worker in self._workers:
            self._workers.remove(worker)
        return worker not in self._workers

    @staticmethod
    def _finish(worker: _Worker, out: bool) -> None:
        """End a worker out of the pool and out of jobs: a lost one is killed; closing the
        socket makes a live one read EOF and exit."""
        if out:
            if worker.lost:
                worker.kill()
            worker.sock.close()

    def retire(self) -> None:
        """Stop taking jobs: idle workers exit now, busy ones when their jobs are done."""
        with self._lock:
            self._closed = True
            idle = [w for w in self._workers if w.pending == 0]
            self._workers = [w for w in self._workers if w.pending]
            waiters, self._waiters = list(self._waiters), collections.deque()
            loop = self._loop
        for worker in idle:
            worker.sock.close()
        if waiters and loop is not None:  # they look again, and find the pool retired
            def wake() -> None:
                for waiter in waiters:
                    if not waiter.done():
                        waiter.set_result(None)

            try:
                loop.call_soon_threadsafe(wake)  # retire() may be called from any thread
            except RuntimeError:  # that loop is closed
                pass

    def close(self, timeout: float = 10) -> None:
        """Retire and wait for the workers to exit (blocking; from any thread). A busy
        worker exits when its jobs are done (the last closes its socket); one still busy
        after `timeout` is killed, and its jobs end as WorkerDied."""
        with self._lock:
            workers = list(self._workers)
        self.retire()  # closes the idle ones' sockets: they exit
        deadline = time.monotonic() + timeout
        for worker in workers:
            worker.process.join(max(0.0, deadline - time.monotonic()))
        for worker in workers:
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join(5)
