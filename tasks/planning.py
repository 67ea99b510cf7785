"""Turning the calendar into scheduled Prefect flow runs, and keeping them in step with it."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

from prefect import get_run_logger, task
from prefect.cache_policies import NONE
from prefect.client.orchestration import PrefectClient, get_client
from prefect.client.schemas.filters import (
    DeploymentFilter,
    DeploymentFilterId,
    FlowRunFilter,
    FlowRunFilterExpectedStartTime,
    FlowRunFilterTags,
)
from prefect.exceptions import ObjectNotFound
from prefect.states import Cancelled, Scheduled

from wedperf.calendar.schedule import PlannedRun

PLANNED_TAG = "calendar-planned"
CREATE_CONCURRENCY = 16  # requests in flight while creating or cancelling planned runs


@task(name="reconcile-planned-runs", retries=2, retry_delay_seconds=[5, 30], cache_policy=NONE)
def reconcile_planned_runs(
    deployment: str,
    runs: Sequence[PlannedRun],
    *,
    scope_tag: str,
    window: tuple[datetime, datetime],
    cancel_stale: bool,
) -> dict[str, int]:
    """Make the deployment's scheduled runs tagged `scope_tag` in `window` match `runs`.

    Existing runs are read first, once, in pages, so a re-plan with nothing changed creates
    nothing. Missing runs are created concurrently (at most CREATE_CONCURRENCY requests in
    flight on one async client: at 20,000 weddings a plan is thousands of requests, and one
    at a time they are most of its time), each with its idempotency key (a concurrent
    planner, or this task's retry after a partial pass, gets the same run back from the
    server). With `cancel_stale`, scheduled runs the plan no longer wants (a moved or
    cancelled wedding) are cancelled. A deployment that is not registered is reported, not
    raised: flows run outside a deployment (the demo) have nothing to plan onto.
    """
    logger = get_run_logger()
    counts = {"created": 0, "existing": 0, "cancelled": 0}
    if not runs and not cancel_stale:
        return counts
    result = asyncio.run(_reconcile(deployment, runs, scope_tag, window, cancel_stale))
    if result is None:
        logger.warning("deployment %s is not registered; no runs planned", deployment)
        return counts | {"missing_deployment": 1}
    logger.info("%s: %s", deployment, result)
    return result


async def _reconcile(
    deployment: str,
    runs: Sequence[PlannedRun],
    scope_tag: str,
    window: tuple[datetime, datetime],
    cancel_stale: bool,
) -> dict[str, int] | None:
    counts = {"created": 0, "existing": 0, "cancelled": 0}
    limit = asyncio.Semaphore(CREATE_CONCURRENCY)
    async with get_client() as client:
        try:
            target = await client.read_deployment_by_name(deployment)
        except ObjectNotFound:
            return None
        existing = await _planned_runs(client, target.id, scope_tag, *window)
        wanted = {run.idempotency_key for run in runs}
        missing = [run for run in runs if run.idempotency_key not in existing]
        counts["existing"] = len(runs) - len(missing)

        async def create(run: PlannedRun) -> None:
            async with limit:
                await client.create_flow_run_from_deployment(
                    target.id,
                    parameters=run.parameters,
                    state=Scheduled(scheduled_time=run.scheduled_time),
                    idempotency_key=run.idempotency_key,
                    name=run.name,
                    tags=[*run.tags, scope_tag],
                )

        async def cancel(run_id: UUID) -> None:
            async with limit:
                await client.set_flow_run_state(
                    run_id, Cancelled(message="no longer in the plan (calendar changed)")
                )

        await asyncio.gather(*(create(run) for run in missing))
        counts["created"] = len(missing)
        if cancel_stale:
            stale = [
                run_id
                for key, (run_id, is_scheduled) in existing.items()
                if key not in wanted and is_scheduled
            ]
            await asyncio.gather(*(cancel(run_id) for run_id in stale))
            counts["cancelled"] = len(stale)
    return counts


async def _planned_runs(
    client: PrefectClient, deployment_id: UUID, tag: str, first: datetime, last: datetime
) -> dict[str | None, tuple[UUID, bool]]:
    """Idempotency key -> (run id, still scheduled) of tagged runs expected in [first, last],
    read in pages (the API's limit per request)."""
    runs: dict[str | None, tuple[UUID, bool]] = {}
    page, offset = 200, 0
    while True:
        batch = await client.read_flow_runs(
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id])),
            flow_run_filter=FlowRunFilter(
                expected_start_time=FlowRunFilterExpectedStartTime(after_=first, before_=last),
                tags=FlowRunFilterTags(all_=[tag]),
            ),
            limit=page,
            offset=offset,
        )
        for run in batch:
            runs[run.idempotency_key] = (run.id, bool(run.state and run.state.is_scheduled()))
        if len(batch) < page:
            return runs
        offset += page


def plan_live_runs(now: datetime) -> dict[str, dict[str, int]]:
    """Dense collection (every minute) and critical-path watch (every few minutes) runs across
    the day windows of weddings in the short planning horizon. Called from flows."""
    from wedperf.calendar.schedule import grid_runs, window_grid_times
    from wedperf.calendar.sync import weddings_in_day_windows
    from wedperf.runtime import get_runtime

    runtime = get_runtime()
    settings = runtime.settings
    horizon_end = now + settings.collect_plan_horizon
    with runtime.pool.connection() as conn:
        upcoming = weddings_in_day_windows(conn, now, horizon_end, settings)
    windows = [
        w.day_window(settings.day_window_before, settings.day_window_after) for w in upcoming
    ]
    planned = {}
    # Overlapping weddings share grid instants: one run per instant, whatever the count.
    for deployment, interval, prefix, tag in (
        (settings.collect_deployment, settings.dense_collect_interval, "collect-live", "collect"),
        (settings.watch_deployment, settings.critical_path.interval, "watch", "watch"),
    ):
        times = window_grid_times(
            windows, now=now, horizon=settings.collect_plan_horizon, interval=interval
        )
        planned[prefix] = reconcile_planned_runs(
            deployment,
            grid_runs(deployment, times, prefix=prefix, tag=tag),
            scope_tag=PLANNED_TAG,
            window=(now, horizon_end),
            cancel_stale=False,
        )
    return planned
