"""A config reload swaps the cache inside the running cleaning workers (relay/cleaning.py's
Cleaner.reload): real spawned workers (or the thread of workers=0), real list files."""
from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest
from pool_support import worker_pids

from pixelguard.model import Policy
from pixelguard.relay import cleaning
from pixelguard.relay.cleaning import Cleaner, clean_or_mark

pytestmark = pytest.mark.e2e  # spawns worker processes: seconds per test, not the fast suite

BANNER = "https://cdn.shop.example/banner/summer.png"


def message(first_line: str = "X-Note: none") -> bytes:
    """A newsletter with one large, visible image: content, unless a tracker list names it."""
    return (f"{first_line}\r\nFrom: news@shop.example\r\nTo: bob@example.org\r\n"
            "Content-Type: text/html\r\n\r\n"
            f'<p>Sale</p><img src="{BANNER}" width="600" height="200" alt="Summer">\r\n').encode()


def write_list(path: Path, listed: bool) -> str:
    path.write_text("[Adblock Plus 2.0]\n" + ("||cdn.shop.example/banner/\n" if listed else "! none\n"))
    return str(path)


def clean_when_told(raw: bytes, policy, auth=None):
    """clean_or_mark, for a message whose first line is `X-Gate: PATH`: it first says it has
    begun (creates PATH.begun), then waits for the test to create PATH (at most 30 s)."""
    first = raw.split(b"\r\n", 1)[0].decode()
    if first.startswith("X-Gate: "):
        gate = first.removeprefix("X-Gate: ")
        with open(gate + ".begun", "w"):
            pass
        deadline = time.monotonic() + 30
        while not os.path.exists(gate) and time.monotonic() < deadline:
            time.sleep(0.005)
    return clean_or_mark(raw, policy, auth)


async def _until(path: Path) -> None:
    deadline = time.monotonic() + 30
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        await asyncio.sleep(0.005)


@pytest.fixture(name="cleaner")
def cleaner_fixture(request, monkeypatch):
    monkeypatch.setattr(cleaning, "clean_or_mark", clean_when_told)
    cleaner = Cleaner(workers=request.param)
    cleaner.start()
    yield cleaner
    cleaner.close()


@pytest.mark.parametrize("cleaner", [1, 0], ids=["process-pool", "thread"], indirect=True)
def test_a_reload_cleans_the_next_message_with_the_edited_list_in_the_same_workers(
        cleaner, tmp_path):
    listed = write_list(tmp_path / "extra.txt", listed=False)
    policy = Policy(extra_lists=(listed,))
    gate = tmp_path / "gate"
    started_with = worker_pids(cleaner)
    assert len(started_with) == cleaner.workers

    async def scenario():
        first = await cleaner.clean(message(), policy)  # the worker reads the list
        assert first.findings == []
        in_progress = asyncio.ensure_future(cleaner.clean(message(f"X-Gate: {gate}"), policy))
        await _until(Path(f"{gate}.begun"))  # its worker has chosen its cache
        write_list(Path(listed), listed=True)  # the same file, new contents
        cleaner.reload()
        if cleaner.workers == 0:
            # threads: the next message swaps the cache while the first is still cleaning
            second = tmp_path / "second"
            after = asyncio.ensure_future(cleaner.clean(message(f"X-Gate: {second}"), policy))
            await _until(Path(f"{second}.begun"))  # it has chosen (swapped in) its cache
            gate.touch()
            result = await in_progress
            second.touch()
            return result, await after
        # one worker process: the next message waits for it, and swaps when it gets it
        after = asyncio.ensure_future(cleaner.clean(message(), policy))
        gate.touch()
        return await in_progress, await after

    in_progress, after = asyncio.run(scenario())
    # the message being cleaned at the reload finishes with the list it started with
    assert in_progress.error is None and in_progress.findings == []
    assert BANNER.encode() in in_progress.raw
    # the next one is judged by the edited list, in the same worker processes
    assert [f.rule for f in after.findings] == ["known-tracker"]
    assert BANNER.encode() not in after.raw
    assert worker_pids(cleaner) == started_with


@pytest.mark.parametrize("cleaner", [1, 0], ids=["process-pool", "thread"], indirect=True)
def test_a_list_unreadable_after_a_reload_passes_the_message_marked_and_is_read_once_back(
        cleaner, tmp_path):
    listed = write_list(tmp_path / "extra.txt", listed=True)
    policy = Policy(extra_lists=(listed,))
    assert asyncio.run(cleaner.clean(message(), policy)).findings
    Path(listed).unlink()
    cleaner.reload()
    raw = message()
    out = asyncio.run(cleaner.clean(raw, policy))
    assert out.error is not None and out.error.startswith(f"{listed}:0: cannot read tracker list")
    assert out.raw.endswith(raw) and out.raw.startswith(b"X-PixelGuard: error")  # passed, marked
    write_list(Path(listed), listed=True)  # back, without a reload: the next message reads it
    again = asyncio.run(cleaner.clean(message(), policy))
    assert again.error is None and [f.rule for f in again.findings] == ["known-tracker"]
