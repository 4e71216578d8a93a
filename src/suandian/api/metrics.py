"""Prometheus metrics of one app instance (its own registry, so several apps can coexist)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

__all__ = ["Metrics"]


class Metrics:
    """Request counts and latency per route, readings ingested, authentication failures."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "suandian_http_requests",
            "HTTP requests answered, by method, route template and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "suandian_http_request_duration_seconds",
            "Time to answer an HTTP request, by route template.",
            ["route"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
            registry=self.registry,
        )
        self.readings = Counter(
            "suandian_readings_ingested",
            "Readings rows handled by ingestion, by channel (http, mqtt) and outcome "
            "(new, corrected, duplicate, rejected).",
            ["channel", "outcome"],
            registry=self.registry,
        )
        self.auth_failures = Counter(
            "suandian_auth_failures",
            "Requests refused for a missing or invalid token.",
            registry=self.registry,
        )
