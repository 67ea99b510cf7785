"""The steps playbooks are made of. Each returns what it changed; `apply_playbook` records it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import psycopg
import redis
from psycopg import sql

from wedperf.calendar.model import Wedding
from wedperf.capacity.actuators import build_actuator, resolve_target
from wedperf.capacity.state import remember_raise
from wedperf.config import Settings
from wedperf.prewarm.steps import http_get_all, prewarm_redis, warmup_urls


@dataclass(frozen=True)
class StepResult:
    kind: str
    target: str
    outcome: str  # done | dry-run | skipped | failed
    before: str | None = None
    after: str | None = None
    detail: str = ""


def scale_up(
    conn: psycopg.Connection,
    settings: Settings,
    *,
    step: int,
    only: str | None,
    dry_run: bool,
) -> list[StepResult]:
    """Raise each capacity target's floor (or only the one named `only`) by `step`, within
    its maximum. The raise is remembered like a planned one, so the next restore brings the
    floor back."""
    results = []
    for target in settings.ops.targets:
        if only and target.name != only:
            continue
        actuator = build_actuator(resolve_target(target, settings))
        reading = actuator.read()
        current = reading.floor or target.min_replicas
        maximum = min(target.max_replicas, reading.maximum or target.max_replicas)
        new = min(maximum, current + step)
        if new <= current:
            results.append(
                StepResult(
                    "scale_up",
                    target.name,
                    "skipped",
                    str(current),
                    str(current),
                    f"already at the maximum {maximum}",
                )
            )
            continue
        actuator.set_floor(new, reason="remediation scale-up", dry_run=dry_run)
        if not dry_run:
            remember_raise(conn, target.name, before=current, after=new)
        results.append(
            StepResult(
                "scale_up",
                target.name,
                "dry-run" if dry_run else "done",
                str(current),
                str(new),
                f"floor +{step}",
            )
        )
    return results


def flush_cache(
    client: redis.Redis, patterns: list[str], wedding_id: str, *, dry_run: bool
) -> StepResult:
    """Delete the wedding's cache keys (SCAN, never KEYS: the cache is shared)."""
    keys = [
        key
        for pattern in patterns
        for key in client.scan_iter(match=pattern.format(wedding_id=wedding_id), count=500)
    ]
    if keys and not dry_run:
        client.delete(*keys)
    return StepResult(
        "flush_cache",
        f"redis:wedding:{wedding_id}",
        "dry-run" if dry_run else "done",
        str(len(keys)),
        "0",
        f"{len(keys)} keys",
    )


def rewarm(
    client: redis.Redis,
    app_conn: psycopg.Connection,
    wedding: Wedding,
    settings: Settings,
    *,
    dry_run: bool,
) -> list[StepResult]:
    """Pre-warm one wedding again: its Redis datasets and its warm-up URLs."""
    if dry_run:
        return [StepResult("rewarm", f"wedding:{wedding.wedding_id}", "dry-run")]
    warmed = prewarm_redis(
        client,
        app_conn,
        [wedding],
        schema=settings.source_schema,
        key_template=settings.ops.prewarm_key_template,
        window_after=settings.day_window_after,
        now=datetime.now(UTC),
    )
    http = http_get_all(
        warmup_urls(settings.ops.prewarm_urls, [wedding.wedding_id], settings.probes.base_url)
    )
    return [
        StepResult(
            "rewarm_redis",
            f"wedding:{wedding.wedding_id}",
            "done",
            after=str(warmed.keys),
            detail=f"{warmed.keys} keys",
        ),
        StepResult(
            "rewarm_http",
            f"wedding:{wedding.wedding_id}",
            "failed" if http.failures else "done",
            after=str(http.requests),
            detail=f"{http.requests} requests, {len(http.failures)} failed",
        ),
    ]


def cancel_runaway_queries(
    app_conn: psycopg.Connection,
    *,
    min_duration_s: float,
    protected_roles: list[str],
    dry_run: bool,
) -> list[StepResult]:
    """pg_cancel_backend for client queries running longer than `min_duration_s` in this
    database — never a protected role's, never our own."""
    rows = app_conn.execute(
        "SELECT pid, usename, extract(epoch FROM now() - query_start)::int, left(query, 80) "
        "FROM pg_stat_activity "
        "WHERE datname = current_database() AND state = 'active' "
        "AND backend_type = 'client backend' AND pid <> pg_backend_pid() "
        "AND now() - query_start > make_interval(secs => %s) "
        "AND NOT (usename = ANY(%s))",
        (min_duration_s, protected_roles),
    ).fetchall()
    results = []
    for pid, role, seconds, query in rows:
        cancelled = False
        if not dry_run:
            cancelled = app_conn.execute("SELECT pg_cancel_backend(%s)", (pid,)).fetchone()[0]
        results.append(
            StepResult(
                "cancel_query",
                f"pid:{pid}",
                "dry-run" if dry_run else ("done" if cancelled else "failed"),
                f"{seconds}s",
                "cancelled" if cancelled else None,
                f"role {role}: {query}",
            )
        )
    if not results:
        results.append(
            StepResult(
                "cancel_query", "app-db", "skipped", detail=f"no query over {min_duration_s:.0f}s"
            )
        )
    return results


def refresh_matviews(
    app_conn: psycopg.Connection, views: list[str] | None, *, dry_run: bool
) -> list[StepResult]:
    """REFRESH each materialized view (CONCURRENTLY where a unique index allows readers on);
    a name that is no materialized view is skipped, the others still refreshed."""
    if views is None:
        views = [
            f"{s}.{n}"
            for s, n in app_conn.execute(
                "SELECT schemaname, matviewname FROM pg_matviews WHERE schemaname = 'app'"
            )
        ]
    results = []
    for view in views:
        schema, _, name = view.rpartition(".")
        ident = sql.Identifier(schema or "public", name)
        # CONCURRENTLY needs a populated view and a unique index on plain columns, no WHERE.
        found = app_conn.execute(
            "SELECT c.relispopulated AND EXISTS (SELECT 1 FROM pg_index i "
            "WHERE i.indrelid = c.oid AND i.indisunique AND i.indisvalid "
            "AND i.indpred IS NULL AND i.indexprs IS NULL) "
            "FROM pg_class c WHERE c.oid = to_regclass(%s) AND c.relkind = 'm'",
            (view,),
        ).fetchone()
        if found is None:
            results.append(
                StepResult("refresh_matview", view, "skipped", detail="no such materialized view")
            )
            continue
        concurrent = found[0]
        if not dry_run:
            statement = sql.SQL("REFRESH MATERIALIZED VIEW {}{}").format(
                sql.SQL("CONCURRENTLY ") if concurrent else sql.SQL(""), ident
            )
            app_conn.execute(statement)
        results.append(
            StepResult(
                "refresh_matview",
                view,
                "dry-run" if dry_run else "done",
                detail="concurrently" if concurrent else "blocking readers",
            )
        )
    return results
