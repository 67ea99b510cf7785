"""Flow: one shard of a critical-path watch round (its weddings' checks and error budgets)."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
from prefect import flow, get_run_logger

from tasks.critical_path import evaluate_batch, evaluate_error_budgets, publish_wedding_artifacts
from wedperf.calendar.sync import weddings_by_id
from wedperf.critical_path.publish import (
    published_statuses,
    record_published,
    weddings_to_publish,
)
from wedperf.runtime import get_runtime

BATCHES_IN_FLIGHT = 3


@flow(
    name="watch-wedding-shard",
    log_prints=True,
    retries=2,
    retry_delay_seconds=5,
    persist_result=True,
)
def watch_wedding_shard(
    at: datetime,
    wedding_ids: list[str],
    budget_ids: list[str] | None = None,
    publish_artifacts: bool = True,
    label: str = "1-of-1",
) -> dict:
    """Evaluate the critical path of `wedding_ids` and the error budgets of `budget_ids` at
    the round instant `at`, and publish the artifacts that changed.

    Idempotent, so its retries (and a late duplicate) are harmless: checks, budgets and
    published records are keyed by wedding x round, alerts by wedding x check. Returns what
    the round's summary needs: the weddings evaluated, breaches, alerts and budget rows.
    """
    runtime = get_runtime()
    settings = runtime.settings
    with runtime.pool.connection() as conn:
        weddings = weddings_by_id(conn, wedding_ids, include_cancelled=False)
        budget_targets = weddings_by_id(conn, budget_ids or []) if settings.slo.enabled else []
    size = settings.critical_path.batch_size
    batches = [weddings[i : i + size] for i in range(0, len(weddings), size)]
    outcomes = []
    # A few batches at a time: each holds two database connections (a pool of 8) and is CPU
    # bound, so more in flight only queue for connections (and time out) in one process.
    for wave in range(0, len(batches), BATCHES_IN_FLIGHT):
        futures = [
            evaluate_batch.submit(batch, at, label=f"{label}.{wave + n + 1}")
            for n, batch in enumerate(batches[wave : wave + BATCHES_IN_FLIGHT])
        ]
        outcomes += [future.result() for future in futures]
    results = pd.concat([r for r, _ in outcomes], ignore_index=True) if outcomes else None

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

    budget_batches = [budget_targets[i : i + size] for i in range(0, len(budget_targets), size)]
    budget_outcomes = []
    for wave in range(0, len(budget_batches), BATCHES_IN_FLIGHT):
        futures = [
            evaluate_error_budgets.submit(batch, at, label=f"{label}.{wave + n + 1}")
            for n, batch in enumerate(budget_batches[wave : wave + BATCHES_IN_FLIGHT])
        ]
        budget_outcomes += [future.result() for future in futures]
    get_run_logger().info(
        "shard %s at %s: %d weddings, %d budgets", label, at, len(weddings), len(budget_targets)
    )
    return {
        "label": label,
        "evaluated": sorted(results["wedding_id"].unique().tolist()) if results is not None else [],
        "breaches": (
            results[results["status"] == "breach"].groupby("check_name").size().to_dict()
            if results is not None
            else {}
        ),
        "fired": [list(a) for _, changes in outcomes for a in changes.fired],
        "resolved": [list(a) for _, changes in outcomes for a in changes.resolved],
        "published": published,
        "budget_rows": [row for rows, _ in budget_outcomes for row in rows],
        "budget_fired": [a for _, changes in budget_outcomes for a in changes.fired],
        "budget_resolved": [a for _, changes in budget_outcomes for a in changes.resolved],
    }
