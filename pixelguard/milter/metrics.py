"""Prometheus metrics of the milter, served on `milter.metrics` (host:port) when it is set.

Where a metric means what the relay's does, it has the relay's name (pixelguard/relay/
metrics.py), so one dashboard reads both doors: trackers removed, clean errors, the
per-message latency. What only a milter has is named pixelguard_milter_*.
"""
from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from pixelguard.model import Finding


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.messages = Counter(
            "pixelguard_milter_messages",
            "Messages handled, by outcome (cleaned, unchanged, error, oversize, busy, timeout, "
            "not-granted)",
            ["outcome"],
            registry=self.registry,
        )
        self.trackers = Counter(
            "pixelguard_relay_trackers_removed",
            "Trackers removed, by vendor and rule",
            ["vendor", "rule"],
            registry=self.registry,
        )
        self.clean_errors = Counter(
            "pixelguard_relay_clean_errors",
            "Messages passed on uncleaned because the core could not clean them",
            registry=self.registry,
        )
        self.latency = Histogram(
            "pixelguard_relay_message_seconds",
            "Time from the end of the message to our answer to the MTA (cleaning included)",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
            registry=self.registry,
        )
        self.sessions = Gauge(
            "pixelguard_milter_sessions",
            "MTA connections open now",
            registry=self.registry,
        )
        self._server = None

    def found(self, findings: list[Finding]) -> None:
        for f in findings:
            self.trackers.labels(vendor=f.vendor or "", rule=f.rule).inc()

    def serve(self, host: str, port: int) -> int:
        server, _thread = start_http_server(port, addr=host, registry=self.registry)
        self._server = server
        return server.server_address[1]

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
