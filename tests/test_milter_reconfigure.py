"""The milter's reload (milter/reload.py, door.py) inside one process: what a SIGHUP changes
when there is no file to read, and the limits a reload hands to the next messages. The
reload of a running milter behind Postfix: tests/e2e/test_milter_reload.py."""
from __future__ import annotations

import logging

import pytest

pytest.importorskip("Milter")  # door.py needs pymilter: the imports below come after

from pixelguard.config import parse_config
from pixelguard.milter.door import Door, Settings
from pixelguard.milter.reload import Reloader
from pixelguard.relay.cleaning import Cleaner


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


def test_a_reload_keeps_one_concurrency_limit_unless_max_concurrent_changed(door):
    first = door.runtime
    generation = door.cleaner.generation
    door.reconfigure(parse_config("milter: {max_concurrent: 3, timeout: 5}\n"))
    # messages of the old and the new config count against the same limit
    assert door.runtime.slots is first.slots and door.settings.timeout == 5
    assert door.cleaner.generation > generation  # the workers' lists are read anew
    door.reconfigure(parse_config("milter: {max_concurrent: 4}\n"))
    assert door.runtime.slots is not first.slots and door.settings.max_concurrent == 4
    assert first.settings.max_concurrent == 3  # what a message in flight still holds
