"""One collection round: which sources, which window, which weddings, and its summary."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta

from wedperf.calendar.sync import weddings_in_day_windows
from wedperf.config import Settings
from wedperf.db.connection import get_pool
from wedperf.metrics.histogram import INF, Histogram, quantile_of_events
from wedperf.metrics.model import (
    LATENCY,
    LATENCY_BUCKET,
    CollectWindow,
    MetricsSource,
    Sample,
    aligned_window,
)
from wedperf.metrics.sources import ProbeSource, PrometheusSource, SqlSource


def build_sources(settings: Settings, app_database_url: str) -> list[MetricsSource]:
    """The configured sources: Prometheus (if a URL is set), the app DB, HTTP probes."""
    sources: list[MetricsSource] = []
    if settings.prometheus.url:
        sources.append(
            PrometheusSource(settings.prometheus, client_label=settings.rum.client_label)
        )
    if settings.sql_source.enabled:
        sources.append(
            SqlSource(
                app_database_url,
                schema=settings.source_schema,
                timeout_s=settings.sql_source.timeout_seconds,
            )
        )
    if settings.probes.targets:
        sources.append(
            ProbeSource(
                settings.probes,
                clients=settings.rum.probe_clients,
                user_agents=settings.rum.user_agents,
            )
        )
    return sources


def plan_window(
    settings: Settings, database_url: str, *, end: datetime, lookback: timedelta | None = None
) -> CollectWindow:
    """The aligned window ending at `end`, with the weddings whose day window overlaps it."""
    start, aligned_end = aligned_window(
        end,
        lookback or settings.collect_lookback,
        timedelta(seconds=settings.prometheus.step_seconds),
    )
    with get_pool(database_url).connection() as conn:
        live = weddings_in_day_windows(conn, start, aligned_end, settings)
    return CollectWindow(start=start, end=aligned_end, live_weddings=tuple(live))


def summarise(samples: Iterable[Sample]) -> list[dict[str, object]]:
    """Per operation of a round: distinct weddings, stored samples, latency events (one per
    latency_s row, the +Inf counts of histogram buckets) and their p95 in ms (raw events and
    merged histograms, wedperf.metrics.histogram)."""
    values: dict[str, list[float]] = defaultdict(list)
    buckets: dict[str, dict[str, dict[float, float]]] = defaultdict(lambda: defaultdict(dict))
    weddings: dict[str, set[str]] = defaultdict(set)
    counts: dict[str, int] = defaultdict(int)
    for s in samples:
        counts[s.operation] += 1
        if s.metric == LATENCY:
            values[s.operation].append(s.value)
        elif s.metric == LATENCY_BUCKET and s.le is not None:
            series = buckets[s.operation][s.series.split("|le=")[0]]
            series[s.le] = series.get(s.le, 0.0) + s.value
        if s.wedding_id:
            weddings[s.operation].add(s.wedding_id)
    rows = []
    for op in sorted(counts):
        histograms = [
            Histogram(tuple(sorted(by_le)), tuple(by_le[le] for le in sorted(by_le)))
            for by_le in buckets[op].values()
            if INF in by_le
        ]
        events = len(values[op]) + sum(h.events for h in histograms)
        p95 = quantile_of_events(0.95, values[op], histograms) if events else None
        rows.append(
            {
                "operation": op,
                "weddings": len(weddings[op]),
                "samples": counts[op],
                "events": round(events),
                "p95_ms": round(p95 * 1000, 1) if p95 is not None else None,
            }
        )
    return rows
