"""The milter's cleaning side (milter/door.py) with a real worker process."""
from __future__ import annotations

import pytest
from relay_harness import tracker_message
from worker_faults import clean_or_die

from pixelguard.config import parse_config
from pixelguard.milter.door import Door, Settings
from pixelguard.model import Policy
from pixelguard.relay.cleaning import Cleaner

pytestmark = pytest.mark.e2e  # spawns a worker process


def test_closing_lets_a_timed_out_job_end_and_its_worker_exit_on_its_own(monkeypatch):
    """A job past the milter's timeout still runs; close() keeps the cleaning loop running
    until the pool is closed, so the job's answer is read and its worker exits by itself
    (exit code 0) rather than being killed when the pool's wait runs out."""
    monkeypatch.setattr("pixelguard.relay.cleaning.clean_or_mark", clean_or_die)
    cleaner = Cleaner(workers=1)
    cleaner.start()
    door = Door(parse_config(""), cleaner, Settings(max_size=1 << 20, timeout=0.2, max_concurrent=2))
    try:
        (worker,) = cleaner._pool._workers
        cleaned, outcome = door._clean(b"X-Slow-Worker: 1\r\n" + tracker_message(), Policy())
        assert outcome == "timeout"  # passed on marked; the job runs on in the worker
        assert cleaned.error == "cleaning took longer than 0.2 s"
    finally:
        door.close(grace=0)
    assert worker.process.exitcode == 0  # it answered, read EOF and exited: not killed
