"""Running a round's shards (`wedperf.shards`): as flow runs of a shard deployment on the
work pool, or, with no worker to run them, in the round's own process. `run_shards` picks
one; the watch round, collection and pre-warm all call it.

On the pool every shard is one flow run (`run_deployment`, idempotency key = deployment +
round + shard + a digest of its weddings, `wedperf.shards.shard_key`, so a retried round
gets its shard runs back instead of new ones). The round waits for them at most `timeout`
(its interval): a shard still running then is reported late and left to finish (its
writes are keyed by wedding x round, so finishing late is harmless), without holding the
others' results. A shard that fails is retried by its own flow's retries; one still failed
after them is reported, and the other shards' weddings stand.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from uuid import UUID

from prefect import get_run_logger
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
from prefect.client.schemas.objects import WorkPoolStatus, WorkQueueStatus
from prefect.deployments.flow_runs import arun_deployment
from prefect.exceptions import ObjectNotFound

from wedperf.shards import ShardedRound, ShardRequest

POLL_SECONDS = 2.0
RESULT_WAIT_SECONDS = 10.0
CREATE_CONCURRENCY = 16


@dataclass
class ShardOutcome:
    """What became of one shard: `completed` (with its `result`), `failed` (after its
    retries) or `late` (still running when the round stopped waiting)."""

    label: str
    status: str
    result: Any = None
    flow_run_id: UUID | None = None
    run_count: int = 1
    message: str = ""


def pool_ready(deployment: str) -> str | None:
    """None when `deployment` is registered and a worker polls its work queue; otherwise why
    its shards should run in-process. A worker online on the pool is not enough: one that
    polls other queues only (the demo's) would leave the shards scheduled until the round
    times out."""

    async def check() -> str | None:
        async with get_client() as client:
            try:
                target = await client.read_deployment_by_name(deployment)
            except ObjectNotFound:
                return f"deployment {deployment} is not registered"
            if not target.work_pool_name:
                return f"deployment {deployment} has no work pool"
            pool = await client.read_work_pool(target.work_pool_name)
            if pool.is_paused or pool.status != WorkPoolStatus.READY:
                return f"work pool {pool.name} has no worker online"
            queue_name = target.work_queue_name or "default"
            try:
                queue = await client.read_work_queue_by_name(queue_name, work_pool_name=pool.name)
            except ObjectNotFound:
                return f"work queue {queue_name} of pool {pool.name} does not exist"
            if queue.is_paused or queue.status != WorkQueueStatus.READY:
                return f"no worker polls work queue {queue_name} of pool {pool.name}"
            return None

    return asyncio.run(check())


def run_shards(
    deployment: str,
    shard_flow: Callable[..., Any],
    requests: Sequence[ShardRequest],
    *,
    timeout: timedelta,
    tags: Sequence[str] = (),
    touched: str,
) -> ShardedRound:
    """Run a round's shard `requests`: as flow runs of `deployment` when a worker polls its
    work queue (`pool_ready`), else as subflows `shard_flow` here, one after the other. A
    round of one shard runs it here too: on the pool it would only add a process start (a
    minute's collection of a few live weddings is one shard). `touched` is the result key
    listing the weddings a shard did its work for (`ShardedRound`)."""
    if not requests:
        return ShardedRound("no shards", [], touched)
    not_ready = "one shard" if len(requests) == 1 else pool_ready(deployment)
    where = f"in-process: {not_ready}" if not_ready else f"on {deployment}"
    get_run_logger().info("%d shards %s", len(requests), where)
    if not_ready:
        outcomes = run_in_process(shard_flow, requests)
    else:
        outcomes = run_on_pool(deployment, requests, timeout=timeout, tags=tags)
    return ShardedRound(where, outcomes, touched)


def run_on_pool(
    deployment: str,
    shards: Sequence[ShardRequest],
    *,
    timeout: timedelta,
    tags: Sequence[str] = (),
) -> list[ShardOutcome]:
    """Create one flow run of `deployment` per shard request, then wait for all of them for
    at most `timeout`. Returns one outcome per shard, in order.
    """

    async def run() -> list[ShardOutcome]:
        deadline = time.monotonic() + timeout.total_seconds()
        limit = asyncio.Semaphore(CREATE_CONCURRENCY)
        async with get_client() as client:

            async def create(key: str, parameters: dict):
                async with limit:
                    return await arun_deployment(
                        deployment,
                        client=client,
                        parameters=parameters,
                        idempotency_key=key,
                        timeout=0,
                        tags=list(tags),
                    )

            created = await asyncio.gather(*(create(s.key, s.parameters) for s in shards))
            ids = [run.id for run in created]
            runs = {run.id: run for run in created}
            while True:
                pending = [i for i in ids if not (runs[i].state and runs[i].state.is_final())]
                if not pending or time.monotonic() >= deadline:
                    break
                await asyncio.sleep(POLL_SECONDS)
                for run in await client.read_flow_runs(
                    flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=pending)),
                    limit=len(pending),
                ):
                    runs[run.id] = run
            outcomes = []
            for shard, run_id in zip(shards, ids, strict=True):
                flow_run = runs[run_id]
                state = flow_run.state
                outcome = ShardOutcome(
                    shard.label, "late", flow_run_id=run_id, run_count=flow_run.run_count
                )
                if state and state.is_completed():
                    outcome.status = "completed"
                elif state and state.is_final():
                    outcome.status = "failed"
                    outcome.message = f"{state.type.value}: {state.message or ''}".strip()
                else:
                    outcome.message = f"still {state.name if state else 'unknown'} at timeout"
                outcomes.append(outcome)
            completed = [o for o in outcomes if o.status == "completed"]
            read = await asyncio.gather(
                *(_read_result(runs[o.flow_run_id].state) for o in completed)
            )
            for outcome, (result, message) in zip(completed, read, strict=True):
                outcome.result, outcome.message = result, message
            return outcomes

    outcomes = asyncio.run(run())
    _report(deployment, outcomes)
    return outcomes


async def _read_result(state: Any) -> tuple[Any, str]:
    """A completed shard's result from result storage, and why not if it cannot be read.

    A worker may write the result after its run is Completed (Prefect retries for about
    2.5 s); on a loaded host that is not always enough, so reading is retried for up to
    RESULT_WAIT_SECONDS more. What still fails is not shared storage (docs/production.md).
    """
    deadline = time.monotonic() + RESULT_WAIT_SECONDS
    while True:
        try:
            return await state.aresult(), ""
        except Exception as exc:
            if time.monotonic() >= deadline:
                return None, f"result not readable here: {exc}"
        await asyncio.sleep(POLL_SECONDS)


def run_in_process(
    shard_flow: Callable[..., Any], shards: Sequence[ShardRequest]
) -> list[ShardOutcome]:
    """Run each shard as a subflow of the calling flow, one after the other (its retries
    apply as on the pool). A shard that fails after them is reported, the next one runs."""
    outcomes = []
    for shard in shards:
        state = shard_flow(**shard.parameters, return_state=True)
        outcome = ShardOutcome(
            shard.label, "completed", flow_run_id=state.state_details.flow_run_id
        )
        if state.is_completed():
            outcome.result = state.result()
        else:
            outcome.status = "failed"
            outcome.message = f"{state.type.value}: {state.message or ''}".strip()
        outcomes.append(outcome)
    _report("in-process", outcomes)
    return outcomes


def _report(where: str, outcomes: Sequence[ShardOutcome]) -> None:
    logger = get_run_logger()
    for outcome in outcomes:
        if outcome.status == "failed":
            logger.error("shard %s (%s) failed: %s", outcome.label, where, outcome.message)
        elif outcome.status == "late":
            logger.warning("shard %s (%s) late: %s", outcome.label, where, outcome.message)
        elif outcome.message:
            logger.warning("shard %s (%s) completed, %s", outcome.label, where, outcome.message)
