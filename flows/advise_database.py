"""Flow: the wedding-day database advisor, before each wedding day."""

from __future__ import annotations

from datetime import UTC, datetime

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.states import Failed

from tasks.advisor import advise, optimise
from wedperf.advisor.report import report_markdown, report_table
from wedperf.runtime import get_runtime


@flow(name="advise-database", log_prints=True)
def advise_database(save_baseline: bool = False, optimise_tables: bool = True):
    """Rank the wedding-day statements of the app database (pg_stat_statements) by total and
    mean time, compare them with their baselines, EXPLAIN the worst and suggest indexes; then
    ANALYZE and pre-warm the tables it names. Publishes the findings as the `advise-database`
    artifacts. `save_baseline`: take today's figures as the new known-good baseline of every
    statement seen now. pg_stat_statements unreadable: the artifact says what is missing and
    the run ends Failed."""
    logger = get_run_logger()
    settings = get_runtime().settings
    if not settings.advisor.enabled:
        logger.info("database advisor disabled (advisor.enabled = false)")
        return {"enabled": False}
    report = advise(save_baseline)
    key = settings.advisor.artifact_key
    create_markdown_artifact(
        key=key, markdown=report_markdown(report), description="Wedding-day database advisor"
    )
    if report.queries:
        create_table_artifact(
            key=f"{key}-queries",
            table=report_table(report),
            description="Wedding-day statements ranked by total time",
        )
    if not report.available:
        # Nothing was advised: a Completed run would read as "no findings" in the UI.
        message = f"pg_stat_statements unavailable ({report.reason}): {report.message}"
        logger.error(message)
        return Failed(message=message)
    steps = []
    if optimise_tables and report.named_tables:
        mode = settings.ops.mode
        plan_id = f"advise-database-{datetime.now(UTC):%Y%m%d}"
        steps = optimise(report.named_tables, plan_id, mode != "act")
    return {
        "enabled": True,
        "database": report.database,
        "available": report.available,
        "message": report.message,
        "statements": len(report.queries),
        "regressions": [q.queryid for q in report.regressions],
        "suggestions": [s.ddl for s in report.suggestions if s.ddl],
        "named_tables": report.named_tables,
        "optimise_steps": [s.__dict__ for s in steps],
    }
