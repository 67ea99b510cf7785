"""Tasks of the wedding-day database advisor: advise, and optimise before a wedding day."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime

from prefect import task
from prefect.cache_policies import NONE

from wedperf.advisor.advise import run_advisor
from wedperf.advisor.optimise import OptimiseStep, optimise_database
from wedperf.advisor.report import AdvisorReport, advisor_findings_for_artifact, latest_report
from wedperf.calendar.model import Wedding
from wedperf.db.connection import get_pool
from wedperf.runtime import get_runtime

log = logging.getLogger(__name__)
DISABLED = "database advisor disabled (advisor.enabled = false)"


@task(name="advise-database", retries=1, retry_delay_seconds=[10], cache_policy=NONE)
def advise(save_baseline: bool = False) -> AdvisorReport:
    """Rank the app database's wedding-day statements, read the worst plans, store findings."""
    runtime = get_runtime()
    with (
        get_pool(runtime.services.app_database_url).connection() as app_conn,
        runtime.pool.connection() as perf_conn,
    ):
        return run_advisor(
            app_conn,
            perf_conn,
            runtime.settings.advisor,
            now=datetime.now(UTC),
            save_baseline=save_baseline,
        )


@task(name="optimise-database", retries=1, retry_delay_seconds=[10], cache_policy=NONE)
def optimise(
    tables: Sequence[str], plan_id: str, dry_run: bool, wedding_ids: Sequence[str] = ()
) -> list[OptimiseStep]:
    """ANALYZE and pg_prewarm the named tables, refresh configured views; each step in
    perf.actions, each refusal skipped with its reason."""
    runtime = get_runtime()
    with (
        get_pool(runtime.services.app_database_url).connection() as app_conn,
        runtime.pool.connection() as perf_conn,
    ):
        return optimise_database(
            app_conn,
            perf_conn,
            list(tables),
            runtime.settings.advisor,
            plan_id=plan_id,
            dry_run=dry_run,
            wedding_ids=list(wedding_ids),
        )


@task(name="optimise-database-for-weddings", retries=1, retry_delay_seconds=[10], cache_policy=NONE)
def optimise_for_weddings(
    weddings: Sequence[Wedding], plan_id: str, dry_run: bool
) -> list[OptimiseStep]:
    """The pre-warm flow's hook: optimise the tables the newest advisor run named (running the
    advisor first if it never ran). With `advisor.enabled = false` nothing is read or done: one
    `skipped` step says why (not written to perf.actions: no relation was acted on)."""
    runtime = get_runtime()
    if not runtime.settings.advisor.enabled:
        log.info("%s: no pre-wedding optimisation", DISABLED)
        return [OptimiseStep("advisor_optimise", "app database", "skipped", DISABLED)]
    with runtime.pool.connection() as perf_conn:
        report = latest_report(perf_conn, runtime.settings.advisor.database_label)
    if report is None:
        report = advise.fn()
    return optimise.fn(report.named_tables, plan_id, dry_run, [w.wedding_id for w in weddings])


@task(name="advisor-findings", retries=1, retry_delay_seconds=[5], cache_policy=NONE)
def latest_findings_markdown() -> str | None:
    """The newest advisor findings as Markdown, for the pre-warm run's artifact (None with
    the advisor disabled)."""
    runtime = get_runtime()
    if not runtime.settings.advisor.enabled:
        return None
    with runtime.pool.connection() as perf_conn:
        return advisor_findings_for_artifact(
            perf_conn, database=runtime.settings.advisor.database_label
        ).markdown
