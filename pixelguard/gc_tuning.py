"""How a process that cleans mail sets up Python's cyclic garbage collector.

The core allocates many small container objects per message (elements, attributes, parsed
styles) that live until the message is done, and keeps some between messages (cache.Cache).
With the collector's default thresholds a young collection runs every 700 allocations: it
walks a message's objects again and again and promotes them, and the full collections that
follow walk every long-lived object (modules, the tracker list, the cache). That cost some 7 %
of a corpus message's time and 20 % of a 10 MB part's (benchmarks/README.md, "What the core
keeps between messages"). The core never touches the collector (it runs in threads of
processes it does not own); each adapter, which owns its process, calls one of these once.
"""
from __future__ import annotations

import gc

# Allocations between young collections: most messages are cleaned within one or two, and
# the few reference cycles a message leaves behind (the email package's) are still collected.
YOUNG_THRESHOLD = 50_000


def for_many_messages() -> None:
    """A process that cleans message after message (a relay or milter cleaning worker, the
    IMAP command, `scan`), once it has warmed up (the core imported, the tracker list
    loaded): what exists now is left out of every later collection (gc.freeze), and young
    collections run every YOUNG_THRESHOLD allocations."""
    gc.collect()  # (garbage is not frozen)
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, *gc.get_threshold()[1:])


def for_one_message() -> None:
    """A process that cleans one message and exits (`pixelguard clean`): nothing it
    allocates needs the collector."""
    gc.disable()
