"""The bounded memory the core keeps between messages (pixelguard/memo.py)."""
from __future__ import annotations

from pixelguard.memo import Memo


def test_it_keeps_what_fits_and_forgets_everything_when_entries_run_out():
    memo = Memo[str, int](entries=3, chars=1000, largest=100)
    for n, key in enumerate("abc"):
        memo.put(key, n, 1)
    assert [memo.get(k) for k in "abc"] == [0, 1, 2] and len(memo) == 3
    memo.put("d", 3, 1)
    assert len(memo) == 1 and memo.get("d") == 3 and memo.get("a") is None


def test_it_forgets_everything_when_its_characters_run_out():
    memo = Memo[str, str](entries=100, chars=10, largest=10)
    memo.put("a", "x", 6)
    memo.put("b", "y", 4)
    assert memo.used == 10 and "a" in memo and "b" in memo
    memo.put("c", "z", 1)
    assert memo.used == 1 and "a" not in memo and memo.get("c") == "z"


def test_a_result_larger_than_allowed_is_never_kept_and_none_is_a_result():
    memo = Memo[str, object](entries=10, chars=100, largest=5)
    memo.put("big", 1, 6)
    assert "big" not in memo and memo.used == 0
    missing = object()
    memo.put("no", None, 2)
    assert memo.get("no", missing) is None and memo.get("other", missing) is missing
