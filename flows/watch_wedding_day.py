"""Flow: one watch round over every wedding whose day window is open, in shards."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact, create_progress_artifact

from flows.watch_wedding_shard import watch_wedding_shard
from tasks.capacity import nowcast_step
from tasks.shards import run_shards
from wedperf.calendar.sync import weddings_in_day_windows
from wedperf.capacity.nowcast_round import DEADLINE_SHARE
from wedperf.critical_path.round import grid_instant, live_weddings, shard_round
from wedperf.runtime import get_runtime
from wedperf.shards import shard_requests
from wedperf.slo.report import round_markdown
from wedperf.slo.round import budget_weddings


@flow(name="watch-wedding-day", log_prints=True)
def watch_wedding_day(at: datetime | None = None, publish_artifacts: bool = True) -> dict:
    """Evaluate the critical path of every live wedding at one instant on the watch grid.

    One run covers every wedding in its day window at that instant (a time slot, not one run
    per wedding). The round's weddings (live, or whose window closed since the last round,
    for their final error budget) are split into shards of `critical_path.shard_size`, each
    a flow run of `critical_path.shard_deployment` on the work pool, so more workers make a
    round shorter; with no worker online (tests, a local run) the shards run here, one after
    the other. Each shard evaluates its weddings in batches, storing checks and alerts, then
    their error budgets (wedperf.slo). A failed shard is retried by its flow's retries, a
    slow one reported late at the end of the interval; neither holds the other shards.
    """
    logger = get_run_logger()
    runtime = get_runtime()
    settings = runtime.settings
    cp = settings.critical_path
    at = grid_instant(at or datetime.now(UTC), cp.interval)
    with runtime.pool.connection() as conn:
        weddings = live_weddings(conn, at, settings)
        targets = budget_weddings(conn, at, settings) if settings.slo.enabled else []
        day_start = datetime.combine(at.date(), time(), UTC)
        todays = weddings_in_day_windows(conn, day_start, day_start + timedelta(days=1), settings)
    # The nowcast beside the shards (a raise for a hot wedding does not wait for the checks,
    # nor the checks for it), collected at the end within its deadline: slow or failed, it
    # is reported, never the round's. Off: no task at all.
    nowcast_deadline = datetime.now(UTC) + DEADLINE_SHARE * cp.interval
    nowcast_future = (
        nowcast_step.submit(weddings, at, nowcast_deadline)
        if settings.ops.nowcast.enabled
        else None
    )
    shards = shard_round(weddings, targets, cp.shard_size)
    requests = shard_requests(
        cp.shard_deployment,
        at,
        shards,
        lambda shard: {
            "at": at,
            "wedding_ids": shard.wedding_ids,
            "budget_ids": shard.budget_ids,
            "publish_artifacts": publish_artifacts,
            "label": shard.label,
        },
    )
    logger.info(
        "round at %s: %d weddings live, %d shards", at.isoformat(), len(weddings), len(shards)
    )
    sharded = run_shards(
        cp.shard_deployment,
        watch_wedding_shard,
        requests,
        timeout=cp.interval,
        tags=["watch-shard"],
        touched="evaluated",
    )
    done = sharded.results
    nowcast = _nowcast(nowcast_future, nowcast_deadline, logger)
    breaches: dict[str, int] = {}
    for r in done:
        for check, count in r["breaches"].items():
            breaches[check] = breaches.get(check, 0) + count
    fired = [tuple(a) for r in done for a in r["fired"]]
    resolved = [tuple(a) for r in done for a in r["resolved"]]
    budget_rows = [row for r in done for row in r["budget_rows"]]
    budget_fired = [a for r in done for a in r["budget_fired"]]
    budget_resolved = [a for r in done for a in r["budget_resolved"]]

    finished = sum(1 for w in todays if w.ends_at + settings.day_window_after <= at)
    create_progress_artifact(
        progress=100.0 * finished / len(todays) if todays else 100.0,
        description=f"{finished} of {len(todays)} weddings of {at:%Y-%m-%d} (UTC) past their "
        f"day window at {at:%H:%M} UTC",
    )
    create_markdown_artifact(
        key="watch-wedding-day",
        markdown=_round_markdown(at, len(weddings), breaches, fired, resolved)
        + "\n\n"
        + sharded.markdown()
        + "\n\n"
        + round_markdown(budget_rows, budget_fired, budget_resolved)
        + "\n\n"
        + nowcast["markdown"],
        description="Latest critical-path watch round",
    )
    return {
        "at": at.isoformat(),
        "weddings": len(weddings),
        **sharded.summary(),
        "breaches": breaches,
        "alerts_fired": len(fired),
        "alerts_resolved": len(resolved),
        "artifacts_published_for": sharded.total("published"),
        "budgets_paging": sum(1 for r in budget_rows if r["page"]),
        "budgets_ticketing": sum(1 for r in budget_rows if r["ticket"]),
        "budget_alerts_fired": len(budget_fired),
        "budget_alerts_resolved": len(budget_resolved),
        "nowcast": nowcast["summary"],
    }


def _nowcast(future, deadline: datetime, logger) -> dict:
    """The nowcast step's summary and markdown, waited for until `deadline` at most; off,
    late or failed: the reason."""
    if future is None:
        reason = "ops.nowcast.enabled is false"
    else:
        future.wait(timeout=max((deadline - datetime.now(UTC)).total_seconds(), 0.0))
        state = future.state
        if state.is_completed():
            result = future.result()
            return {"summary": result.summary(), "markdown": result.markdown()}
        if state.is_final():
            reason = f"nowcast step failed: {state.message}"
            logger.error(reason)
        else:
            reason = ("nowcast step still running at the round's nowcast deadline: left out "
                      "of this round's report (the round ends when it stops, past the "
                      "deadline at most a request's wind-down; its steps are in "
                      "perf.actions)")  # fmt: skip
            logger.warning(reason)
    return {"summary": {"skipped": reason, "assessed": 0, "hot": [], "blind": 0, "steps": []},
            "markdown": f"## Nowcast\n\n{reason}"}  # fmt: skip


def _round_markdown(at, weddings, breaches, fired, resolved) -> str:
    lines = [f"# Watch round {at:%Y-%m-%d %H:%M} UTC", "", f"{weddings} weddings live.", ""]
    if breaches:
        lines += ["| check | weddings breaching |", "|---|---|"]
        lines += [f"| {check} | {count} |" for check, count in sorted(breaches.items())]
    else:
        lines.append("No breaches.")
    lines += ["", f"Alerts fired: {len(fired)}; resolved: {len(resolved)}."]
    lines += [f"- fired: wedding {w} `{c}`" for w, c in fired[:50]]
    return "\n".join(lines)
