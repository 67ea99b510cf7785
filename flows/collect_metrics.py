"""Flow: one collection round of wedding-aware metrics from every configured source."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from prefect import flow, get_run_logger
from prefect.artifacts import create_table_artifact
from prefect.states import Failed
from pydantic import PositiveInt

from tasks.metrics import collect_from_source, rollup_task, store_samples_task
from wedperf.metrics.collect import build_sources, plan_window, summarise
from wedperf.runtime import get_runtime


@flow(name="collect-metrics", log_prints=True)
def collect_metrics(lookback_minutes: PositiveInt | None = None, end: datetime | None = None):
    """Collect [end - lookback, end) from Prometheus, the app DB and HTTP probes into
    perf.samples, attribute samples to weddings and roll them up per minute.

    Every source runs as its own task: one that times out or answers garbage fails alone, the
    others' samples are stored, and the run ends Failed naming the broken source.
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
    sources = build_sources(settings, runtime.services.app_database_url)
    futures = {s.name: collect_from_source.submit(s, window) for s in sources}

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
    rollups = rollup_task(window)

    table = summarise(collected)
    create_table_artifact(
        key="collect-metrics",
        table=table or [{"operation": "-", "weddings": 0, "samples": 0, "p95_ms": None}],
        description=(
            f"Collection {window.start:%Y-%m-%d %H:%M}–{window.end:%H:%M} UTC: "
            f"{len(collected)} samples, {stored} new, {rollups} rollup rows"
            + (f"; failed sources: {', '.join(failures)}" if failures else "")
        ),
    )
    summary = {
        "window_start": window.start.isoformat(),
        "window_end": window.end.isoformat(),
        "live_weddings": len(window.live_weddings),
        "samples": len(collected),
        "new_samples": stored,
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
