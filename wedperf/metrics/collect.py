"""One collection round: which sources, which window, which weddings, and its summary."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta

from wedperf.calendar.sync import weddings_in_day_windows
from wedperf.config import ProbeTarget, Settings
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
from wedperf.metrics.sources.probe import probed_weddings
from wedperf.shards import Shard, split


def build_sources(
    settings: Settings, app_database_url: str, *, per_wedding_probes: bool = True
) -> list[MetricsSource]:
    """The configured sources: Prometheus (if a URL is set), the app DB, HTTP probes.

    Without `per_wedding_probes` the probe source times the platform targets only: a sharded
    round leaves the per-wedding ones to its shards (`wedding_probe_source`)."""
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
    targets = [t for t in settings.probes.targets if per_wedding_probes or not t.per_wedding]
    if targets:
        sources.append(_probe_source(settings, targets))
    return sources


def wedding_probe_source(settings: Settings) -> ProbeSource | None:
    """The probe source of the per-wedding targets alone (what a collection shard runs), or
    None when no target is per wedding."""
    targets = [t for t in settings.probes.targets if t.per_wedding]
    return _probe_source(settings, targets) if targets else None


def _probe_source(settings: Settings, targets: list[ProbeTarget]) -> ProbeSource:
    return ProbeSource(
        settings.probes.model_copy(update={"targets": targets}),
        clients=settings.rum.probe_clients,
        user_agents=settings.rum.user_agents,
    )


def wedding_shards(window: CollectWindow, settings: Settings) -> list[Shard]:
    """The shards of a collection round: the live weddings its per-wedding targets probe
    (`probed_weddings`, at most probes.max_weddings) in shards of collect_shard_size; none
    when no target is per wedding."""
    if not any(t.per_wedding for t in settings.probes.targets):
        return []
    probed = probed_weddings(window, settings.probes.max_weddings)
    return split((w.wedding_id for w in probed), settings.collect_shard_size)


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


def merge_summaries(tables: Iterable[list[dict[str, object]]]) -> list[dict[str, object]]:
    """`summarise` tables of the parts of one round (the round's own sources, each shard's
    probes) as one: per operation, weddings, samples and events added up, and the highest
    part's p95 (exact when one part saw the operation, as with one shard; otherwise the
    worst shard's, an upper view of the round rather than its pooled quantile)."""
    merged: dict[str, dict[str, object]] = {}
    for table in tables:
        for row in table:
            into = merged.setdefault(
                str(row["operation"]),
                {"operation": row["operation"], "weddings": 0, "samples": 0, "events": 0,
                 "p95_ms": None},
            )  # fmt: skip
            for key in ("weddings", "samples", "events"):
                into[key] = int(into[key]) + int(row.get(key) or 0)
            p95 = row.get("p95_ms")
            if p95 is not None and (into["p95_ms"] is None or p95 > into["p95_ms"]):
                into["p95_ms"] = p95
    return [merged[op] for op in sorted(merged)]
