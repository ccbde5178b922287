"""The milter's reload (milter/reload.py, door.py) inside one process: what a SIGHUP changes
when there is no file to read, and the limits a reload hands to the next messages. The
reload of a running milter behind Postfix: tests/e2e/test_milter_reload.py."""
from __future__ import annotations

import logging
import threading
import time
from types import SimpleNamespace

import pytest
from milter_harness import ADDHDRS, CHGBODY
from relay_harness import tracker_message

pytest.importorskip("Milter")  # door.py needs pymilter: the imports below come after

from pixelguard.config import parse_config
from pixelguard.milter.door import Door, Settings
from pixelguard.milter.edits import header_fields
from pixelguard.milter.limit import Limit
from pixelguard.milter.reload import Reloader
from pixelguard.model import Policy
from pixelguard.relay.cleaning import Cleaner, clean_or_mark


@pytest.fixture(name="door")
def door_fixture():
    config = parse_config("milter: {max_concurrent: 3}\n")
    door = Door(config, Cleaner(workers=0), Settings.of(config.milter))
    yield door
    door.close(grace=0)


def test_without_a_config_file_a_sighup_changes_nothing_and_says_so(door, caplog):
    before = door.runtime
    with caplog.at_level(logging.WARNING, logger="pixelguard.milter"):
        assert Reloader(door, None, door.config).reload() is False
    assert door.runtime is before
    assert 'msg="SIGHUP: started without --config, nothing to reload"' in caplog.text


def test_a_reload_keeps_one_concurrency_limit_and_changes_its_maximum(door):
    first = door.runtime
    limit = door.slots
    generation = door.cleaner.generation
    door.reconfigure(parse_config("milter: {max_concurrent: 3, timeout: 5}\n"))
    assert door.settings.timeout == 5 and first.settings.timeout != 5  # in flight: its own
    assert door.cleaner.generation > generation  # the workers' lists are read anew
    door.reconfigure(parse_config("milter: {max_concurrent: 4}\n"))
    # messages of the old and the new config count against the same limit, at its new value
    assert door.slots is limit and limit.maximum == 4 and door.settings.max_concurrent == 4


def test_places_held_before_a_reload_count_against_the_new_maximum(door):
    """Three messages hold the three places of max_concurrent 3; a reload to 2 takes no one
    new until two of them are done, and none beyond 2 afterwards."""
    for _ in range(3):
        assert door.slots.acquire(timeout=0)
    door.reconfigure(parse_config("milter: {max_concurrent: 2}\n"))
    assert not door.slots.acquire(timeout=0)
    door.slots.release()
    assert not door.slots.acquire(timeout=0)  # 2 in use: the new limit is full
    door.slots.release()
    assert door.slots.acquire(timeout=0)
    assert not door.slots.acquire(timeout=0)
    for _ in range(2):
        door.slots.release()
    with pytest.raises(ValueError, match="released more often"):
        door.slots.release()


def _waiting(limit: Limit, patience: float) -> tuple[threading.Thread, list[float]]:
    """A thread waiting up to `patience` s for a place of `limit`: (thread, [seconds it took
    to get one]), once it is waiting."""
    took: list[float] = []

    def wait() -> None:
        start = time.monotonic()
        if limit.acquire(timeout=patience):
            took.append(time.monotonic() - start)

    waiter = threading.Thread(target=wait)
    waiter.start()
    while not limit._changed._waiters:  # (a Condition's waiters: it waits now)
        waiter.join(0.001)
    return waiter, took


def test_a_raised_maximum_wakes_a_message_waiting_for_a_place():
    limit = Limit(1)
    assert limit.acquire(timeout=0)
    waiter, took = _waiting(limit, 60)
    limit.set_max(2)  # no place is given back: only the new maximum lets it in
    waiter.join(60)
    # woken by the change, not let in by its own time running out
    assert len(took) == 1 and took[0] < 30 and limit.in_use == 2


def test_a_place_given_back_wakes_a_message_waiting_for_it():
    limit = Limit(1)
    assert limit.acquire(timeout=0)
    waiter, took = _waiting(limit, 60)
    limit.release()
    waiter.join(60)
    assert len(took) == 1 and took[0] < 30 and limit.in_use == 1


def test_a_full_limit_refuses_after_the_messages_timeout_and_the_message_passes_marked(door):
    door.reconfigure(parse_config("milter: {max_concurrent: 1, timeout: 0.05}\n"))
    assert door.slots.acquire(timeout=0)
    try:
        cleaned, outcome = door._clean(b"Subject: x\r\n\r\nhi\r\n", Policy())
    finally:
        door.slots.release()
    assert outcome == "busy" and cleaned.error == "more than 1 messages waiting for cleaning"


def test_a_stop_with_nothing_in_flight_returns_at_once():
    config = parse_config("milter: {timeout: 300}\n")
    door = Door(config, Cleaner(workers=0), Settings.of(config.milter))
    assert door.close() is True  # the default grace, worked out with nothing in flight


def test_a_stop_after_a_reload_that_lowered_the_timeout_waits_for_a_message_begun_before(monkeypatch):
    """A message begun with timeout 30 is still being cleaned when a reload lowers the
    timeout to 0.1 and the milter stops: close() waits for it (its own 30 s), and the
    message ends cleaned, not cut off."""
    release = threading.Event()
    cleaning = threading.Event()

    def held(raw, policy, *rest):
        cleaning.set()
        release.wait(20)
        return clean_or_mark(raw, policy, *rest)

    monkeypatch.setattr("pixelguard.relay.cleaning.clean_or_mark", held)
    config = parse_config("milter: {timeout: 30}\n")
    door = Door(config, Cleaner(workers=0), Settings.of(config.milter))
    raw = tracker_message("<inflight@shop.example>")
    fields, body = header_fields(raw)
    session = SimpleNamespace(runtime=door.runtime, oversize=False, failed=None, fields=fields,
                              chunks=[body], rcpts=["alice@example.org"], sender="news@shop.example",
                              size=len(raw), granted=ADDHDRS | CHGBODY)
    added: list[str] = []
    session.addheader = lambda name, value, index: added.append(f"{name}:{value}")
    session.replacebody = lambda body: None
    finishing = threading.Thread(target=door.finish, args=(session, "Q1", time.monotonic()))
    finishing.start()
    assert cleaning.wait(60)
    door.reconfigure(parse_config("milter: {timeout: 0.1}\n"))
    closed: list[bool] = []
    closer = threading.Thread(target=lambda: closed.append(door.close()))
    closer.start()
    closer.join(1)  # ten times the lowered timeout: a close that used it has returned by now
    still_waiting = closer.is_alive()
    release.set()
    finishing.join(60)
    closer.join(60)
    assert still_waiting and closed == [True]
    # cleaned, neither timed out nor cut off
    assert len(added) == 1 and added[0].startswith("X-PixelGuard: removed=1"), added
