"""Evidence tasks: build the package (reads PostgreSQL, writes files), publish artifacts."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from prefect import task
from prefect.artifacts import (
    create_link_artifact,
    create_markdown_artifact,
    create_table_artifact,
)
from prefect.cache_policies import NONE

from wedperf.evidence import artifacts, build
from wedperf.evidence.build import EvidenceResult
from wedperf.runtime import get_runtime


@task(name="build-evidence-package", retries=2, retry_delay_seconds=[10, 60], cache_policy=NONE)
def build_package(
    day: date | None, wedding_id: str | None, out: Path | None, days: int = 1
) -> EvidenceResult:
    """The day's (`days` days', or wedding's) package, written to `out` atomically (a retry
    rebuilds it)."""
    runtime = get_runtime()
    return build.build_package(
        runtime.settings, runtime.services, day=day, wedding_id=wedding_id, out=out, days=days
    )


@task(name="publish-evidence-artifacts", retries=1, retry_delay_seconds=[5], cache_policy=NONE)
def publish_artifacts(result: EvidenceResult) -> list[str]:
    """The digest (markdown), the counts (table) and a link to the HTML report, under stable
    keys: a new version of each per run."""
    description = artifacts.description(result)
    create_markdown_artifact(
        key=artifacts.REPORT_KEY,
        markdown=artifacts.report_markdown(result),
        description=description,
    )
    create_table_artifact(
        key=artifacts.SUMMARY_KEY, table=artifacts.summary_rows(result), description=description
    )
    create_link_artifact(
        key=artifacts.LINK_KEY,
        link=artifacts.report_link(result),
        link_text=f"evidence report ({result.scope['kind']} {result.scope['label']})",
        description=description,
    )
    return [artifacts.REPORT_KEY, artifacts.SUMMARY_KEY, artifacts.LINK_KEY]
