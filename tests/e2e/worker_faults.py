"""A cleaning function for tests whose message can kill the worker that cleans it.

Installed by monkeypatching `pixelguard.relay.cleaning.clean_or_mark`: the relay sends the
function to its workers by reference, and a spawned worker imports this module (it has the
tests' sys.path). A message with the header `X-Kill-Worker: DIR N` kills (SIGKILL) the
worker process that takes it, N times in all, counted by files in DIR; any other message,
and that one after N deaths, is cleaned as the relay cleans it. `X-Hang-Worker: DIR N`
stops (SIGSTOP) the worker that takes it instead, N times: a worker that never answers.
`X-Slow-Worker: S` makes the worker sleep S seconds before it cleans.
"""
from __future__ import annotations

import os
import re
import signal
import time

from pixelguard.relay.cleaning import clean_or_mark

_ORDER = re.compile(rb"^X-(Kill|Hang)-Worker: (\S+) (\d+)\r?$", re.MULTILINE)
_SLOW = re.compile(rb"^X-Slow-Worker: ([\d.]+)\r?$", re.MULTILINE)


def clean_or_die(raw: bytes, policy, auth=None):
    head = raw.split(b"\r\n\r\n", 1)[0]
    slow = _SLOW.search(head)
    if slow is not None:
        time.sleep(float(slow.group(1)))
    order = _ORDER.search(head)
    if order is not None:
        how, where, times = order.group(1), order.group(2).decode(), int(order.group(3))
        died = len(os.listdir(where))
        if died < times:
            with open(os.path.join(where, f"death{died}"), "w"):
                pass
            os.kill(os.getpid(), signal.SIGKILL if how == b"Kill" else signal.SIGSTOP)
    return clean_or_mark(raw, policy, auth)


def deaths(where) -> int:
    return len(os.listdir(where))
