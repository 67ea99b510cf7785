"""Flow: pre-warm caches and the database ahead of a slot of weddings."""

from __future__ import annotations

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact
from prefect.runtime import flow_run
from prefect.states import Failed

from flows.prewarm_weddings_shard import prewarm_weddings_shard
from tasks.advisor import latest_findings_markdown, optimise_for_weddings
from tasks.calendar import load_weddings
from tasks.prewarm import warm_postgres
from tasks.shards import run_shards
from wedperf.prewarm.steps import http_get_all, warmup_urls
from wedperf.runtime import get_runtime
from wedperf.shards import shard_requests, split

EFFECT_SAMPLE = 20  # weddings whose guest list is timed before and after


@flow(name="prewarm-weddings", log_prints=True)
def prewarm_weddings(wedding_ids: list[str], slot: str | None = None, plan_id: str = "manual"):
    """Warm the app's Redis with each wedding's datasets, GET its warm-up URLs, pg_prewarm and
    ANALYZE the hot relations and the tables the database advisor names (refreshing the
    configured materialized views) — and measure guest-list latency before and after.

    The per-wedding warm-ups (Redis, HTTP) run in shards of `prewarm.shard_size` weddings,
    flow runs of `prewarm.shard_deployment` on the work pool (here, one after the other,
    with no worker); the PostgreSQL steps and the advisor, which are per database, run here
    once. A shard that fails after its retries fails this run (a pre-warm that did not
    happen is never reported done), without undoing or holding the other shards."""
    logger = get_run_logger()
    settings = get_runtime().settings
    weddings = load_weddings(wedding_ids)
    if not weddings:
        logger.info("no weddings left in this slot (moved or cancelled); nothing to do")
        return {"weddings": 0}
    mode = settings.ops.mode
    if mode == "forecast-only":
        logger.info("forecast-only mode: plan recorded, nothing warmed")
    dry_run = mode != "act"

    sample = [w.wedding_id for w in weddings[:EFFECT_SAMPLE]]
    effect_urls = warmup_urls([settings.ops.prewarm_urls[0]], sample, settings.probes.base_url)
    # The first touch must not warm the cache it measures (Cache-Control: no-store).
    before = None if dry_run else http_get_all(effect_urls, fill_cache=False)
    shards = split((w.wedding_id for w in weddings), settings.prewarm.shard_size)
    sharded = run_shards(
        settings.prewarm.shard_deployment,
        prewarm_weddings_shard,
        shard_requests(
            settings.prewarm.shard_deployment,
            # This run (its retries ask for the same shard runs); not the plan alone, which a
            # manual pre-warm shares with every other ("manual").
            f"{plan_id}@{flow_run.id}",
            shards,
            lambda shard: {
                "wedding_ids": shard.wedding_ids,
                "plan_id": plan_id,
                "dry_run": dry_run,
                "label": shard.label,
            },
        ),
        timeout=settings.prewarm.shard_timeout,
        tags=["prewarm-shard"],
        touched="warmed",
    )
    warmed = sharded.results
    ttls = [t for r in warmed for t in (r["min_ttl_s"], r["max_ttl_s"]) if t is not None]
    http_failures = [f for r in warmed for f in r["http_failures"]]
    pg_steps = warm_postgres(weddings, plan_id, dry_run)
    # The advisor's optimisation is a bonus on top of the warm-ups: its failure is reported,
    # never the run's.
    advisor_state = optimise_for_weddings(weddings, plan_id, dry_run, return_state=True)
    advisor_steps, advisor_error = [], None
    if advisor_state.is_completed():
        advisor_steps = advisor_state.result()
    else:
        advisor_error = advisor_state.message or advisor_state.name
        logger.warning("database advisor optimisation failed: %s", advisor_error)
    findings_state = latest_findings_markdown(return_state=True)
    findings = findings_state.result() if findings_state.is_completed() else None
    after = None if dry_run else http_get_all(effect_urls)

    def p95(result) -> str:
        return "—" if result is None or result.p95_ms is None else f"{result.p95_ms:.1f} ms"

    markdown = "\n".join(
        [
            f"# Pre-warm {slot or ''} ({len(weddings)} weddings, mode {mode})",
            "",
            f"Guest-list p95 over {len(sample)} weddings: first touch **{p95(before)}**, "
            f"after pre-warm **{p95(after)}**.",
            "",
            f"- Redis: {sharded.total('redis_keys')} keys ({sharded.total('redis_rows')} rows), "
            f"TTL {min(ttls, default=None)}–{max(ttls, default=None)} s",
            f"- HTTP warm-ups: {sharded.total('http_requests')} requests, "
            f"{sharded.total('http_failed')} failed"
            + (f"; first: {http_failures[0]}" if http_failures else ""),
            f"- {sharded.markdown()}",
            *(
                f"- PostgreSQL {s.step} {s.relation}: {'done' if s.done else 'skipped'} — "
                f"{s.detail}"
                for s in pg_steps
            ),
            *(
                f"- Advisor {s.kind.removeprefix('advisor_')} {s.target}: {s.outcome} — {s.detail}"
                for s in advisor_steps
            ),
            *([f"- Advisor optimisation failed: {advisor_error}"] if advisor_error else []),
            *(["", "## Database advisor findings", "", findings] if findings else []),
        ]
    )
    create_markdown_artifact(
        key="prewarm-weddings",
        markdown=markdown,
        description="Latest pre-warm and its measured effect",
    )
    summary = {
        "weddings": len(weddings),
        **sharded.summary(counted="warmed"),
        "redis_keys": sharded.total("redis_keys"),
        "http_requests": sharded.total("http_requests"),
        "http_failures": sharded.total("http_failed"),
        "guest_list_p95_before_ms": None if before is None else before.p95_ms,
        "guest_list_p95_after_ms": None if after is None else after.p95_ms,
        "postgres_steps": [s.__dict__ for s in pg_steps],
        "advisor_steps": [s.__dict__ for s in advisor_steps],
        "advisor_error": advisor_error,
    }
    trouble = sharded.failed + sharded.late
    if trouble:
        return Failed(
            message=f"pre-warm shards not done: {', '.join(trouble)} ({sharded.markdown()})",
            data=summary,
        )
    return summary
