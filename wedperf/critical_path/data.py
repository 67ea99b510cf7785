"""Load what the checks need for a set of weddings at one instant.

Reads the app-DB contract views (check-ins, timeline items, vendor notifications, incidents)
in one query each for all weddings of a round, and wedperf's own latency events and
histogram buckets.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pandas as pd
import psycopg
from psycopg import sql

from wedperf.contract import rows_for_weddings
from wedperf.db.queries import queries

Q = queries("critical_path")
LATENCY_COLUMNS = ["wedding_id", "operation", "value", "client", "source"]
BUCKET_COLUMNS = ["wedding_id", "operation", "client", "source", "histogram", "le", "events"]
# How far before the ceremony the day's app rows start (morning vendor briefs, set-up).
DAY_START_BEFORE = timedelta(hours=14)
_VIEWS = {
    "checkins": ("guest_checkins", ["wedding_id", "checked_in_at"], "checked_in_at"),
    "items": (
        "timeline_items",
        ["wedding_id", "item", "scheduled_at", "started_at", "completed_at"],
        None,
    ),
    "notifications": (
        "vendor_notifications",
        ["wedding_id", "vendor_id", "sent_at", "delivered_at", "acknowledged_at"],
        "sent_at",
    ),
    "incidents": (
        "incidents",
        ["wedding_id", "severity", "opened_at", "first_response_at", "resolved_at"],
        "opened_at",
    ),
}


@dataclass(frozen=True)
class DayData:
    checkins: pd.DataFrame
    items: pd.DataFrame
    notifications: pd.DataFrame
    incidents: pd.DataFrame
    # Latency events of the lookback: LATENCY_COLUMNS (source tells RUM beacons apart).
    latency: pd.DataFrame
    # Histogram buckets of the lookback, summed per series and bound: BUCKET_COLUMNS.
    buckets: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=BUCKET_COLUMNS))


def load_day_data(
    app_conn: psycopg.Connection,
    perf_conn: psycopg.Connection,
    weddings: pd.DataFrame,
    at: datetime,
    *,
    schema: str,
    latency_lookback: timedelta,
) -> DayData:
    """Rows of the weddings' day that began by `at`. (Their later columns — a response, an
    acknowledgement after `at` — are still loaded; the checks mask them, so evaluating a past
    instant sees the day as it was then.)"""
    ids = [str(w) for w in weddings["wedding_id"]]
    day_start = (weddings["starts_at"].min() - DAY_START_BEFORE) if ids else at
    frames = {
        name: _view_rows(app_conn, schema, view, columns, time_column, ids, day_start, at)
        for name, (view, columns, time_column) in _VIEWS.items()
    }
    latency = pd.DataFrame(
        perf_conn.execute(
            Q["latency_samples"],
            {"start": at - latency_lookback, "end": at, "wedding_ids": ids},
        ).fetchall(),
        columns=LATENCY_COLUMNS,
    ).astype({"wedding_id": str, "operation": str, "value": float, "client": str, "source": str})
    buckets = pd.DataFrame(
        perf_conn.execute(
            Q["latency_buckets"],
            {"start": at - latency_lookback, "end": at, "wedding_ids": ids},
        ).fetchall(),
        columns=BUCKET_COLUMNS,
    ).astype({"wedding_id": str, "operation": str, "le": float, "events": float})
    return DayData(latency=latency, buckets=buckets, **frames)


def _view_rows(
    conn: psycopg.Connection,
    schema: str,
    view: str,
    columns: list[str],
    time_column: str | None,
    ids: list[str],
    day_start: datetime,
    at: datetime,
) -> pd.DataFrame:
    where, params = None, {}
    if time_column:
        # Bound the scan to the day: the app keeps years of rows per view.
        where = sql.SQL("{t} >= %(day_start)s AND {t} <= %(at)s").format(
            t=sql.Identifier(time_column)
        )
        params = {"day_start": day_start, "at": at}
    rows = rows_for_weddings(conn, schema, view, columns, ids, where=where, params=params)
    return _typed(pd.DataFrame(rows, columns=columns))


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    """wedding_id as text (perf's key type), timestamps as UTC datetimes."""
    frame["wedding_id"] = frame["wedding_id"].astype(str)
    for column in frame.columns:
        if column.endswith("_at"):
            frame[column] = pd.to_datetime(frame[column], utc=True)
    if "vendor_id" in frame.columns:
        frame["vendor_id"] = frame["vendor_id"].astype(str)
    return frame
