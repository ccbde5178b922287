"""Hostile input against the shortcuts of the scanner and the detection: the time budget is
looked at often enough wherever the work happens, and nothing of one message (its selectors,
its tag names) stays referenced after it. Timings are checked by hand, not here."""
from __future__ import annotations

import gc
import tracemalloc

import pytest

from pixelguard import Policy, clean_message
from pixelguard.budget import Deadline
from pixelguard.detect import detect_html
from pixelguard.trackers import default_list

BOB = "bob@example.org"


class _CountingDeadline(Deadline):
    """A generous deadline that counts how often the work in progress looks at it."""

    def __init__(self) -> None:
        super().__init__(3600.0)
        self.checks = 0

    def check(self) -> None:
        self.checks += 1
        super().check()


def test_visibility_looks_at_the_time_budget_every_few_hundred_elements() -> None:
    # 64 pixels, each under 254 ancestors of its own: visibility is computed for ~16k
    # elements, on demand, in chains of 255. A budget check only inside chains of 256+ new
    # elements and every 64 resources would look at the budget three times in all here; with
    # a stylesheet that makes each element's check costly (20k `xN.c{display:none}` rules,
    # 0.7 MB) a 2 s budget then runs 19.5 s, and the default 20 s budget can be outrun the
    # same way. So the checks are counted: about one per 256 elements, at the least.
    body = "".join(
        "<div class=c>" * 254
        + f'<img src="https://t.example/o/Zx8Kq2Lm9Rt4Vb7Np3W{i}" width=1 height=1>'
        + "</div>" * 254
        for i in range(64)
    )
    deadline = _CountingDeadline()
    det = detect_html(f"<html><body>{body}</body></html>", Policy(recipients=(BOB,)),
                      default_list(), "1", deadline=deadline)
    assert len(det.findings) == 64
    elements = 64 * 255
    assert deadline.checks >= elements // 256 // 2, deadline.checks


def _with_selector(i: int, size: int) -> bytes:
    selector = f".m{i}" + " .x" * (size // 3)  # one selector, distinct per message
    html = (f"<html><head><style>{selector}{{display:none}}</style></head>"
            '<body><img src="https://cdn.shop.example/hero.jpg" width="600" height="300">'
            "</body></html>")
    return ("From: a@shop.example\nTo: bob@example.org\nContent-Type: text/html\n\n"
            + html).encode()


@pytest.mark.e2e  # four 100 kB selectors cleaned under tracemalloc: many seconds
def test_a_huge_selector_is_not_kept_alive_after_its_message() -> None:
    # A cache keyed by selector text with no length limit keeps every message's selectors
    # referenced by the worker after the message is done (40 messages with a 4 MB selector:
    # +216 MB RSS). Caches between messages skip texts over a size limit, as the stylesheet
    # cache does with CACHE_MAX_TEXT.
    policy = Policy(recipients=(BOB,), time_budget=120.0)
    clean_message(_with_selector(0, 100_000), policy)  # warm-up: tracker lists, module caches
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(1, 4):
            assert clean_message(_with_selector(i, 100_000), policy).error is None
        gc.collect()
        kept = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert kept < 100_000, f"{kept} bytes kept alive after three messages"


def test_long_invented_tag_names_are_not_kept_alive_after_their_message() -> None:
    # What a tag name means to the tree builder may be kept between messages only for names
    # a real element could have: a message of long invented names must not stay referenced
    # by the worker.
    from pixelguard.htmlscan import scan

    def doc(k: int) -> str:
        return "".join(f"<x{k:03d}{i:03d}{'a' * 20_000}>" for i in range(20))

    scan(doc(0))  # warm-up
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for k in range(1, 4):
            assert len(scan(doc(k)).elements) == 20
        gc.collect()
        kept = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert kept < 100_000, f"{kept} bytes kept alive after three documents"
