"""What the core keeps between messages is one object the caller passes in (pixelguard.cache):
the tracker lists come in loaded, the core reads no list file, and a reload is a swap."""
from __future__ import annotations

import json
from pathlib import Path

from pixelguard import Policy, cache, clean_message, core
from pixelguard.cache import Cache, Memory
from pixelguard.trackers import load_lists

URL = "https://cdn.shop.example/pixel-7.gif"
RAW = (b"From: news@shop.example\nTo: bob@example.org\nContent-Type: text/html\n\n"
       b'<p>Hello</p><img src="' + URL.encode() + b'" width="600" height="200" alt="Sale">\n')


def _list(path: Path, vendor: str) -> str:
    entry = {"vendor": vendor, "host": "cdn.shop.example", "path": "/pixel-"}
    path.write_text(json.dumps({"entries": [entry]}), encoding="utf-8")
    return str(path)


def test_lists_handed_in_are_used_and_no_list_file_is_read(tmp_path: Path) -> None:
    path = _list(tmp_path / "mine.json", "Mine")
    policy = Policy(extra_lists=(path,))
    given = Cache(lists={(path,): load_lists([path])})
    Path(path).unlink()  # the core cannot read it: what it uses came in with the cache
    found = clean_message(RAW, policy, given).findings
    assert [(f.rule, f.vendor) for f in found] == [("known-tracker", "Mine")]
    assert clean_message(RAW, Policy(), given).findings == []  # the shipped list alone


def test_a_policy_naming_lists_its_cache_was_not_given_passes_the_message_with_an_error(
        tmp_path: Path) -> None:
    path = _list(tmp_path / "mine.json", "Mine")
    result = clean_message(RAW, Policy(extra_lists=(path,)), Cache())
    assert result.raw == RAW and result.findings == []
    assert result.error is not None and "not loaded" in result.error and path in result.error


def test_a_reload_swaps_the_default_cache_and_the_lists_are_read_again(tmp_path: Path) -> None:
    path = _list(tmp_path / "mine.json", "Before")
    policy = Policy(extra_lists=(path,))
    try:
        assert [f.vendor for f in clean_message(RAW, policy).findings] == ["Before"]
        _list(Path(path), "After")
        assert [f.vendor for f in clean_message(RAW, policy).findings] == ["Before"]  # kept
        core.forget_tracker_lists()
        assert [f.vendor for f in clean_message(RAW, policy).findings] == ["After"]
    finally:
        cache.swap()


def test_a_memory_keeps_what_fits_its_characters_and_never_what_is_too_large() -> None:
    memory = Memory(chars=10, largest=6)
    memory.put("a", "x", 6)
    memory.put("b", "y", 4)
    assert memory.used == 10 and "a" in memory and memory.get("b") == "y"
    memory.put("c", "z", 3)  # the oldest goes to make room
    assert "a" not in memory and memory.get("c") == "z" and memory.used <= 10
    memory.put("big", 1, 7)
    assert "big" not in memory
    missing = object()
    memory.put("none", None, 1)
    assert memory.get("none", missing) is None and memory.get("other", missing) is missing


def test_concurrent_puts_keep_a_memory_consistent_and_bounded() -> None:
    # threads share the process default Cache (IMAP jobs, a relay without workers)
    import sys
    import threading

    from pixelguard.cache import Memory

    memory = Memory(2000, 100)
    errors: list[BaseException] = []
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible

    def work(k: int) -> None:
        try:
            for n in range(20_000):
                memory.put((k, n), n, 10 + n % 50)
                memory.get((k, n - 1))
        except BaseException as exc:  # noqa: BLE001 - any error is the failure shown
            errors.append(exc)

    try:
        threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(old)
    assert errors == []
    assert memory.used <= 2000
    assert len(memory._values) == len(memory)  # every value kept is one the budget counts
