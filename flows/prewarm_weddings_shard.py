"""Flow: one shard of a slot's pre-warm (Redis datasets and HTTP warm-ups of its weddings)."""

from __future__ import annotations

from prefect import flow, get_run_logger

from tasks.calendar import load_weddings
from tasks.prewarm import ONE_SHARD, warm_http, warm_redis


@flow(
    name="prewarm-weddings-shard",
    log_prints=True,
    retries=2,
    retry_delay_seconds=5,
    persist_result=True,
)
def prewarm_weddings_shard(
    wedding_ids: list[str], plan_id: str, dry_run: bool, label: str = ONE_SHARD
) -> dict:
    """Write the Redis datasets of `wedding_ids` and GET their warm-up URLs (dry run: record
    the steps only), each step recorded in perf.actions under `plan_id` and this shard.

    Idempotent, so its retries (and a late duplicate) are harmless: Redis keys are
    overwritten with the same payload, a GET warms what is warm already, and a step's record
    is keyed by plan, kind and target. A Redis failure fails the shard (after its task's and
    its own retries); the slot's run reports it and the other shards stand.
    """
    weddings = load_weddings(wedding_ids)
    redis_result = warm_redis(weddings, plan_id, dry_run, label)
    http_result = warm_http(weddings, plan_id, dry_run, label)
    get_run_logger().info(
        "shard %s: %d weddings, %d keys, %d requests",
        label,
        len(weddings),
        redis_result.keys,
        http_result.requests,
    )
    return {
        "label": label,
        "weddings": [w.wedding_id for w in weddings],
        # Those whose Redis keys were written (none in a dry run): what the round counts.
        "warmed": redis_result.wedding_ids,
        "redis_keys": redis_result.keys,
        "redis_rows": redis_result.rows,
        "min_ttl_s": redis_result.min_ttl_s,
        "max_ttl_s": redis_result.max_ttl_s,
        "http_requests": http_result.requests,
        "http_failures": http_result.failures[:20],
        "http_failed": len(http_result.failures),
    }
