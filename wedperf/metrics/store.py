"""Write samples to perf.samples with COPY; roll them up per minute into event histograms.

Writes are idempotent (natural key) and transactional, so `with_db_retry` can repeat one that
lost its connection half-way without duplicating or losing a row.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import psycopg
from psycopg_pool import ConnectionPool

from wedperf.db.connection import with_db_retry
from wedperf.db.queries import queries
from wedperf.metrics.clients import RUM_SOURCE
from wedperf.metrics.histogram import ROLLUP_BOUNDS, Histogram, merge
from wedperf.metrics.model import Sample

Q = queries("samples")
# In Sample's field order (COPY writes each Sample as it is).
_COLUMNS = "ts, source, metric, operation, series, wedding_id, attributed_by, value, client, le"
_COPY_TYPES = [
    "timestamptz", "text", "text", "text", "text", "text", "text", "float8", "text", "float8",
]  # fmt: skip


def ensure_partitions(conn: psycopg.Connection, first: datetime, last: datetime) -> int:
    """Create the daily partitions [first, last] needs; returns how many were new."""
    with conn.transaction():
        return conn.execute(
            Q["ensure_partitions"],
            {"from_day": first.astimezone(UTC).date(), "to_day": last.astimezone(UTC).date()},
        ).fetchone()[0]


def _copy(cursor: psycopg.Cursor, table: str, samples: Sequence[Sample]) -> None:
    with cursor.copy(f"COPY {table} ({_COLUMNS}) FROM STDIN (FORMAT BINARY)") as copy:
        copy.set_types(_COPY_TYPES)
        for sample in samples:
            copy.write_row(sample)


def write_samples(
    conn: psycopg.Connection, samples: Sequence[Sample], *, partition_days_ahead: int = 0
) -> int:
    """Store `samples` in one transaction; returns how many were new.

    Partitions for the batch's days, and `partition_days_ahead` days past today, are created
    first (in their own transaction), so tomorrow's partition exists before tomorrow.

    A window never written before goes straight into perf.samples with COPY (the fast path).
    When the window overlaps stored samples, or the direct COPY meets an existing key, the
    batch goes through a staging table: known keys are skipped, except histogram buckets whose
    count changed (a re-read step that Prometheus had not fully scraped the first time).
    Returns inserted plus updated rows.
    """
    if not samples:
        return 0
    first = min(s.ts for s in samples)
    last = max(s.ts for s in samples)
    ensure_partitions(conn, first, last)
    if partition_days_ahead:
        today = datetime.now(UTC)
        ensure_partitions(conn, today, today + timedelta(days=partition_days_ahead))
    sources = sorted({s.source for s in samples})
    with conn.transaction():
        overlaps = conn.execute(
            Q["any_sample_in_range"], {"first": first, "last": last, "sources": sources}
        ).fetchone()[0]
        if not overlaps:
            try:
                with conn.transaction():  # a savepoint: a clash undoes only this attempt
                    _copy(conn.cursor(), "perf.samples", samples)
                return len(samples)
            except psycopg.errors.UniqueViolation:
                pass  # a concurrent writer got there first: fall through to the dedupe path
        conn.execute(Q["create_staging"])
        _copy(conn.cursor(), "samples_staging", samples)
        return conn.execute(Q["insert_from_staging"]).rowcount


def store_samples(
    pool: ConnectionPool,
    samples: Sequence[Sample],
    *,
    partition_days_ahead: int = 0,
    delays: Sequence[float] = (0.2, 1, 3, 5),
) -> int:
    """write_samples with a pooled connection, retried if the connection is lost."""

    def attempt() -> int:
        with pool.connection() as conn:
            return write_samples(conn, samples, partition_days_ahead=partition_days_ahead)

    return with_db_retry(attempt, what=f"storing {len(samples)} samples", delays=delays)


def rollup_minutes(
    conn: psycopg.Connection,
    start: datetime,
    end: datetime,
    *,
    before: timedelta,
    after: timedelta,
    bounds: Sequence[float] = ROLLUP_BOUNDS,
) -> int:
    """Recompute perf.rollups_minute for the whole minutes covering [start, end): per minute x
    operation x wedding x client group, the event count and the cumulative histogram at
    `bounds` (latency events bucketed; histogram buckets taken at their bounds).

    Client group `all` is the server-side events (RUM beacons left out); `ios`, `android`,
    `web` and `mobile` count every event of their kinds, beacons included."""
    start = start.replace(second=0, microsecond=0)
    if end.second or end.microsecond:
        end = end.replace(second=0, microsecond=0) + timedelta(minutes=1)
    with conn.transaction():
        return conn.execute(
            Q["rollup_minutes"],
            {
                "start": start,
                "end": end,
                "before": before,
                "after": after,
                "rum_source": RUM_SOURCE,
                "bounds": list(bounds),
                "neg_bounds": [-b for b in reversed(bounds)],
            },
        ).rowcount


def merged_histogram(
    conn: psycopg.Connection,
    *,
    operation: str,
    client: str,
    wedding_id: str | None,
    start: datetime,
    end: datetime,
) -> Histogram | None:
    """A wedding's (wedding_id None: the platform's) latency events of one operation and client
    group over [start, end), as the sum of its minute rollups. Minutes rolled up with
    another bound set are merged at the bounds they share. None if there were no events."""
    rows = conn.execute(
        Q["merged_histogram"],
        {
            "operation": operation,
            "client": client,
            "wedding_id": wedding_id,
            "start": start,
            "end": end,
        },
    ).fetchall()
    found = [Histogram(tuple(le), tuple(float(n) for n in counts)) for le, counts, _ in rows]
    merged = merge(found)
    return merged if merged is not None and merged.events > 0 else None
