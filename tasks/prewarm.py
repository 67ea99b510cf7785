"""Pre-warm tasks: Redis datasets, HTTP warm-ups and PostgreSQL buffers ahead of weddings.

Each step is recorded in perf.actions (`wedperf.audit.record_step`) as it ends, done or not.
The Redis and HTTP steps run per shard of a slot's weddings; a shard's step is its own row
(target `redis [2-of-5]`), except for a slot of one shard (`redis`), so shards and their
retries never overwrite each other's record.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import redis
from prefect import task
from prefect.cache_policies import NONE

from wedperf.audit import record_step
from wedperf.calendar.model import Wedding
from wedperf.db.connection import get_pool
from wedperf.prewarm.steps import (
    HttpWarmResult,
    PgStep,
    RedisWarmResult,
    http_get_all,
    prewarm_postgres,
    prewarm_redis,
    warmup_urls,
)
from wedperf.runtime import get_runtime

REASON = "pre-warm ahead of the day window"
ONE_SHARD = "1-of-1"


def shard_target(target: str, shard: str) -> str:
    """The perf.actions target of a shard's step: `target`, with the shard's label when the
    slot has more than one."""
    return target if shard == ONE_SHARD else f"{target} [{shard}]"


@task(name="prewarm-redis", retries=2, retry_delay_seconds=[5, 20], cache_policy=NONE)
def warm_redis(
    weddings: Sequence[Wedding], plan_id: str, dry_run: bool, shard: str = ONE_SHARD
) -> RedisWarmResult:
    """Datasets into the app's Redis; a Redis failure fails the task (and the run)."""
    runtime = get_runtime()
    settings = runtime.settings
    ids = [w.wedding_id for w in weddings]
    result, error = RedisWarmResult(), None
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
            error = exc  # recorded as failed first, then raised
        finally:
            client.close()
    if error is not None:
        outcome, detail = "failed", f"Redis failed: {error}"
    else:
        outcome = _done(dry_run)
        detail = f"{result.keys} keys, {result.rows} rows, "
        detail += f"TTL {result.min_ttl_s}-{result.max_ttl_s} s"
    with runtime.pool.connection() as conn:
        record_step(
            conn,
            plan_id,
            "prewarm_redis",
            shard_target("redis", shard),
            outcome=outcome,
            reason=REASON,
            dry_run=dry_run,
            wedding_ids=ids,
            detail=detail,
        )
    if error is not None:
        raise error
    return result


@task(name="prewarm-http", retries=1, retry_delay_seconds=[5], cache_policy=NONE)
def warm_http(
    weddings: Sequence[Wedding], plan_id: str, dry_run: bool, shard: str = ONE_SHARD
) -> HttpWarmResult:
    """GET the configured warm-up URLs for every wedding."""
    runtime = get_runtime()
    settings = runtime.settings
    ids = [w.wedding_id for w in weddings]
    urls = warmup_urls(settings.ops.prewarm_urls, ids, settings.probes.base_url)
    result = HttpWarmResult(requests=len(urls)) if dry_run else http_get_all(urls)
    # Failed only when every request failed: a few slow URLs still warmed the rest.
    all_failed = bool(result.failures) and len(result.failures) >= result.requests
    with runtime.pool.connection() as conn:
        record_step(
            conn,
            plan_id,
            "prewarm_http",
            shard_target("http", shard),
            outcome="failed" if all_failed else _done(dry_run),
            reason=REASON,
            dry_run=dry_run,
            wedding_ids=ids,
            detail=f"{result.requests} requests, {len(result.failures)} failed"
            + (f"; first: {result.failures[0]}" if result.failures else ""),
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
        with get_pool(runtime.services.app_database_url).connection() as app_conn:
            steps = prewarm_postgres(app_conn, relations)
            app_conn.autocommit = False
    with runtime.pool.connection() as conn:
        for step in steps:
            record_step(
                conn,
                plan_id,
                f"prewarm_pg_{step.step}",
                step.relation,
                outcome=_done(dry_run) if step.done or dry_run else "skipped",
                reason=REASON,
                dry_run=dry_run,
                wedding_ids=[w.wedding_id for w in weddings],
                detail=step.detail,
            )
    return steps


def _done(dry_run: bool) -> str:
    return "dry-run" if dry_run else "done"
