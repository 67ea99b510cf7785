"""Flow: one collection round of wedding-aware metrics from every configured source."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from prefect import flow, get_run_logger
from prefect.artifacts import create_table_artifact
from prefect.states import Failed
from pydantic import PositiveInt

from flows.collect_metrics_shard import collect_metrics_shard
from tasks.metrics import collect_from_source, rollup_task, store_samples_task
from tasks.shards import run_shards
from wedperf.metrics.collect import (
    build_sources,
    merge_summaries,
    plan_window,
    summarise,
    wedding_shards,
)
from wedperf.runtime import get_runtime
from wedperf.shards import shard_requests


@flow(name="collect-metrics", log_prints=True)
def collect_metrics(lookback_minutes: PositiveInt | None = None, end: datetime | None = None):
    """Collect [end - lookback, end) from Prometheus, the app DB and HTTP probes into
    perf.samples, attribute samples to weddings and roll them up per minute.

    Every source runs as its own task: one that times out or answers garbage fails alone, the
    others' samples are stored, and the run ends Failed naming the broken source. The
    per-wedding probes of the live weddings run in shards of `collect_shard_size`, flow runs
    of `collect_shard_deployment` on the work pool (here, one after the other, with no
    worker); a shard that fails after its retry is reported like a broken source, one still
    running after the dense interval is reported late (its samples are rolled up by the next
    round, whose lookback covers this window). The rollup runs once, after the shards.
    """
    logger = get_run_logger()
    runtime = get_runtime()
    settings = runtime.settings
    window = plan_window(
        settings,
        runtime.services.database_url,
        end=end or datetime.now(UTC),
        lookback=None if lookback_minutes is None else timedelta(minutes=lookback_minutes),
    )
    logger.info(
        "window %s .. %s, %d weddings live",
        window.start.isoformat(),
        window.end.isoformat(),
        len(window.live_weddings),
    )
    sources = build_sources(settings, runtime.services.app_database_url, per_wedding_probes=False)
    futures = {s.name: collect_from_source.submit(s, window) for s in sources}
    shards = wedding_shards(window, settings)
    requests = shard_requests(
        settings.collect_shard_deployment,
        window.end,
        shards,
        lambda shard: {
            "start": window.start,
            "end": window.end,
            "wedding_ids": shard.wedding_ids,
            "label": shard.label,
        },
    )
    sharded = run_shards(
        settings.collect_shard_deployment,
        collect_metrics_shard,
        requests,
        timeout=settings.dense_collect_interval,
        tags=["collect-shard"],
        touched="probed",
    )

    collected, failures = [], {}
    stored = 0
    for name, future in futures.items():
        future.wait()
        if future.state.is_completed():
            samples = future.result()
            collected.extend(samples)
            stored += store_samples_task(samples)
        else:
            failures[name] = str(future.state.message or "failed")
    for outcome in sharded.outcomes:
        if outcome.status == "failed":
            failures[f"probe shard {outcome.label}"] = outcome.message
    rollups = rollup_task(window)

    table = merge_summaries([summarise(collected)] + [r["operations"] for r in sharded.results])
    total = len(collected) + sharded.total("samples")
    stored += sharded.total("new_samples")
    create_table_artifact(
        key="collect-metrics",
        table=table or [{"operation": "-", "weddings": 0, "samples": 0, "p95_ms": None}],
        description=(
            f"Collection {window.start:%Y-%m-%d %H:%M}–{window.end:%H:%M} UTC: "
            f"{total} samples, {stored} new, {rollups} rollup rows, "
            f"{len(shards)} probe shards"
            + (f"; failed sources: {', '.join(failures)}" if failures else "")
        ),
    )
    summary = {
        "window_start": window.start.isoformat(),
        "window_end": window.end.isoformat(),
        "live_weddings": len(window.live_weddings),
        "samples": total,
        "new_samples": stored,
        **sharded.summary(),
        "rollup_rows": rollups,
        "failed_sources": failures,
        "operations": table,
    }
    if failures:
        return Failed(
            message="sources failed: "
            + "; ".join(f"{name}: {message}" for name, message in failures.items()),
            data=summary,
        )
    return summary
