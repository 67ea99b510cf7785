"""Alert dispatch tasks: the pending sweep through the Prefect API."""

from __future__ import annotations

import asyncio

from prefect import get_run_logger, task
from prefect.cache_policies import NONE

from wedperf.alerts.pending import dispatch_pending
from wedperf.runtime import get_runtime


@task(name="dispatch-pending-alerts", retries=2, retry_delay_seconds=[10, 30], cache_policy=NONE)
def dispatch_pending_task(max_alerts: int, api_url: str | None = None) -> dict:
    """Create remediation runs for due pending alerts and send owed resolved events.

    Reads and updates perf.alerts; creates flow runs and events through the Prefect API
    (`api_url`, default the flow's own). Safe to retry: every run has an idempotency key and
    every event a stable id. Returns what was done (`created`, `skipped`, `announced`,
    `failed`, `unreachable`, `errors`, `needed`, `quarantined`) and what is left
    (`backlog`). A row it cannot dispatch is quarantined, not retried.
    """
    runtime = get_runtime()
    outcome, backlog = asyncio.run(
        dispatch_pending(
            runtime.services.database_url,
            runtime.settings.webhook,
            api_url=api_url,
            max_alerts=max_alerts,
        )
    )
    logger = get_run_logger()
    logger.info(
        "dispatched %d alerts, skipped %d resolved, announced %d resolutions; %d pending left",
        outcome.created,
        outcome.skipped,
        outcome.announced,
        backlog.pending,
    )
    if outcome.unreachable:
        logger.warning("Prefect API unreachable; %d alerts stay pending", backlog.pending)
    if outcome.quarantined:
        logger.error(
            "%d alerts quarantined (see perf.alerts.quarantine_reason); AlertQuarantined raised",
            outcome.quarantined,
        )
    return {**outcome.as_dict(), "backlog": backlog.as_dict()}
