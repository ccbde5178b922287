"""Every process that cleans mail sets up its cyclic garbage collector (pixelguard.gc_tuning):
relay and milter cleaning workers after their first job, a relay cleaning in its own
process, the IMAP command, `scan` (many messages: frozen after warm-up, a high young
threshold) and `clean` (one message: no collector). The core itself never touches it."""
from __future__ import annotations

import ast
import asyncio
import gc
import socket
from pathlib import Path

import pytest

from pixelguard import cli_filter, gc_tuning
from pixelguard.imap import command as imap_command
from pixelguard.relay.cleaning import Cleaner
from pixelguard.relay.workers import WorkerPool

ROOT = Path(__file__).resolve().parents[1]
NEWSLETTER = ROOT / "fixtures" / "demo-newsletter.eml"
# the library: what runs inside other people's processes and threads
LIBRARY = ("core.py", "cache.py", "css.py", "htmlscan.py", "message.py", "rewrite.py",
           "urls.py", "detect", "trackers", "notice", "links")


@pytest.fixture
def collector():
    """This test process's collector, as the test found it, put back afterwards."""
    threshold, enabled = gc.get_threshold(), gc.isenabled()
    gc.unfreeze()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)
    (gc.enable if enabled else gc.disable)()


def tuned_for_many() -> bool:
    return gc.get_freeze_count() > 0 and gc.get_threshold()[0] == gc_tuning.YOUNG_THRESHOLD


def collector_state() -> tuple[int, int, bool]:
    return gc.get_freeze_count(), gc.get_threshold()[0], gc.isenabled()


@pytest.mark.e2e  # spawns a worker process
def test_a_cleaning_worker_tunes_its_collector_after_its_first_job():
    pool = WorkerPool(1)
    try:
        first, second = asyncio.run(_two_jobs(pool))
    finally:
        pool.close()
    assert first == (0, 700, True)  # (the first job runs as the worker started)
    assert second[0] > 0 and second[1:] == (gc_tuning.YOUNG_THRESHOLD, True)


async def _two_jobs(pool: WorkerPool):
    return await pool.run(collector_state), await pool.run(collector_state)


def test_a_relay_cleaning_in_its_own_process_tunes_it_at_start(collector):
    assert not tuned_for_many()
    Cleaner(workers=0).start()
    assert tuned_for_many()


def test_scan_tunes_the_collector_for_many_messages(collector, capsys):
    assert not tuned_for_many()
    assert cli_filter.main(["scan", str(NEWSLETTER)]) == 0
    assert tuned_for_many()


def test_clean_switches_the_collector_off(collector, capsysbinary):
    assert gc.isenabled()
    assert cli_filter.main(["clean", str(NEWSLETTER)]) == 0
    assert capsysbinary.readouterr().out  # (the message was written out)
    assert not gc.isenabled()


def test_the_imap_command_tunes_the_collector_before_its_pass(collector, tmp_path, monkeypatch):
    with socket.socket() as s:  # a loopback port nobody listens on: the pass fails at once
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = tmp_path / "pixelguard.yaml"
    config.write_text("imap:\n  accounts:\n    - name: a\n      host: 127.0.0.1\n"
                      f"      port: {port}\n      security: none\n      username: alice\n"
                      "      password_env: PG_TEST_PW\n")
    monkeypatch.setenv("PG_TEST_PW", "secret")
    assert not tuned_for_many()
    imap_command.main(["--config", str(config), "--once", "--quiet"])
    assert tuned_for_many()


def test_the_library_never_touches_the_collector():
    package = ROOT / "pixelguard"
    files = [p for name in LIBRARY for p in
             ((package / name).rglob("*.py") if (package / name).is_dir() else [package / name])]
    assert len(files) > 20
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module] if isinstance(node, ast.ImportFrom) else [])
            assert "gc" not in names and "pixelguard.gc_tuning" not in names, path
            if isinstance(node, ast.ImportFrom) and node.module == "pixelguard":
                assert "gc_tuning" not in [a.name for a in node.names], path
