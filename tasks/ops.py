"""Tasks that act ahead of weddings: pre-warm steps and capacity-floor steps."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import redis
from prefect import task
from prefect.cache_policies import NONE

from wedperf.actions.actuators import build_actuator
from wedperf.actions.audit import ActionRecord, record_action
from wedperf.actions.prewarm import (
    HttpWarmResult,
    PgStep,
    RedisWarmResult,
    http_get_all,
    prewarm_postgres,
    prewarm_redis,
    warmup_urls,
)
from wedperf.calendar.model import Wedding
from wedperf.calendar.sync import weddings_by_id
from wedperf.capacity.floor import FloorOutcome, raise_floor, restore_floor
from wedperf.db.connection import get_pool
from wedperf.runtime import get_runtime


def load_weddings(wedding_ids: Sequence[str]) -> list[Wedding]:
    """The named weddings as perf.weddings has them now (cancelled ones dropped)."""
    with get_runtime().pool.connection() as conn:
        return weddings_by_id(conn, list(wedding_ids), include_cancelled=False)


@task(name="prewarm-redis", retries=2, retry_delay_seconds=[5, 20], cache_policy=NONE)
def warm_redis(weddings: Sequence[Wedding], plan_id: str, dry_run: bool) -> RedisWarmResult:
    """Datasets into the app's Redis; a Redis failure fails the task (and the run)."""
    runtime = get_runtime()
    settings = runtime.settings
    result = RedisWarmResult()
    if not dry_run:
        client = redis.Redis.from_url(runtime.services.redis_url, socket_timeout=10)
        try:
            with get_pool(runtime.services.app_database_url).connection() as app_conn:
                result = prewarm_redis(
                    client,
                    app_conn,
                    weddings,
                    schema=settings.source_schema,
                    key_template=settings.ops.prewarm_key_template,
                    window_after=settings.day_window_after,
                    now=datetime.now(UTC),
                )
        except redis.RedisError as exc:
            _record(
                plan_id,
                "prewarm_redis",
                "redis",
                weddings,
                dry_run,
                f"Redis failed: {exc}",
                outcome="failed",
            )
            raise
        finally:
            client.close()
    _record(
        plan_id,
        "prewarm_redis",
        "redis",
        weddings,
        dry_run,
        f"{result.keys} keys, {result.rows} rows, TTL {result.min_ttl_s}-{result.max_ttl_s} s",
    )
    return result


@task(name="prewarm-http", retries=1, retry_delay_seconds=[5], cache_policy=NONE)
def warm_http(weddings: Sequence[Wedding], plan_id: str, dry_run: bool) -> HttpWarmResult:
    """GET the configured warm-up URLs for every wedding."""
    settings = get_runtime().settings
    urls = warmup_urls(
        settings.ops.prewarm_urls, [w.wedding_id for w in weddings], settings.probes.base_url
    )
    result = HttpWarmResult(requests=len(urls)) if dry_run else http_get_all(urls)
    _record(
        plan_id,
        "prewarm_http",
        "http",
        weddings,
        dry_run,
        f"{result.requests} requests, {len(result.failures)} failed"
        + (f"; first: {result.failures[0]}" if result.failures else ""),
        outcome=None if not result.failures or len(result.failures) < result.requests else "failed",
    )
    return result


@task(name="prewarm-postgres", retries=1, retry_delay_seconds=[5], cache_policy=NONE)
def warm_postgres(weddings: Sequence[Wedding], plan_id: str, dry_run: bool) -> list[PgStep]:
    """pg_prewarm and ANALYZE of the hot relations; each refusal skipped with its reason."""
    runtime = get_runtime()
    relations = runtime.settings.ops.prewarm_relations
    if dry_run:
        steps = [PgStep(r, "pg_prewarm", False, "dry run") for r in relations]
    else:
        with get_pool(runtime.services.app_database_url).connection() as conn:
            steps = prewarm_postgres(conn, relations)
            conn.autocommit = False
    for step in steps:
        _record(
            plan_id,
            f"prewarm_pg_{step.step}",
            step.relation,
            weddings,
            dry_run,
            step.detail,
            outcome=None if step.done or dry_run else "skipped",
        )
    return steps


@task(name="capacity-floor-step", retries=2, retry_delay_seconds=[10, 30], cache_policy=NONE)
def floor_step(
    target_name: str, action: str, weddings: Sequence[Wedding], plan_id: str
) -> FloorOutcome:
    """Raise or restore one target's floor (forecast-only mode records the plan only)."""
    runtime = get_runtime()
    settings = runtime.settings
    targets = {t.name: t for t in settings.ops.targets}
    if target_name not in targets:
        raise ValueError(f"unknown capacity target {target_name!r}; known: {', '.join(targets)}")
    target = targets[target_name]
    if target.kind == "sandbox" and not target.url:
        target = target.model_copy(update={"url": settings.probes.base_url})
    actuator = None if settings.ops.mode == "forecast-only" else build_actuator(target)
    with runtime.pool.connection() as conn:
        if action == "raise":
            return raise_floor(conn, actuator, target, weddings, plan_id=plan_id, settings=settings)
        return restore_floor(
            conn,
            actuator,
            target,
            weddings,
            plan_id=plan_id,
            settings=settings,
            now=datetime.now(UTC),
        )


def _record(plan_id, kind, target, weddings, dry_run, detail, *, outcome=None) -> None:
    with get_runtime().pool.connection() as conn:
        record_action(
            conn,
            ActionRecord(
                plan_id=plan_id,
                kind=kind,
                target=target,
                reason="pre-warm ahead of the day window",
                dry_run=dry_run,
                outcome=outcome or ("dry-run" if dry_run else "done"),
                wedding_ids=[w.wedding_id for w in weddings],
                detail=detail,
            ),
        )
