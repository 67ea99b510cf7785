"""One collection round: which sources, which window, which weddings, and its summary."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta

import numpy as np

from wedperf.calendar.sync import weddings_in_window
from wedperf.config import Settings
from wedperf.db.connection import get_pool
from wedperf.metrics.model import LATENCY, CollectWindow, MetricsSource, Sample, aligned_window
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
        live = weddings_in_window(
            conn,
            start,
            aligned_end,
            before=settings.day_window_before,
            after=settings.day_window_after,
        )
    return CollectWindow(start=start, end=aligned_end, live_weddings=tuple(live))


def summarise(samples: Iterable[Sample]) -> list[dict[str, object]]:
    """Per operation: distinct weddings, sample count and latency p95 (seconds) of a round."""
    values: dict[str, list[float]] = defaultdict(list)
    weddings: dict[str, set[str]] = defaultdict(set)
    counts: dict[str, int] = defaultdict(int)
    for s in samples:
        counts[s.operation] += 1
        if s.metric == LATENCY:
            values[s.operation].append(s.value)
        if s.wedding_id:
            weddings[s.operation].add(s.wedding_id)
    return [
        {
            "operation": op,
            "weddings": len(weddings[op]),
            "samples": counts[op],
            "p95_ms": round(float(np.percentile(values[op], 95)) * 1000, 1) if values[op] else None,
        }
        for op in sorted(counts)
    ]
