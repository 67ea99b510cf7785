"""Prometheus metrics of one sandbox app instance, in its own CollectorRegistry.

A registry per app (not the process-global one) lets tests and the demo run several apps in one
process without duplicate-metric errors and without reading each other's numbers.
`wedapp_request_duration_seconds{operation, wedding_id}` is what wedperf's default PromQL
queries (see wedperf.config.PrometheusSettings).
"""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

OPERATIONS = ("guest_list", "timeline_sync", "photo_upload", "vendor_notify")
# Cold reads take milliseconds to tens of ms, queued requests up to seconds.
LATENCY_BUCKETS = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip


@dataclass(frozen=True)
class AppMetrics:
    registry: CollectorRegistry
    request_duration: Histogram
    requests: Counter
    cache_lookups: Counter
    db_queries: Counter
    capacity: Gauge
    busy: Gauge
    queued: Gauge


def create_metrics() -> AppMetrics:
    """A fresh registry with the app's metrics registered in it."""
    registry = CollectorRegistry(auto_describe=True)
    return AppMetrics(
        registry=registry,
        request_duration=Histogram(
            "wedapp_request_duration_seconds",
            "Time from arrival to response, queueing for a worker slot included.",
            ("operation", "wedding_id"),
            buckets=LATENCY_BUCKETS,
            registry=registry,
        ),
        requests=Counter(
            "wedapp_requests",
            "Requests answered, by operation and HTTP status.",
            ("operation", "status"),
            registry=registry,
        ),
        cache_lookups=Counter(
            "wedapp_cache_lookups",
            "Redis cache lookups by result (hit, miss, error).",
            ("operation", "result"),
            registry=registry,
        ),
        db_queries=Counter(
            "wedapp_db_queries",
            "Statements sent to PostgreSQL, by operation.",
            ("operation",),
            registry=registry,
        ),
        capacity=Gauge(
            "wedapp_capacity_replicas", "Worker slots (replicas) configured.", registry=registry
        ),
        busy=Gauge("wedapp_busy_slots", "Worker slots in use.", registry=registry),
        queued=Gauge("wedapp_queued_requests", "Requests waiting for a slot.", registry=registry),
    )
