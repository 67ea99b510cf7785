"""Flow: sync the wedding calendar, then plan dense metrics collection around wedding days."""

from __future__ import annotations

from datetime import UTC, datetime

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact
from prefect.events import emit_event

from tasks.calendar import sync_calendar_source
from tasks.planning import plan_live_runs
from wedperf.runtime import get_runtime

CALENDAR_CHANGED_EVENT = "wedperf.calendar.changed"


@flow(name="sync-calendar", log_prints=True)
def sync_calendar(ical: str | None = None, plan_collection: bool = True) -> dict:
    """Read the calendar (app-DB views, or the iCalendar feed `ical`) into perf.weddings,
    report rejected rows, and (with `plan_collection`) schedule runs across the day windows
    of weddings in the planning horizon: collection every minute, the critical-path watch
    every few minutes."""
    logger = get_run_logger()
    runtime = get_runtime()
    settings = runtime.settings
    report = sync_calendar_source(ical or settings.ical_url)
    logger.info("calendar %s", report.summary())

    planned = plan_live_runs(datetime.now(UTC)) if plan_collection else {}
    if report.changed:
        # Deployments that depend on the calendar (plan-wedding-ops, fit-forecasts) trigger
        # on this event (prefect.yaml `triggers:`).
        emit_event(
            event=CALENDAR_CHANGED_EVENT,
            resource={"prefect.resource.id": "wedperf.calendar"},
            payload={
                "inserted": len(report.inserted),
                "updated": len(report.updated),
                "cancelled": len(report.cancelled),
            },
        )

    rejects = "\n".join(f"| `{key}` | {reason} |" for key, reason in report.rejected[:200])
    create_markdown_artifact(
        key="calendar-sync",
        markdown=(
            f"# Calendar sync\n\n{report.summary()}\n\n"
            + "".join(
                f"Runs planned ({name}): {counts.get('created', 0)} new, "
                f"{counts.get('existing', 0)} already scheduled.\n\n"
                for name, counts in planned.items()
            )
            + (f"## Rejected rows\n\n| row | reason |\n|---|---|\n{rejects}\n" if rejects else "")
        ),
        description="Latest calendar sync and the rows it could not use",
    )
    return {
        "source": report.source,
        "seen": report.seen,
        "inserted": len(report.inserted),
        "updated": len(report.updated),
        "cancelled": len(report.cancelled),
        "rejected": len(report.rejected),
        "active_guest_estimates": report.active_guest_estimates,
        "too_few_guest_signals": report.too_few_signals,
        "guest_signals_problem": report.guest_signals_problem,
        "planned_runs": planned.get("collect-live", {}).get("created", 0),
        "planned_watch_runs": planned.get("watch", {}).get("created", 0),
    }
