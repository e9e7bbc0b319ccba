"""Prometheus metrics of ``impasto serve``: requests, latency, queue depth, errors by kind, jobs.

One registry per app (not the library's global one), so several apps in one process, as in the tests, do not mix.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class ServerMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "impasto_requests", "HTTP requests by endpoint and status", ["endpoint", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "impasto_request_seconds", "request latency by endpoint", ["endpoint"], buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )  # fmt: skip
        self.queue_depth = Gauge("impasto_queue_depth", "stylise requests waiting for a slot", registry=self.registry)
        self.in_flight = Gauge("impasto_in_flight", "stylise requests running", registry=self.registry)
        self.errors = Counter("impasto_errors", "failed requests by kind", ["kind"], registry=self.registry)
        self.jobs = Gauge("impasto_jobs", "optimisation jobs by state", ["state"], registry=self.registry)

    def text(self) -> bytes:
        return generate_latest(self.registry)
