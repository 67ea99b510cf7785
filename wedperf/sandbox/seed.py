"""Seed the sandbox app's database: schema `app`, realistic rows, and the contract views.

Deterministic: the same (weddings, days, seed, start, now) gives the same rows, byte for byte.
Only `now` (which weddings are already over) may come from the wall clock, and only when the
caller does not pass it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import psycopg
from psycopg import sql

from wedperf.sandbox.generate import generate_dataset
from wedperf.sandbox.sqlfiles import (
    APP_SCHEMA,
    DEFAULT_VIEW_SCHEMA,
    add_app_keys,
    create_app_tables,
    create_views,
)
from wedperf.sandbox.tables import Table

# Parents before children, so the foreign keys added after the load read naturally.
LOAD_ORDER = (
    "weddings",
    "seating",
    "guests",
    "guest_checkins",
    "vendors",
    "timeline_items",
    "vendor_notifications",
    "incidents",
    "photos",
)
_IDENTITY_TABLES = (
    "weddings",
    "guests",
    "vendors",
    "timeline_items",
    "vendor_notifications",
    "incidents",
    "photos",
)


@dataclass(frozen=True)
class SeedSummary:
    """What a seed wrote: rows per app table, the date range and the `now` it was cut at."""

    counts: dict[str, int]
    first_day: date
    last_day: date
    now: datetime
    view_schema: str
    weddings_by_status: dict[str, int]
    dst_day_weddings: int
    elapsed_seconds: float = field(default=0.0, compare=False)

    def lines(self) -> list[str]:
        """Human-readable summary, one fact per line."""
        out = [
            f"weddings {self.first_day} .. {self.last_day} (now = {self.now.isoformat()})",
            "status: " + ", ".join(f"{k} {v}" for k, v in sorted(self.weddings_by_status.items())),
            f"weddings on a DST change day: {self.dst_day_weddings}",
        ]
        out += [f"  app.{name}: {count}" for name, count in self.counts.items()]
        out.append(f"views in schema {self.view_schema}; took {self.elapsed_seconds:.2f} s")
        return out


def seed_sandbox(
    conn: psycopg.Connection,
    *,
    weddings: int,
    days: int,
    seed: int,
    start: date,
    schema: str = DEFAULT_VIEW_SCHEMA,
    now: datetime | None = None,
) -> SeedSummary:
    """Replace schema `app` with a freshly generated data set and (re)create the views.

    Writes, in one transaction (readers see the old data set or the new one): schema `app`
    (dropped and recreated) and the views in `schema`. Weddings fall in [start, start+days);
    events after `now` (default: the current time) are not yet in the data.
    """
    if weddings < 1:
        raise ValueError(f"weddings must be at least 1, got {weddings}")
    if days < 1:
        raise ValueError(f"days must be at least 1, got {days}")
    if now is None:
        now = datetime.now(UTC)
    elif now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    began = time.perf_counter()
    tables, frame = generate_dataset(weddings=weddings, days=days, seed=seed, start=start, now=now)
    with conn.transaction():
        create_app_tables(conn)
        with conn.cursor() as cursor:
            for name in LOAD_ORDER:
                _copy_table(cursor, tables[name])
            for name in _IDENTITY_TABLES:
                _restart_identity(cursor, name, len(tables[name]) + 1)
        add_app_keys(conn)
        create_views(conn, schema)
        # Fresh statistics so the app's first queries get sensible plans.
        for name in LOAD_ORDER:
            conn.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(APP_SCHEMA, name)))
    statuses = tables["weddings"].columns["status"].tolist()
    return SeedSummary(
        counts={name: len(tables[name]) for name in LOAD_ORDER},
        first_day=start,
        last_day=start + timedelta(days=days - 1),
        now=now,
        view_schema=schema,
        weddings_by_status={s: statuses.count(s) for s in sorted(set(statuses))},
        dst_day_weddings=int(frame.dst_day.sum()),
        elapsed_seconds=time.perf_counter() - began,
    )


def _copy_table(cursor: psycopg.Cursor, table: Table) -> None:
    """COPY one table's rows in (text format; timestamps are ISO-8601 with 'Z')."""
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(APP_SCHEMA, table.name),
        sql.SQL(", ").join(sql.Identifier(c) for c in table.columns),
    )
    with cursor.copy(statement) as copy:
        for row in table.copy_rows():
            copy.write_row(row)


def _restart_identity(cursor: psycopg.Cursor, table: str, next_id: int) -> None:
    """Point the id sequence past the seeded ids so the app's own inserts don't collide."""
    cursor.execute(
        sql.SQL("ALTER TABLE {} ALTER COLUMN id RESTART WITH {}").format(
            sql.Identifier(APP_SCHEMA, table), sql.Literal(next_id)
        )
    )
