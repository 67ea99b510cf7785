"""Critical-path tasks: evaluate a batch of weddings; publish their artifacts; evaluate their
error budgets."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime

import pandas as pd
from prefect import get_run_logger, task
from prefect.cache_policies import NONE
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import ArtifactCreate
from prefect.context import TaskRunContext

from wedperf.calendar.model import Wedding
from wedperf.critical_path.record import AlertChanges
from wedperf.critical_path.report import artifact_key, table_rows, wedding_markdown
from wedperf.critical_path.round import run_round
from wedperf.db.connection import get_pool, with_db_retry
from wedperf.runtime import get_runtime
from wedperf.slo.report import round_rows
from wedperf.slo.round import evaluate_budgets
from wedperf.slo.store import BudgetAlertChanges

ARTIFACT_CONCURRENCY = 8


@task(
    name="evaluate-weddings",
    task_run_name="evaluate-{label}",
    retries=2,
    retry_delay_seconds=[5, 20],
    cache_policy=NONE,
)
def evaluate_batch(
    weddings: Sequence[Wedding], at: datetime, label: str = "batch"
) -> tuple[pd.DataFrame, AlertChanges]:
    """Evaluate, store and alert for one batch of weddings (one transaction per batch)."""
    runtime = get_runtime()

    def attempt():
        with (
            get_pool(runtime.services.app_database_url).connection() as app_conn,
            runtime.pool.connection() as perf_conn,
        ):
            result = run_round(
                app_conn, perf_conn, weddings, at, runtime.settings, record=True, by_client=False
            )
        return result.results, result.alerts

    return with_db_retry(attempt, what=f"critical-path round {label}")


@task(
    name="evaluate-error-budgets",
    task_run_name="budgets-{label}",
    retries=2,
    retry_delay_seconds=[5, 20],
    cache_policy=NONE,
)
def evaluate_error_budgets(
    weddings: Sequence[Wedding], at: datetime, label: str = "batch"
) -> tuple[list[dict], BudgetAlertChanges]:
    """Every SLO's budget for one batch of weddings at `at`: stored in perf.slo_budgets, page
    and ticket alerts fired or resolved (one transaction per batch). Returns one summary row
    per wedding and SLO."""
    runtime = get_runtime()

    def app_connection():
        # Only when a tier weighs phases (the timeline is read): opening the app database
        # otherwise costs a pool and makes the budgets depend on a database they do not read.
        return get_pool(runtime.services.app_database_url).connection()

    def attempt():
        with runtime.pool.connection() as perf_conn:
            result = evaluate_budgets(
                app_connection, perf_conn, weddings, at, runtime.settings, record=True
            )
        return round_rows(result.budgets), result.alerts

    return with_db_retry(attempt, what=f"error-budget round {label}")


@task(name="publish-wedding-artifacts", cache_policy=NONE)
def publish_wedding_artifacts(
    weddings: Sequence[Wedding], results: pd.DataFrame, at: datetime
) -> list[str]:
    """Per wedding: the check table (key wedding-<id>-critical-path, its description the
    summary) and a markdown summary (wedding-<id>-summary), a new version of each for the
    weddings the round chose (wedperf.critical_path.publish). Returns the weddings whose
    artifacts were both written; a wedding that failed is logged and left for the next round
    (it is not recorded as published), rather than failing the round whose checks and
    alerts are already stored.

    One API client and a few requests in flight: at 1,000 weddings these 2,000 writes are
    most of a round's time (see bench/critical_path.py), so they share one connection pool
    rather than opening a client per artifact as `create_*_artifact` does.
    """
    by_wedding = dict(tuple(results.groupby("wedding_id")))
    run = TaskRunContext.get().task_run
    links = {"flow_run_id": run.flow_run_id, "task_run_id": run.id}

    async def publish() -> list[str]:
        limit = asyncio.Semaphore(ARTIFACT_CONCURRENCY)
        async with get_client() as client:

            async def one(wedding: Wedding) -> str | None:
                rows = by_wedding.get(wedding.wedding_id)
                if rows is None:
                    return None
                summary = wedding_markdown(wedding, rows, at)
                async with limit:
                    await client.create_artifact(
                        ArtifactCreate(
                            type="table",
                            key=artifact_key(wedding.wedding_id, "critical-path"),
                            data=table_rows(rows),
                            description=summary,
                            **links,
                        )
                    )
                    await client.create_artifact(
                        ArtifactCreate(
                            type="markdown",
                            key=artifact_key(wedding.wedding_id, "summary"),
                            data=summary,
                            description=f"critical path of wedding {wedding.wedding_id}",
                            **links,
                        )
                    )
                return wedding.wedding_id

            outcomes = await asyncio.gather(*(one(w) for w in weddings), return_exceptions=True)
        failed = [o for o in outcomes if isinstance(o, BaseException)]
        if failed:
            get_run_logger().warning(
                "artifacts of %d wedding(s) not published (retried next round): %s",
                len(failed),
                failed[0],
            )
        return [o for o in outcomes if isinstance(o, str)]

    return asyncio.run(publish())
