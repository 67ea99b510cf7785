"""Flow: materialise the wedding calendar into scheduled runs that act ahead of weddings."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta

from prefect import flow, get_run_logger
from prefect.artifacts import create_table_artifact

from tasks.planning import plan_live_runs, reconcile_planned_runs
from wedperf.calendar.schedule import PlannedRun
from wedperf.calendar.sync import weddings_in_day_windows
from wedperf.capacity.plan import PLAN_TAG
from wedperf.capacity.plan import plan_wedding_ops as make_plan
from wedperf.capacity.state import lowered_targets, raised_targets
from wedperf.runtime import get_runtime

# Restores land up to a day window plus delays after the horizon's last wedding starts.
RECONCILE_SLACK = timedelta(days=2)


@flow(name="plan-wedding-ops", log_prints=True)
def plan_wedding_ops(dry_run: bool = False) -> dict:
    """For weddings in the horizon (default 7 days): pre-warm, capacity-floor raise and
    restore runs (and target-utilisation lower and restore runs on HPA targets), grouped by
    time slot and target; plus the short-horizon collection and
    watch runs. Re-planning creates nothing new when nothing changed and cancels the runs of
    moved or cancelled weddings. With `dry_run`, only report what would be scheduled."""
    logger = get_run_logger()
    runtime = get_runtime()
    settings = runtime.settings
    now = datetime.now(UTC)
    with runtime.pool.connection() as conn:
        weddings = weddings_in_day_windows(conn, now, now + settings.ops.horizon, settings)
        raised = raised_targets(conn)
        lowered = lowered_targets(conn)
    runs = make_plan(
        weddings, now=now, settings=settings, raised_targets=raised, lowered_targets=lowered
    )
    logger.info("%d weddings in the horizon -> %d runs", len(weddings), len(runs))
    listing = [
        {
            "scheduled (UTC)": run.scheduled_time.strftime("%Y-%m-%d %H:%M"),
            "operation": run.operation,
            "target": run.target or "",
            "weddings": len(run.wedding_ids),
            "name": run.name,
        }
        for run in runs
    ]
    counts: dict[str, dict[str, int]] = {}
    if not dry_run:
        by_deployment: dict[str, list[PlannedRun]] = defaultdict(list)
        for run in runs:
            by_deployment[run.deployment].append(run)
        for deployment in (settings.ops.prewarm_deployment, settings.ops.floor_deployment):
            counts[deployment] = reconcile_planned_runs(
                deployment,
                by_deployment.get(deployment, []),
                scope_tag=PLAN_TAG,
                window=(now, now + settings.ops.horizon + RECONCILE_SLACK),
                cancel_stale=True,
            )
        counts |= plan_live_runs(now)
    create_table_artifact(
        key="wedding-ops-plan",
        table=listing[:500] or [{"scheduled (UTC)": "-", "operation": "nothing planned"}],
        description=f"{'Dry run: ' if dry_run else ''}{len(runs)} runs for {len(weddings)} "
        f"weddings in the next {settings.ops.horizon}; {counts}",
    )
    return {"weddings": len(weddings), "runs": listing, "reconciled": counts, "dry_run": dry_run}
