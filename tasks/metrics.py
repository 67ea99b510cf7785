"""Metrics tasks: ask one source, store samples, roll them up."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from prefect import task
from prefect.cache_policies import NONE

from wedperf.metrics.model import CollectWindow, MetricsSource, Sample
from wedperf.metrics.store import rollup_minutes, store_samples
from wedperf.runtime import get_runtime


@task(
    name="collect-from-source",
    task_run_name="collect-{source.name}",
    retries=2,
    retry_delay_seconds=[1, 3],
    cache_policy=NONE,
)
def collect_from_source(source: MetricsSource, window: CollectWindow) -> list[Sample]:
    """Samples of one source for the window; a failure fails only this task."""
    return source.collect(window)


@task(name="store-samples", retries=2, retry_delay_seconds=[2, 10], cache_policy=NONE)
def store_samples_task(samples: Sequence[Sample]) -> int:
    """COPY samples into perf.samples (idempotent); returns how many were new."""
    runtime = get_runtime()
    return store_samples(
        runtime.pool,
        samples,
        partition_days_ahead=runtime.settings.sample_partition_days_ahead,
    )


@task(name="rollup-minutes", retries=2, retry_delay_seconds=[2, 10], cache_policy=NONE)
def rollup_task(window: CollectWindow) -> int:
    """Recompute per-minute p50/p95/p99 per wedding x operation for the window, and on by
    up to one dense collection interval (never past now): a probe is stamped when it ran,
    during the round, after the window's aligned end; without the extra minutes the round's
    own probes would reach the SLI (and the error budgets) only with the next round's rollup,
    and the last round's never. A round runs within that interval (its shards time out
    there), so its probes are covered; a window that ended long ago (collect_metrics with a
    past `end`) rolls up its own minutes, not everything since."""
    runtime = get_runtime()
    settings = runtime.settings
    with runtime.pool.connection() as conn:
        return rollup_minutes(
            conn,
            window.start,
            rollup_end(window, settings.dense_collect_interval, datetime.now(UTC)),
            before=settings.day_window_before,
            after=settings.day_window_after,
        )


def rollup_end(window: CollectWindow, interval: timedelta, now: datetime) -> datetime:
    """Where a round's rollup ends: the window's end plus one dense interval (the round's
    own probes, stamped after the window's end), not past now, never before the window's
    end."""
    return max(window.end, min(now, window.end + interval))
