"""What the core keeps between messages is one object the caller passes in (pixelguard.cache):
the tracker lists come in loaded, the core reads no list file, and a reload is a swap."""
from __future__ import annotations

import gc
import json
import sys
from pathlib import Path

from pixelguard import Policy, cache, clean_message
from pixelguard.cache import Cache, Memory
from pixelguard.model import LinkOptions
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
        cache.swap()
        assert [f.vendor for f in clean_message(RAW, policy).findings] == ["After"]
    finally:
        cache.swap()


LINK = "https://shop.example/p?ref_a=1&id=4"
LINKED = (b"From: news@shop.example\nTo: bob@example.org\nContent-Type: text/html\n\n"
          b'<p>Hello</p><a href="' + LINK.encode() + b'">Shop</a>\n')


def _link_list(path: Path, param: str) -> str:
    path.write_text(json.dumps({"format": "pixelguard-links/1", "params": [{"name": param}]}))
    return str(path)


def _href(raw: bytes) -> str:
    body = raw.split(b"\n\n", 1)[1].decode()
    start = body.index('href="') + 6
    return body[start:body.index('"', start)].replace("&amp;", "&")


def test_link_lists_handed_in_are_used_and_no_list_file_is_read(tmp_path: Path) -> None:
    from pixelguard.links.rules import load_rules
    from pixelguard.model import LinkOptions

    path = _link_list(tmp_path / "links.json", "ref_a")
    policy = Policy(links=LinkOptions(strip_params=True, lists=(path,)))
    given = Cache(links={(path,): load_rules([path])})
    Path(path).unlink()
    result = clean_message(LINKED, policy, given)
    assert result.skipped == [] and _href(result.raw) == "https://shop.example/p?id=4"
    # not given, and no loader: the links stay as sent and the header says why
    result = clean_message(LINKED, policy, Cache())
    assert _href(result.raw) == LINK
    assert result.skipped == [f"part 1 links not edited (links lists not loaded by the caller: {path})"]


def test_load_reads_the_lists_a_policy_names_and_the_core_uses_them(tmp_path: Path) -> None:
    from pixelguard.model import LinkOptions

    trackers = _list(tmp_path / "mine.json", "Mine")
    links = _link_list(tmp_path / "links.json", "ref_a")
    policy = Policy(extra_lists=(trackers,), links=LinkOptions(strip_params=True, lists=(links,)))
    given = Cache()  # no loaders: the core could not read a list itself
    given.load(policy)
    Path(trackers).unlink()
    Path(links).unlink()
    assert [f.vendor for f in clean_message(RAW, policy, given).findings] == ["Mine"]
    assert _href(clean_message(LINKED, policy, given).raw) == "https://shop.example/p?id=4"


def test_a_list_load_cannot_read_is_reported_by_each_message_and_read_again_by_the_next_load(
        tmp_path: Path) -> None:
    from pixelguard.model import LinkOptions

    trackers = str(tmp_path / "trackers.json")  # not there yet
    links = str(tmp_path / "links.json")
    given = Cache()
    tracking = Policy(extra_lists=(trackers,))
    linking = Policy(links=LinkOptions(strip_params=True, lists=(links,)))
    given.load(tracking)
    given.load(linking)
    for turn in range(2):  # the same error for every message: the core reads no file
        failed = clean_message(RAW, tracking, given)
        assert failed.raw == RAW and failed.error is not None
        assert failed.error.startswith(f"{trackers}:0: cannot read tracker list")
        kept = clean_message(LINKED, linking, given)
        assert _href(kept.raw) == LINK and len(kept.skipped) == 1
        assert kept.skipped[0].startswith(f"part 1 links not edited ({links}: ")
        if turn == 0:  # the files appear: only the next load() reads them
            _list(Path(trackers), "Mine")
            _link_list(Path(links), "ref_a")
    given.load(tracking)
    given.load(linking)
    assert [f.vendor for f in clean_message(RAW, tracking, given).findings] == ["Mine"]
    assert _href(clean_message(LINKED, linking, given).raw) == "https://shop.example/p?id=4"


def _counting(load, reads: list[list[str]]):
    def counted(paths):
        reads.append(list(paths))
        return load(paths)
    return counted


def test_a_broken_tracker_list_is_read_again_only_once_its_file_changed(tmp_path: Path) -> None:
    path = tmp_path / "trackers.json"
    path.write_text('{"entries": [', encoding="utf-8")  # a syntax error
    reads: list[list[str]] = []
    given = Cache(load_lists=_counting(load_lists, reads))
    policy = Policy(extra_lists=(str(path),))
    given.load(policy)
    assert len(reads) == 1
    for _ in range(3):  # the same file: every message says why, none reads it again
        given.load(policy)
        failed = clean_message(RAW, policy, given)
        assert failed.raw == RAW and failed.error is not None and str(path) in failed.error
    assert len(reads) == 1
    _list(path, "Mine")  # fixed in place: the next load() reads it, no reload needed
    given.load(policy)
    assert len(reads) == 2
    assert [f.vendor for f in clean_message(RAW, policy, given).findings] == ["Mine"]
    given.load(policy)  # read once, kept
    assert len(reads) == 2


def test_a_broken_links_list_is_read_again_only_once_its_file_changed(tmp_path: Path) -> None:
    from pixelguard.links.rules import load_rules

    path = tmp_path / "links.json"
    path.write_text("{not json", encoding="utf-8")
    reads: list[list[str]] = []
    given = Cache(load_links=_counting(load_rules, reads))
    policy = Policy(links=LinkOptions(strip_params=True, lists=(str(path),)))
    for _ in range(3):
        given.load(policy)
        kept = clean_message(LINKED, policy, given)
        assert _href(kept.raw) == LINK
        assert kept.skipped[0].startswith(f"part 1 links not edited ({path}")
    assert len(reads) == 1
    path.unlink()  # gone: a change too (the error it gives is read anew)
    given.load(policy)
    assert len(reads) == 2
    _link_list(path, "ref_a")
    given.load(policy)
    assert len(reads) == 3
    assert _href(clean_message(LINKED, policy, given).raw) == "https://shop.example/p?id=4"


def test_a_broken_list_is_read_again_after_the_retry_time_even_unchanged(
        tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "trackers.json"
    path.write_text('{"entries": [', encoding="utf-8")
    reads: list[list[str]] = []
    given = Cache(load_lists=_counting(load_lists, reads))
    policy = Policy(extra_lists=(str(path),))
    given.load(policy)
    given.load(policy)
    assert len(reads) == 1
    monkeypatch.setattr(cache, "RETRY_UNREADABLE", 0.0)  # the retry time has passed
    given.load(policy)
    given.load(policy)
    assert len(reads) == 3


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


def test_a_memory_forgets_its_oldest_results_first_and_stays_within_its_characters() -> None:
    memory = Memory(chars=1600, largest=50)  # batches of up to 100 characters
    for n in range(1000):
        memory.put(n, str(n), 10)
        assert memory.used <= 1600
    assert memory.get(999) == "999" and memory.get(990) == "990"
    assert 0 not in memory and 800 not in memory
    assert 140 <= len(memory) <= 160


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
    # every value kept is one the budget counts: in a batch the FIFOCache holds, or the open one
    counted = {key for keys, _cost in memory._kept.values() for key in keys} | set(memory._batch)
    assert set(memory._values) <= counted


def test_facts_of_a_large_stylesheet_cost_what_the_sheet_holds() -> None:
    from pixelguard import css
    from pixelguard.detect.visibility import _sheet_cost

    small = css.parse_stylesheet(".a{color:red}")
    big = css.parse_stylesheet(".a{color:red;" + "x:" + "b" * 200_000 + "}")
    assert _sheet_cost(big) > 200_000 > _sheet_cost(small)


def test_a_list_load_could_not_read_keeps_nothing_of_the_messages_that_met_it(tmp_path):
    # What the cache keeps of an unreadable list is its error's text: not an exception whose
    # traceback holds the frames (and the bytes) of the last message that raised it.
    missing = str(tmp_path / "gone.txt")
    bad_links = tmp_path / "links.json"
    bad_links.write_text("{not json")
    raw = (b"From: a@b.example\r\nContent-Type: text/html\r\n\r\n"
           b"<a href='https://x.example/?utm_source=n'>x</a>" + b" " * 100_000)
    for policy, said in ((Policy(extra_lists=(missing,)), "gone.txt"),
                         (Policy(links=LinkOptions(strip_params=True, lists=(str(bad_links),))),
                          "links not edited")):
        cache = Cache()
        cache.load(policy)
        outcomes: list[str] = []

        def clean(policy=policy, cache=cache, outcomes=outcomes) -> None:
            result = clean_message(raw, policy, cache)
            outcomes.append(result.error or "; ".join(result.skipped))

        gc.collect()
        before = sys.getrefcount(raw)
        clean()
        gc.collect()
        assert said in outcomes[0]
        assert sys.getrefcount(raw) == before


def test_a_list_fixed_while_it_was_being_read_is_read_again(tmp_path: Path) -> None:
    path = tmp_path / "trackers.json"
    path.write_text('{"entries": [', encoding="utf-8")
    reads: list[list[str]] = []

    def fixed_meanwhile(paths):
        reads.append(list(paths))
        try:
            return load_lists(paths)
        finally:
            if len(reads) == 1:
                _list(path, "Mine")  # the fix lands after the file was read, before its error is kept

    given = Cache(load_lists=fixed_meanwhile)
    policy = Policy(extra_lists=(str(path),))
    given.load(policy)
    given.load(policy)  # the file differs from the one that failed: read again
    assert len(reads) == 2
    assert [f.vendor for f in clean_message(RAW, policy, given).findings] == ["Mine"]


def test_a_list_unreadable_by_its_mode_is_read_again_once_the_mode_is_fixed(
        tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "trackers.json"
    _list(path, "Mine")
    reads: list[list[str]] = []
    refused = [True]

    def by_mode(paths):  # (root reads a chmod 000 file: the refusal is the loader's)
        reads.append(list(paths))
        if refused[0]:
            raise PermissionError(13, "Permission denied", str(path))
        return load_lists(paths)

    monkeypatch.setattr(cache, "RETRY_UNREADABLE", 3600.0)
    given = Cache(load_lists=by_mode)
    policy = Policy(extra_lists=(str(path),))
    path.chmod(0)
    given.load(policy)
    given.load(policy)
    assert len(reads) == 1
    refused[0] = False
    failed_at = path.stat().st_ctime_ns
    path.chmod(0o644)  # only the file's change time moves
    while path.stat().st_ctime_ns == failed_at:  # (within one tick of the file system's clock)
        path.chmod(0o644)
    given.load(policy)
    assert len(reads) == 2
    assert [f.vendor for f in clean_message(RAW, policy, given).findings] == ["Mine"]


def test_a_read_that_failed_does_not_replace_a_list_read_meanwhile(tmp_path: Path) -> None:
    import threading

    path = tmp_path / "trackers.json"
    _list(path, "Mine")
    slow_started, good_kept = threading.Event(), threading.Event()

    def flaky(paths):
        if threading.current_thread().name == "slow":
            slow_started.set()
            good_kept.wait(10)
            raise OSError(24, "Too many open files")
        return load_lists(paths)

    given = Cache(load_lists=flaky)
    policy = Policy(extra_lists=(str(path),))
    slow = threading.Thread(target=given.load, args=(policy,), name="slow")
    slow.start()
    assert slow_started.wait(10)
    given.load(policy)  # another thread reads it fine while the slow read is failing
    good_kept.set()
    slow.join(10)
    assert [f.vendor for f in clean_message(RAW, policy, given).findings] == ["Mine"]


def test_a_memory_never_keeps_a_result_larger_than_its_store_and_never_raises() -> None:
    memory = Memory(chars=1600, largest=1600)  # (its store takes 1600 less a batch of 100)
    memory.put("a", "A", 1550)
    assert "a" not in memory and memory.used == 0
    memory.put("b", "B", 1500)
    assert memory.get("b") == "B" and memory.used == 1500


def test_a_result_put_twice_is_counted_once() -> None:
    memory = Memory(chars=1600, largest=100)
    for _ in range(10):  # (threads that missed the same key at once)
        memory.put("k", "K", 100)
    assert len(memory) == 1 and memory.used == 100
    for n in range(40):  # its batch is evicted in time: with it goes the result
        memory.put(n, n, 100)
    assert "k" not in memory and memory.used <= 1600
