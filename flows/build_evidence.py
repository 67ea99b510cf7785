"""Flow: build the evidence package of a day or a wedding and publish it as artifacts."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

from prefect import flow, get_run_logger

from tasks.evidence import build_package, publish_artifacts
from wedperf.evidence.build import scheduled_day
from wedperf.runtime import get_runtime


@flow(name="build-evidence", log_prints=True)
def build_evidence(
    day: date | None = None,
    wedding_id: str | None = None,
    days_ago: int = 1,
    out: str | None = None,
    after_restore: bool = False,
    days: int = 1,
) -> dict:
    """What was forecast, planned and done, and how each wedding day went: an HTML report
    (figures embedded), its Markdown twin, the numbers behind each figure and a summary,
    written atomically to `out` (default <evidence.out_dir>/evidence-<day> or
    evidence-wedding-<id>), and the artifacts evidence-report, evidence-summary and
    evidence-link.

    Scope: `wedding_id` (its day window), else `day`, else the day `days_ago` days back on
    the report's clock (1: yesterday, the nightly run); `after_restore` (set by the trigger
    on a completed capacity-floor restore): the day whose day windows just closed
    (wedperf.evidence.build.scheduled_day). `days`: a day scope of that many consecutive
    days from the day (the demo's: yesterday and today).
    """
    logger = get_run_logger()
    settings = get_runtime().settings
    if wedding_id is None and day is None:
        day = scheduled_day(
            settings, datetime.now(UTC), days_ago=days_ago, after_restore=after_restore
        )
    if wedding_id is not None:
        day = None
    result = build_package(day, wedding_id, Path(out) if out else None, days)
    keys = publish_artifacts(result)
    logger.info("evidence package %s: %s", result.out, result.summary)
    return {**result.as_dict(), "artifacts": keys}
