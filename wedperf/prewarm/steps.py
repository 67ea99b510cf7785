"""Pre-warm ahead of a wedding day: Redis datasets, HTTP warm-ups, PostgreSQL buffers.

- Redis: each wedding's guest list, timeline, vendors and seating, read through the app-DB
  contract views (ids, RSVP, tables, times — never names), stored as the cache contract's
  payload (wedperf.prewarm.contract) under the configured key template with a TTL that lasts
  until an hour after the day window closes — the keys the app itself reads. Re-running
  overwrites the same keys. A Redis error fails the step: a pre-warm that did not happen must
  never be reported as done.
- HTTP: GET each configured URL per wedding, so the app fills its own caches (or, with
  `fill_cache=False`, a first-touch measurement that leaves the cache as it was).
- PostgreSQL: `pg_prewarm` of the hot relations and `ANALYZE` of the wedding tables, each
  skipped with its reason when the extension or privilege is missing.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import httpx
import numpy as np
import psycopg
import redis
from psycopg import sql

from wedperf.calendar.model import Wedding
from wedperf.contract import rows_for_weddings
from wedperf.prewarm.contract import DATASETS, TTL_AFTER_WINDOW, encode_rows

# A request header the sandbox app honours: answer a cold read without filling the cache.
NO_STORE = {"cache-control": "no-store"}


@dataclass
class RedisWarmResult:
    keys: int = 0
    rows: int = 0
    min_ttl_s: int | None = None
    max_ttl_s: int | None = None
    # The weddings every dataset key of which Redis acknowledged writing.
    wedding_ids: list[str] = field(default_factory=list)


def prewarm_redis(
    client: redis.Redis,
    app_conn: psycopg.Connection,
    weddings: Sequence[Wedding],
    *,
    schema: str,
    key_template: str,
    window_after: timedelta,
    now: datetime,
) -> RedisWarmResult:
    """Write every wedding's datasets to Redis; raises redis.RedisError if Redis fails."""
    result = RedisWarmResult()
    ids = [w.wedding_id for w in weddings]
    ttl = {
        w.wedding_id: max(
            60, int((w.ends_at + window_after + TTL_AFTER_WINDOW - now).total_seconds())
        )
        for w in weddings
    }
    pipe = client.pipeline(transaction=False)
    written: list[str] = []  # the wedding of each SET, in pipeline order
    for dataset, (view, columns, _) in DATASETS.items():
        grouped: dict[str, list[dict]] = defaultdict(list)
        for row in rows_for_weddings(app_conn, schema, view, ("wedding_id", *columns), ids):
            grouped[str(row[0])].append(dict(zip(columns, row[1:], strict=True)))
        for wedding_id in ids:
            rows = grouped.get(wedding_id, [])
            key = key_template.format(wedding_id=wedding_id, dataset=dataset)
            pipe.set(key, encode_rows(dataset, rows), ex=ttl[wedding_id])
            written.append(wedding_id)
            result.keys += 1
            result.rows += len(rows)
    replies = pipe.execute()
    refused = {w for w, ok in zip(written, replies, strict=True) if not ok}
    result.wedding_ids = sorted(set(written) - refused)
    if ttl:
        result.min_ttl_s, result.max_ttl_s = min(ttl.values()), max(ttl.values())
    return result


@dataclass
class HttpWarmResult:
    requests: int = 0
    failures: list[str] = field(default_factory=list)
    latencies_s: list[float] = field(default_factory=list)

    @property
    def p95_ms(self) -> float | None:
        if not self.latencies_s:
            return None
        return float(np.percentile(self.latencies_s, 95)) * 1000


def http_get_all(
    urls: Sequence[str],
    *,
    concurrency: int = 8,
    timeout: float = 10.0,
    transport=None,
    fill_cache: bool = True,
) -> HttpWarmResult:
    """GET every URL (bounded concurrency), timing each. `fill_cache=False` sends
    `Cache-Control: no-store`, so measuring a first touch does not itself warm the app."""
    result = HttpWarmResult()
    headers = {"user-agent": "wedperf-prewarm", **({} if fill_cache else NO_STORE)}

    async def run() -> None:
        limit = asyncio.Semaphore(concurrency)
        async with httpx.AsyncClient(timeout=timeout, transport=transport) as client:

            async def one(url: str) -> None:
                async with limit:
                    began = time.perf_counter()
                    try:
                        response = await client.get(url, headers=headers)
                        response.raise_for_status()
                    except httpx.HTTPError as exc:
                        result.failures.append(f"{url}: {exc}")
                        return
                    result.latencies_s.append(time.perf_counter() - began)

            await asyncio.gather(*(one(u) for u in urls))

    result.requests = len(urls)
    asyncio.run(run())
    return result


def warmup_urls(templates: Sequence[str], wedding_ids: Sequence[str], base_url: str) -> list[str]:
    return [
        t.format(base_url=base_url.rstrip("/"), wedding_id=w)
        for t in templates
        for w in wedding_ids
    ]


@dataclass(frozen=True)
class PgStep:
    relation: str
    step: str  # pg_prewarm | analyze
    done: bool
    detail: str


def _storage_behind(conn: psycopg.Connection, relation: str) -> list[str]:
    """`relation` itself if it has storage; for a view (a contract view), the tables and
    materialized views it reads, recursively: pg_prewarm and ANALYZE act on those."""
    rows = conn.execute(
        """
        WITH RECURSIVE behind(oid) AS (
            SELECT %s::regclass::oid
            UNION
            SELECT d.refobjid
            FROM behind b
            JOIN pg_class v ON v.oid = b.oid AND v.relkind = 'v'
            JOIN pg_rewrite r ON r.ev_class = v.oid
            JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = r.oid
                AND d.refclassid = 'pg_class'::regclass AND d.refobjid <> v.oid
        )
        SELECT n.nspname || '.' || c.relname
        FROM behind b JOIN pg_class c ON c.oid = b.oid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'p', 'm')
        ORDER BY 1
        """,
        (relation,),
    ).fetchall()
    return [row[0] for row in rows]


def prewarm_postgres(conn: psycopg.Connection, relations: Sequence[str]) -> list[PgStep]:
    """pg_prewarm (if installed) and ANALYZE each relation — for a view, the tables it reads;
    a missing extension, relation or privilege skips that step with the reason, never the
    whole pre-warm. Steps name the tables acted on."""
    steps: list[PgStep] = []
    conn.autocommit = True  # each step on its own: one refusal must not abort the others
    has_prewarm = conn.execute(
        "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_prewarm')"
    ).fetchone()[0]
    tables: list[str] = []
    for relation in relations:
        if conn.execute("SELECT to_regclass(%s)", (relation,)).fetchone()[0] is None:
            steps.append(PgStep(relation, "pg_prewarm", False, "relation does not exist"))
            continue
        for table in _storage_behind(conn, relation):
            if table not in tables:
                tables.append(table)
    for relation in tables:
        schema, _, name = relation.rpartition(".")
        ident = sql.Identifier(schema, name) if schema else sql.Identifier(name)
        if has_prewarm:
            try:
                blocks = conn.execute("SELECT pg_prewarm(%s::regclass)", (relation,)).fetchone()[0]
                steps.append(PgStep(relation, "pg_prewarm", True, f"{blocks} blocks loaded"))
            except psycopg.errors.InsufficientPrivilege as exc:
                steps.append(PgStep(relation, "pg_prewarm", False, exc.diag.message_primary or ""))
        else:
            steps.append(
                PgStep(relation, "pg_prewarm", False, "extension pg_prewarm is not installed")
            )
        try:
            conn.execute(sql.SQL("ANALYZE {}").format(ident))
            steps.append(PgStep(relation, "analyze", True, "statistics refreshed"))
        except psycopg.errors.InsufficientPrivilege as exc:
            steps.append(PgStep(relation, "analyze", False, exc.diag.message_primary or ""))
    return steps
