"""Prometheus metrics of the relay, served on `relay.metrics` (host:port) when it is set.

`Endpoint` holds what every door counts under the relay's names (trackers removed, clean
errors, per-message latency) and the HTTP endpoint; the milter's metrics build on it, so
one dashboard reads both doors."""
from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from pixelguard.model import Finding

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class Endpoint:
    """A private registry (several doors per process in tests), the metrics every door shares,
    and the HTTP endpoint that serves them."""

    def __init__(self, clean_errors_help: str, latency_help: str) -> None:
        self.registry = CollectorRegistry()
        self.trackers = Counter(
            "pixelguard_relay_trackers_removed",
            "Trackers removed, by vendor and rule",
            ["vendor", "rule"],
            registry=self.registry,
        )
        self.clean_errors = Counter(
            "pixelguard_relay_clean_errors", clean_errors_help, registry=self.registry
        )
        self.latency = Histogram(
            "pixelguard_relay_message_seconds",
            latency_help,
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self._server = None

    def found(self, findings: list[Finding]) -> None:
        for f in findings:
            self.trackers.labels(vendor=f.vendor or "", rule=f.rule).inc()

    def serve(self, host: str, port: int) -> int:
        """Start the HTTP endpoint; returns the port (useful when port is 0)."""
        server, _thread = start_http_server(port, addr=host, registry=self.registry)
        self._server = server
        return server.server_address[1]

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


class Metrics(Endpoint):
    """The relay's counters, gauges and latency histogram."""

    def __init__(self) -> None:
        super().__init__(
            clean_errors_help="Messages forwarded uncleaned because the core could not clean them",
            latency_help="Time from the end of DATA to our reply (cleaning + next hop)",
        )
        self.messages = Counter(
            "pixelguard_relay_messages",
            "Messages handled, by outcome (delivered, deferred, rejected, partial)",
            ["outcome"],
            registry=self.registry,
        )
        self.recipients = Counter(
            "pixelguard_relay_recipients",
            "Recipient deliveries, by the class of the final reply (2xx, 4xx, 5xx)",
            ["reply"],
            registry=self.registry,
        )
        self.nexthop_errors = Counter(
            "pixelguard_relay_nexthop_errors",
            "Next-hop replies that were not 2xx, by stage and class (4xx, 5xx)",
            ["stage", "reply"],
            registry=self.registry,
        )
        self.connections_refused = Counter(
            "pixelguard_relay_connections_refused",
            "Client connections refused, by reason (network, limit, shutdown)",
            ["reason"],
            registry=self.registry,
        )
        self.connections = Gauge(
            "pixelguard_relay_connections",
            "Client sessions open now",
            registry=self.registry,
        )
