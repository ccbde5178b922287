"""Prometheus metrics of the milter, served on `milter.metrics` (host:port) when it is set.

Where a metric means what the relay's does, it has the relay's name (relay.metrics.Endpoint),
so one dashboard reads both doors: trackers removed, clean errors, the per-message latency.
What only a milter has is named pixelguard_milter_*.
"""
from __future__ import annotations

from prometheus_client import Counter, Gauge

from pixelguard.relay.metrics import Endpoint


class Metrics(Endpoint):
    def __init__(self) -> None:
        super().__init__(
            clean_errors_help="Messages passed on uncleaned because the core could not clean them",
            latency_help="Time from the end of the message to our answer to the MTA "
            "(cleaning included)",
        )
        self.messages = Counter(
            "pixelguard_milter_messages",
            "Messages handled, by outcome (cleaned, unchanged, error, oversize, busy, timeout, "
            "not-granted)",
            ["outcome"],
            registry=self.registry,
        )
        self.sessions = Gauge(
            "pixelguard_milter_sessions",
            "MTA connections open now",
            registry=self.registry,
        )
