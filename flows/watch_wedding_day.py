"""Flow: one watch round over every wedding whose day window is open."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pandas as pd
from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact, create_progress_artifact

from tasks.critical_path import evaluate_batch, evaluate_error_budgets, publish_wedding_artifacts
from wedperf.calendar.sync import weddings_in_day_windows
from wedperf.critical_path.publish import (
    published_statuses,
    record_published,
    weddings_to_publish,
)
from wedperf.critical_path.round import grid_instant, live_weddings
from wedperf.runtime import get_runtime
from wedperf.slo.report import round_markdown
from wedperf.slo.round import budget_weddings


@flow(name="watch-wedding-day", log_prints=True)
def watch_wedding_day(at: datetime | None = None, publish_artifacts: bool = True) -> dict:
    """Evaluate the critical path of every live wedding at one instant on the watch grid.

    One run covers every wedding in its day window at that instant (a time slot, not one run
    per wedding): weddings are evaluated in batches, in parallel, each batch storing its
    checks and firing or resolving alerts in one transaction. Then, as a step of its own,
    each wedding's error budgets (wedperf.slo): the live weddings and those whose window
    closed since the last round, with their page and ticket alerts.
    """
    logger = get_run_logger()
    runtime = get_runtime()
    settings = runtime.settings
    at = grid_instant(at or datetime.now(UTC), settings.critical_path.interval)
    with runtime.pool.connection() as conn:
        weddings = live_weddings(conn, at, settings)
        day_start = datetime.combine(at.date(), time(), UTC)
        todays = weddings_in_day_windows(conn, day_start, day_start + timedelta(days=1), settings)
    logger.info("round at %s: %d weddings live", at.isoformat(), len(weddings))

    size = settings.critical_path.batch_size
    batches = [weddings[i : i + size] for i in range(0, len(weddings), size)]
    futures = [
        evaluate_batch.submit(batch, at, label=f"{n + 1}-of-{len(batches)}")
        for n, batch in enumerate(batches)
    ]
    outcomes = [future.result() for future in futures]
    results = pd.concat([r for r, _ in outcomes], ignore_index=True) if outcomes else None
    fired = [a for _, changes in outcomes for a in changes.fired]
    resolved = [a for _, changes in outcomes for a in changes.resolved]

    published = 0
    if results is not None and publish_artifacts:
        cp = settings.critical_path
        with runtime.pool.connection() as conn:
            shown = published_statuses(conn, weddings)
        changed = weddings_to_publish(
            weddings, results, shown, at=at, interval=cp.interval, refresh=cp.artifact_refresh
        )
        if changed:
            done = publish_wedding_artifacts(changed, results, at)
            with runtime.pool.connection() as conn:
                record_published(conn, done, results, at)
            published = len(done)
    budget_rows, budget_fired, budget_resolved = _error_budgets(at, size)

    finished = sum(1 for w in todays if w.ends_at + settings.day_window_after <= at)
    create_progress_artifact(
        progress=100.0 * finished / len(todays) if todays else 100.0,
        description=f"{finished} of {len(todays)} weddings of {at:%Y-%m-%d} (UTC) past their "
        f"day window at {at:%H:%M} UTC",
    )
    breaches = (
        results[results["status"] == "breach"].groupby("check_name").size().to_dict()
        if results is not None
        else {}
    )
    create_markdown_artifact(
        key="watch-wedding-day",
        markdown=_round_markdown(at, len(weddings), breaches, fired, resolved)
        + "\n\n"
        + round_markdown(budget_rows, budget_fired, budget_resolved),
        description="Latest critical-path watch round",
    )
    return {
        "at": at.isoformat(),
        "weddings": len(weddings),
        "breaches": breaches,
        "alerts_fired": len(fired),
        "alerts_resolved": len(resolved),
        "artifacts_published_for": published,
        "budgets_paging": sum(1 for r in budget_rows if r["page"]),
        "budgets_ticketing": sum(1 for r in budget_rows if r["ticket"]),
        "budget_alerts_fired": len(budget_fired),
        "budget_alerts_resolved": len(budget_resolved),
    }


def _error_budgets(at: datetime, size: int) -> tuple[list[dict], list, list]:
    """The round's error-budget step: every SLO of the weddings live at `at` or closed since
    the previous round, in batches; returns the budget rows and the alerts fired/resolved."""
    runtime = get_runtime()
    if not runtime.settings.slo.enabled:
        return [], [], []
    with runtime.pool.connection() as conn:
        targets = budget_weddings(conn, at, runtime.settings)
    batches = [targets[i : i + size] for i in range(0, len(targets), size)]
    futures = [
        evaluate_error_budgets.submit(batch, at, label=f"{n + 1}-of-{len(batches)}")
        for n, batch in enumerate(batches)
    ]
    outcomes = [future.result() for future in futures]
    rows = [row for batch_rows, _ in outcomes for row in batch_rows]
    fired = [a for _, changes in outcomes for a in changes.fired]
    resolved = [a for _, changes in outcomes for a in changes.resolved]
    return rows, fired, resolved


def _round_markdown(at, weddings, breaches, fired, resolved) -> str:
    lines = [f"# Watch round {at:%Y-%m-%d %H:%M} UTC", "", f"{weddings} weddings live.", ""]
    if breaches:
        lines += ["| check | weddings breaching |", "|---|---|"]
        lines += [f"| {check} | {count} |" for check, count in sorted(breaches.items())]
    else:
        lines.append("No breaches.")
    lines += ["", f"Alerts fired: {len(fired)}; resolved: {len(resolved)}."]
    lines += [f"- fired: wedding {w} `{c}`" for w, c in fired[:50]]
    return "\n".join(lines)
