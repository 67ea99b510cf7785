"""Where the configured series and the calendar come from (reads only).

- `app_view` series: hourly row counts of an app-DB contract view (wedperf_src.*) by a
  timestamp column: guest check-ins, vendor notifications — the app's own activity.
- `samples` series: hourly counts of wedperf's latency samples of one operation — the
  requests wedperf saw, once collection has run for a while.
- the wedding calendar: perf.weddings (cancelled weddings excluded), split into phases.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pandas as pd
import psycopg
from psycopg import sql

from wedperf.calendar.sync import weddings_in_window
from wedperf.db.queries import queries
from wedperf.forecast.events import Event, wedding_phase_events
from wedperf.forecast.settings import ForecastSettings, SeriesSpec
from wedperf.metrics.clients import RUM_SOURCE

Q = queries("forecast")


def load_series(
    conn: psycopg.Connection,
    spec: SeriesSpec,
    *,
    start: datetime,
    end: datetime,
    source_schema: str,
) -> pd.Series:
    """Hourly counts of `spec` in [start, end) as a float series on a UTC hourly index;
    empty when the source has no rows in the window. `conn` is the app database for
    `app_view` series and wedperf's for `samples`."""
    params = {"start": start, "end": end}
    if spec.source == "app_view":
        query = sql.SQL(Q["hourly_view_counts"]).format(
            schema=sql.Identifier(source_schema),
            view=sql.Identifier(spec.view),
            column=sql.Identifier(spec.timestamp_column),
        )
    else:
        query = Q["hourly_sample_counts"]
        params |= {
            "metric": spec.metric,
            "operation": spec.operation,
            "device_source": RUM_SOURCE,
        }
    rows = conn.execute(query, params).fetchall()
    index = pd.DatetimeIndex(pd.to_datetime([r[0] for r in rows], utc=True)).as_unit("ns")
    series = pd.Series([float(r[1]) for r in rows], index=index, name=spec.name, dtype=float)
    if len(series):
        series.index.freq = "h"
    return series


def load_wedding_phases(
    conn: psycopg.Connection,
    *,
    start: datetime,
    end: datetime,
    settings: ForecastSettings,
) -> dict[str, list[Event]]:
    """Phase events of the weddings (not cancelled) that touch [start, end)."""
    weddings = weddings_in_window(
        conn, start, end, before=timedelta(days=1), after=timedelta(hours=1)
    )
    return wedding_phase_events(
        weddings,
        arrival_before=settings.arrival_before,
        ceremony_length=settings.ceremony_length,
    )
