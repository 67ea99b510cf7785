"""Turning the calendar into scheduled Prefect flow runs."""

from __future__ import annotations

from datetime import UTC, datetime

from prefect import get_run_logger, task
from prefect.cache_policies import NONE
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    DeploymentFilter,
    DeploymentFilterId,
    FlowRunFilter,
    FlowRunFilterExpectedStartTime,
)
from prefect.exceptions import ObjectNotFound
from prefect.states import Scheduled

PLANNED_TAG = "calendar-planned"


@task(name="plan-scheduled-runs", retries=2, retry_delay_seconds=[5, 30], cache_policy=NONE)
def plan_scheduled_runs(
    deployment: str, times: list[datetime], *, run_prefix: str, tags: list[str]
) -> dict[str, int]:
    """One scheduled run of `deployment` per instant in `times`, created at most once.

    The idempotency key (deployment name + instant) makes re-planning harmless: the server
    returns the existing run. Runs already planned are read first so a re-plan costs one call.
    Returns counts of created and existing runs; a missing deployment is reported, not raised
    (flows run outside a deployment, e.g. `wedperf demo`, have nothing to plan onto).
    """
    logger = get_run_logger()
    if not times:
        return {"created": 0, "existing": 0}
    with get_client(sync_client=True) as client:
        try:
            target = client.read_deployment_by_name(deployment)
        except ObjectNotFound:
            logger.warning("deployment %s is not registered; no runs planned", deployment)
            return {"created": 0, "existing": 0, "missing_deployment": 1}
        existing = _planned_keys(client, target.id, min(times), max(times))
        created = 0
        for instant in times:
            key = f"{deployment}@{instant.astimezone(UTC).isoformat()}"
            if key in existing:
                continue
            client.create_flow_run_from_deployment(
                target.id,
                state=Scheduled(scheduled_time=instant),
                idempotency_key=key,
                name=f"{run_prefix}-{instant.astimezone(UTC):%Y%m%d-%H%MZ}",
                tags=[*tags, PLANNED_TAG],
            )
            created += 1
    logger.info(
        "planned %d new runs of %s (%d already planned)", created, deployment, len(times) - created
    )
    return {"created": created, "existing": len(times) - created}


def _planned_keys(client, deployment_id, first: datetime, last: datetime) -> set[str | None]:
    """Idempotency keys of the deployment's runs expected in [first, last], page by page."""
    keys: set[str | None] = set()
    page, offset = 200, 0  # the API's default page limit
    while True:
        runs = client.read_flow_runs(
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id])),
            flow_run_filter=FlowRunFilter(
                expected_start_time=FlowRunFilterExpectedStartTime(after_=first, before_=last)
            ),
            limit=page,
            offset=offset,
        )
        keys.update(run.idempotency_key for run in runs)
        if len(runs) < page:
            return keys
        offset += page
