"""The end-to-end demo on embedded defaults, as a plain function the CLI wraps.

Steps: start embedded PostgreSQL/Redis -> seed the sandbox platform -> bring a few weddings
into their day window now -> serve the sandbox app and drive wedding-day load at it -> sync the
calendar (Prefect flow) -> one collection round (Prefect flow) -> summary.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from wedperf.config import reset_settings_cache
from wedperf.db.connection import connect

LIVE_WEDDINGS = 4


class DemoError(RuntimeError):
    pass


def run_demo(
    *,
    out: Path,
    weddings: int,
    days: int,
    seed: int,
    requests: int,
    progress: Callable[[str], None],
) -> dict[str, Any]:
    """Run every step, reporting progress; returns the summary (also for `summary.json`)."""
    from wedperf.runtime import get_runtime
    from wedperf.sandbox.app import create_app
    from wedperf.sandbox.cache import clear_sandbox_cache
    from wedperf.sandbox.live import bring_weddings_live
    from wedperf.sandbox.load import drive_load
    from wedperf.sandbox.seed import seed_sandbox
    from wedperf.serving import serve_in_thread

    progress("starting embedded PostgreSQL and Redis (first run initialises them)")
    runtime = get_runtime()
    services = runtime.services
    now = datetime.now(UTC)

    progress(f"seeding the sandbox platform: {weddings} weddings over {days} days (seed {seed})")
    with connect(services.app_database_url) as conn:
        seeded = seed_sandbox(
            conn,
            weddings=weddings,
            days=days,
            seed=seed,
            start=date.today() - timedelta(days=days // 2),
            now=now,
        )
        live_ids = bring_weddings_live(conn, count=LIVE_WEDDINGS, now=now, seed=seed)
    # A previous run's cached guest lists and timelines describe the old data set.
    clear_sandbox_cache(services.redis_url)
    progress(f"{LIVE_WEDDINGS} weddings moved into today's day window: {live_ids}")

    progress("serving the sandbox app")
    with serve_in_thread(create_app(services.app_database_url, services.redis_url)) as base_url:
        # Probes target the served app; settings are re-read so flows in this process see it.
        os.environ["WEDPERF_PROBES__BASE_URL"] = base_url
        reset_settings_cache()

        progress(f"driving {requests} requests of wedding-day load at {base_url}")
        load = drive_load(base_url, live_ids, requests=requests, concurrency=16, seed=seed)

        progress("calendar sync (Prefect flow sync-calendar; a local Prefect server starts)")
        from flows.collect_metrics import collect_metrics
        from flows.sync_calendar import sync_calendar

        synced = sync_calendar(plan_collection=False)

        progress("one collection round (Prefect flow collect-metrics)")
        state = collect_metrics(lookback_minutes=15, return_state=True)
        collected = state.result(raise_on_failure=False)
        if not isinstance(collected, dict):
            raise DemoError(f"collection failed: {state.message}")

    with connect(services.database_url) as conn:
        stored = conn.execute(
            "SELECT (SELECT count(*) FROM perf.weddings), "
            "(SELECT count(*) FROM perf.samples), (SELECT count(*) FROM perf.rollups_minute)"
        ).fetchone()

    lines = [
        f"PostgreSQL: {'embedded' if services.embedded_postgres else 'configured'}, "
        f"Redis: {'embedded' if services.embedded_redis else 'configured'} "
        f"(data dir {runtime.settings.data_dir})",
        f"sandbox: {seeded.counts['weddings']} weddings, {seeded.counts['guests']} guests, "
        f"{seeded.dst_day_weddings} on daylight-saving change days",
        f"calendar: {synced['inserted']} new, {synced['updated']} updated, "
        f"{synced['rejected']} rejected -> perf.weddings has {stored[0]} weddings",
        f"load: {load.requests} requests, "
        + ", ".join(f"{op} p95 {s.p95_ms:.0f} ms" for op, s in load.operations.items()),
        f"collection: {collected['live_weddings']} live weddings, {collected['samples']} samples "
        f"({collected['new_samples']} new), {collected['rollup_rows']} rollup rows",
    ]
    for row in collected["operations"]:
        p95 = "-" if row["p95_ms"] is None else f"{row['p95_ms']:.1f} ms"
        lines.append(
            f"  {row['operation']:<16} weddings {row['weddings']:>3}  samples "
            f"{row['samples']:>5}  p95 {p95}"
        )
    if collected["failed_sources"]:
        lines.append(f"failed sources: {collected['failed_sources']}")
    lines.append(f"perf.samples: {stored[1]} rows; perf.rollups_minute: {stored[2]} rows")
    return {
        "lines": lines,
        "seed": {"weddings": weddings, "days": days, "seed": seed},
        "live_weddings": live_ids,
        "calendar": synced,
        "collection": collected,
        "totals": {"weddings": stored[0], "samples": stored[1], "rollups": stored[2]},
        "out": str(out),
    }
