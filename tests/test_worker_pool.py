"""The relay's cleaning processes (relay/workers.py): real spawned workers, real sockets."""
from __future__ import annotations

import asyncio
import os
import signal
import time

import pytest
from pool_support import held, pids, waiting, worker_pids

from pixelguard.relay.workers import PoolClosed, WorkerDied, WorkerPool

pytestmark = pytest.mark.e2e  # spawns worker processes: seconds per test, not the fast suite


def pid_after(seconds: float) -> int:
    time.sleep(seconds)
    return os.getpid()


def echo(value):
    return value


def gated(gate: str, ballast: bytes = b"") -> int:
    """A job that lasts until the test opens `gate` (creates the file; at most 30 s).
    `ballast` only makes the job big."""
    deadline = time.monotonic() + 30
    while not os.path.exists(gate) and time.monotonic() < deadline:
        time.sleep(0.005)
    return os.getpid()


def mark_then_sleep(path: str, seconds: float) -> int:
    """A job that says it has begun (creates `path`), then lasts `seconds`."""
    with open(path, "w"):
        pass
    return pid_after(seconds)


async def _begun(path) -> None:
    """Wait (at most 30 s) for a mark_then_sleep job to create `path`: it runs in a worker."""
    deadline = time.monotonic() + 30
    while not path.exists():
        assert time.monotonic() < deadline, "the job never began"
        await asyncio.sleep(0.01)


def die_first_times(raw: bytes, policy, auth=None):
    """Cleaning whose worker dies (SIGKILL) for the first N messages' attempts, N and the
    directory counting the deaths given by the message's first line `X-Die: DIR N`."""
    from pixelguard.relay.cleaning import clean_or_mark

    _name, where, times = raw.split(b"\r\n", 1)[0].decode().split()
    died = len(os.listdir(where))
    if died < int(times):
        open(os.path.join(where, f"death{died}"), "w").close()
        os.kill(os.getpid(), signal.SIGKILL)
    return clean_or_mark(raw, policy, auth)


def fails() -> None:
    raise ValueError("no good")


def wait_for(condition, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def _started(size: int, depth: int = 1):
    p = WorkerPool(size, depth=depth)
    p.start(os.getpid)  # booted and answering
    yield p
    p.close()


@pytest.fixture
def pool():
    yield from _started(2)


def test_jobs_beyond_the_pool_size_wait_their_turn_and_all_get_answers(pool):
    async def main():
        return await asyncio.gather(*(pool.run(echo, (i, b"x" * 100_000)) for i in range(20)))

    answers = asyncio.run(main())
    assert [a[0] for a in answers] == list(range(20))
    assert all(a[1] == b"x" * 100_000 for a in answers)
    assert len(set(pids(pool))) == 2


@pytest.mark.parametrize("depth", [1, 2])
def test_waiters_are_served_first_come_first_served(depth):
    pool = WorkerPool(1, depth=depth)
    pool.start(os.getpid)
    order: list[int] = []

    async def job(i: int) -> None:
        await pool.run(pid_after, 0.02)
        order.append(i)

    async def main():
        tasks = []
        for i in range(8):
            tasks.append(asyncio.ensure_future(job(i)))
            await asyncio.sleep(0)  # each starts waiting in turn
        await asyncio.gather(*tasks)

    try:
        asyncio.run(main())
    finally:
        pool.close()
    assert order == list(range(8))


def test_an_exception_in_a_job_is_reported_and_the_worker_stays(pool):
    before = sorted(pids(pool))
    with pytest.raises(RuntimeError, match="ValueError: no good"):
        asyncio.run(pool.run(fails))
    assert sorted(pids(pool)) == before
    assert asyncio.run(pool.run(echo, 5)) == 5


def test_a_worker_killed_mid_job_fails_that_job_only_and_is_replaced(pool, tmp_path):
    begun = tmp_path / "begun"

    async def main():
        victim = asyncio.ensure_future(pool.run(mark_then_sleep, str(begun), 30))
        # killed only once the job runs in the worker: a kill before the job was written
        # leaves it not started, and the pool rightly runs it on another worker instead
        await _begun(begun)
        (pid,) = pids(pool, busy=True)
        os.kill(pid, signal.SIGKILL)
        with pytest.raises(WorkerDied):
            await victim
        return pid, await asyncio.gather(*(pool.run(pid_after, 0.05) for _ in range(2)))

    dead, served_by = asyncio.run(main())
    assert dead not in served_by
    assert len(set(served_by)) == 2  # the vacant slot got a fresh worker
    assert dead not in pids(pool) and len(pids(pool)) == 2


def test_a_worker_that_died_while_idle_costs_no_job(pool):
    for pid in pids(pool):
        os.kill(pid, signal.SIGKILL)
    for pid in pids(pool):
        wait_for(lambda pid=pid: _dead(pid))

    async def main():
        return await asyncio.gather(*(pool.run(pid_after, 0.05) for _ in range(2)))

    served_by = asyncio.run(main())  # no WorkerDied: fresh workers took the jobs
    assert len(set(served_by)) == 2
    assert sorted(pids(pool)) == sorted(served_by)


def _dead(pid: int) -> bool:
    """Ended (a zombie, not yet reaped by its parent, counts)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rpartition(")")[2].split()[0] == "Z"
    except FileNotFoundError:
        return True


def test_a_caller_that_gives_up_lets_the_job_finish_and_keeps_the_worker(pool, tmp_path):
    gate = tmp_path / "gate"

    async def main():
        task = asyncio.ensure_future(pool.run(gated, str(gate)))
        await asyncio.sleep(0.1)
        assert len(pids(pool, busy=True)) == 1
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert len(pids(pool, busy=True)) == 1  # still running its job
        gate.touch()
        while pids(pool, busy=True):
            await asyncio.sleep(0.01)
        return await asyncio.gather(*(pool.run(echo, i) for i in range(4)))

    before = set(pids(pool))
    assert asyncio.run(main()) == [0, 1, 2, 3]
    assert set(pids(pool)) == before  # nobody was killed


def test_a_job_cut_off_by_its_loop_stopping_costs_its_worker_not_the_pool(pool):
    loop = asyncio.new_event_loop()
    try:
        task = loop.create_task(pool.run(pid_after, 30))
        loop.run_until_complete(asyncio.sleep(0.2))
    finally:
        task.cancel()
        for inner in asyncio.all_tasks(loop):
            inner.cancel()
        loop.run_until_complete(asyncio.sleep(0))
        loop.close()
    # the worker that ran it was killed: its late answer must reach no other job
    assert len(pids(pool)) == 1

    async def two():
        return await asyncio.gather(*(pool.run(pid_after, 0.1) for _ in range(2)))

    served_by = asyncio.run(two())
    assert len(set(served_by)) == 2  # the vacant slot was filled
    assert sorted(pids(pool)) == sorted(served_by)


def test_a_waiter_that_gives_up_does_not_take_a_worker_with_it(pool, tmp_path):
    gate = tmp_path / "gate"

    async def main():
        running = [asyncio.ensure_future(pool.run(gated, str(gate))) for _ in range(2)]
        await asyncio.sleep(0.05)
        quitter = asyncio.ensure_future(pool.run(echo, "never"))
        await asyncio.sleep(0.05)
        quitter.cancel()
        gate.touch()
        await asyncio.gather(*running)
        return await asyncio.gather(*(pool.run(echo, i) for i in range(2)))

    assert asyncio.run(main()) == [0, 1]
    assert len(pids(pool)) == 2 and pids(pool, busy=True) == []  # both back, idle


def test_a_retired_pool_finishes_running_jobs_and_refuses_waiting_ones(tmp_path):
    pool = WorkerPool(1)
    pool.start()
    workers = pids(pool)
    gate = tmp_path / "gate"

    async def main():
        running = asyncio.ensure_future(pool.run(gated, str(gate)))
        await asyncio.sleep(0.05)
        waiting = asyncio.ensure_future(pool.run(echo, 1))
        await asyncio.sleep(0.05)
        pool.retire()
        gate.touch()
        return await asyncio.gather(running, waiting, return_exceptions=True)

    try:
        finished, refused = asyncio.run(main())
        assert finished == workers[0]
        assert isinstance(refused, PoolClosed)
        wait_for(lambda: not pids(pool, busy=True))
    finally:
        pool.close()
    assert pids(pool) == []


def test_close_ends_the_worker_processes():
    pool = WorkerPool(2)
    pool.start()
    started = pids(pool)
    pool.close()
    for pid in started:
        with pytest.raises(ProcessLookupError):  # exited and reaped
            os.kill(pid, 0)


def test_workers_leave_the_relays_process_group():
    pool = WorkerPool(1)
    pool.start(os.getpid)  # it has booted (and so detached)
    try:
        (pid,) = pids(pool)
        assert os.getpgid(pid) != os.getpgid(0)
    finally:
        pool.close()


def test_news_of_a_vacant_slot_is_not_lost_with_a_waiter_that_gives_up():
    pool = WorkerPool(1)
    pool.start(os.getpid)

    async def main():
        loop = asyncio.get_running_loop()
        running = asyncio.ensure_future(pool.run(pid_after, 30))
        while not pids(pool, busy=True):
            await asyncio.sleep(0.01)
        quitter = asyncio.ensure_future(pool.run(echo, "quitter"))
        stayer = asyncio.ensure_future(pool.run(echo, "stayer"))
        await asyncio.sleep(0.05)  # both wait
        told = pool._pass_on

        def pass_on(worker):
            told(worker)
            if worker is None:  # the first waiter hears of the vacant slot, and just then its
                loop.call_soon(quitter.cancel)  # client hangs up: before it can look again

        pool._pass_on = pass_on
        os.kill(pids(pool, busy=True)[0], signal.SIGKILL)
        with pytest.raises(WorkerDied):
            await running
        with pytest.raises(asyncio.CancelledError):
            await quitter
        return await asyncio.wait_for(stayer, 30)

    try:
        assert asyncio.run(main()) == "stayer"
    finally:
        pool.close()


def test_a_job_waiting_when_the_cleaner_closes_starts_no_new_workers(tmp_path):
    from pixelguard.model import Policy
    from pixelguard.relay.cleaning import Cleaner

    cleaner = Cleaner(workers=1)
    cleaner.start()
    gate = tmp_path / "gate"

    async def main():
        loop = asyncio.get_running_loop()
        # the worker's both places taken (one job running, one queued behind it)
        busy = [asyncio.ensure_future(cleaner._current().run(gated, str(gate))) for _ in range(2)]
        while not worker_pids(cleaner, busy=True):
            await asyncio.sleep(0.01)
        waiting = asyncio.ensure_future(cleaner.clean(b"Subject: x\r\n\r\n<p>hi</p>\r\n", Policy()))
        await asyncio.sleep(0.05)
        closing = loop.run_in_executor(None, cleaner.close)  # as the relay does at shutdown
        with pytest.raises(PoolClosed):
            await waiting  # the relay defers it (451): never forwarded uncleaned
        gate.touch()
        worker, same = await asyncio.gather(*busy)  # the jobs it holds still finish
        assert worker == same
        await closing
        return worker

    worker = asyncio.run(main())
    assert worker_pids(cleaner) == []
    with pytest.raises(ProcessLookupError):  # exited and reaped
        os.kill(worker, 0)


# ------------------------------------------------------------------ workers holding two jobs


@pytest.fixture
def deep_pool():
    yield from _started(2, depth=2)


@pytest.fixture
def one_deep():
    yield from _started(1, depth=2)


def test_a_worker_holds_its_next_job_and_answers_in_order(deep_pool):
    async def main():
        jobs = [asyncio.ensure_future(deep_pool.run(echo, (i, b"y" * (i * 5000)))) for i in range(40)]
        answers = await asyncio.gather(*jobs)
        return answers

    answers = asyncio.run(main())
    assert answers == [(i, b"y" * (i * 5000)) for i in range(40)]  # each its own answer
    assert len(pids(deep_pool)) == 2 and pids(deep_pool, busy=True) == []


def test_a_small_job_is_queued_behind_a_small_one(one_deep, tmp_path):
    pool = one_deep
    mark = tmp_path / "ran"

    gate = tmp_path / "gate"

    async def main():
        running = asyncio.ensure_future(pool.run(gated, str(gate)))
        await asyncio.sleep(0.1)
        queued = asyncio.ensure_future(pool.run(mark_then_sleep, str(mark), 0))
        await asyncio.sleep(0.1)
        queued.cancel()  # too late: it is in the worker's socket, so it runs
        gate.touch()
        pid = await running
        while pids(pool, busy=True):  # and is answered (read in full, the worker kept)
            await asyncio.sleep(0.01)
        return pid

    pid = asyncio.run(main())
    wait_for(mark.exists)
    assert pids(pool) == [pid]


def test_no_job_is_queued_behind_a_big_one(one_deep, tmp_path):
    from pixelguard.relay.workers import QUEUE_BEHIND_LIMIT

    pool = one_deep
    mark = tmp_path / "ran"

    gate = tmp_path / "gate"

    async def main():
        big = asyncio.ensure_future(pool.run(gated, str(gate), b"z" * QUEUE_BEHIND_LIMIT))
        await asyncio.sleep(0.1)
        waiting = asyncio.ensure_future(pool.run(mark_then_sleep, str(mark), 0))
        await asyncio.sleep(0.1)
        waiting.cancel()  # it was still waiting for a worker: it never runs
        gate.touch()
        await big
        return await pool.run(echo, "after")

    assert asyncio.run(main()) == "after"
    assert not mark.exists()


async def _kill_the_worker_under(pool: WorkerPool, fn, *args):
    """A job queued on a worker that is then killed in the middle of the job ahead of it:
    (the dead worker's pid, the queued job's answer)."""
    victim = asyncio.ensure_future(pool.run(pid_after, 30))
    while not pids(pool, busy=True):
        await asyncio.sleep(0.01)
    (dead,) = pids(pool, busy=True)
    queued = asyncio.ensure_future(pool.run(fn, *args))
    await asyncio.sleep(0.1)  # given to the same worker (at once; the sleep lets it write)
    os.kill(dead, signal.SIGKILL)
    with pytest.raises(WorkerDied):
        await victim
    return dead, await queued


def test_a_job_queued_behind_one_that_killed_its_worker_runs_on_a_fresh_one(one_deep):
    # not lost with it: it had not begun
    dead, served_by = asyncio.run(_kill_the_worker_under(one_deep, pid_after, 0))
    assert served_by != dead and pids(one_deep) == [served_by]


def test_a_big_job_still_being_written_when_the_worker_dies_runs_on_a_fresh_one(one_deep):
    # bigger than the socket's buffer: its writing waits for the busy worker to read
    _dead, answer = asyncio.run(_kill_the_worker_under(one_deep, echo, b"x" * 3_000_000))
    assert answer == b"x" * 3_000_000


@pytest.mark.parametrize(("deaths", "cleaned"), [(1, True), (2, False)])
def test_a_message_whose_worker_dies_is_cleaned_again_once(deaths, cleaned, tmp_path, monkeypatch):
    from pixelguard.model import Policy
    from pixelguard.relay import cleaning

    monkeypatch.setattr(cleaning, "clean_or_mark", die_first_times)
    cleaner = cleaning.Cleaner(workers=1)
    cleaner.start()
    raw = f"X-Die: {tmp_path} {deaths}\r\nSubject: x\r\n\r\n<p>x</p>\r\n".encode()
    try:
        out = asyncio.run(cleaner.clean(raw, Policy()))
    finally:
        cleaner.close()
    assert len(os.listdir(tmp_path)) == deaths  # each attempt so far killed its worker
    assert (out.error is None) == cleaned
    if not cleaned:
        assert out.error == "cleaning worker crashed" and out.raw.startswith(b"X-PixelGuard: error")


async def _until(condition, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


def test_a_message_three_workers_were_lost_ahead_of_passes_marked(caplog):
    """A message queued behind a job on each of three workers in a row, each worker killed
    under the job ahead of it, never ran: it is forwarded as it came, with an error header."""
    from pixelguard.model import Policy
    from pixelguard.relay.cleaning import Cleaner

    cleaner = Cleaner(workers=1)
    cleaner.start()
    pool = cleaner._current()
    raw = b'Subject: x\r\n\r\n<img src="https://t.example/open.gif" width=1 height=1>\r\n'

    async def main():
        ahead = asyncio.ensure_future(pool.run(pid_after, 60))
        await _until(lambda: held(pool) == [1])
        message = asyncio.ensure_future(cleaner.clean(raw, Policy()))
        await _until(lambda: held(pool) == [2])  # queued behind the job ahead
        lost = []
        for kill in range(3):
            if kill < 2:  # the next job ahead waits for the worker that replaces this one
                nxt = asyncio.ensure_future(pool.run(pid_after, 60))
                await _until(lambda: waiting(pool) == 1)
            (pid,) = pids(pool, busy=True)
            os.kill(pid, signal.SIGKILL)
            with pytest.raises(WorkerDied):
                await ahead
            lost.append(pid)
            if kill < 2:
                ahead = nxt
                # the job ahead took the fresh worker, the message is queued behind it again
                await _until(lambda: held(pool) == [2])
        return lost, await message

    caplog.set_level("ERROR", logger="pixelguard.relay")
    try:
        lost, out = asyncio.run(main())
    finally:
        cleaner.close()
    assert len(set(lost)) == 3
    assert out.error == "no cleaning worker took the message" and out.findings == []
    head, rest = out.raw.split(b"\r\n", 1)
    assert head == b"X-PixelGuard: error; no cleaning worker took the message" and rest == raw
    assert "three cleaning workers were lost before one took a message; forwarded uncleaned" \
        in caplog.messages


def test_a_job_from_a_second_open_loop_is_refused_clearly(pool):
    """The pool serves one event loop at a time: a job from another loop while the first is
    open gets a clear RuntimeError, and the first loop's jobs are not disturbed."""
    first = asyncio.new_event_loop()
    try:
        served = first.run_until_complete(pool.run(echo, "first"))  # the pool's loop now

        async def from_elsewhere():
            return await pool.run(echo, "second")

        with pytest.raises(RuntimeError, match="second event loop"):
            asyncio.run(from_elsewhere())
        assert first.run_until_complete(pool.run(echo, "again")) == "again"
    finally:
        first.close()
    assert served == "first"
    assert asyncio.run(from_elsewhere()) == "second"  # the first loop is closed: taken over
    assert len(pids(pool)) == 2  # nobody was lost
