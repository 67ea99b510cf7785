"""Writing fits to perf.forecasts (idempotent per fit) and reading the latest one back."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import numpy as np
import pandas as pd
import psycopg
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from wedperf.db.connection import with_db_retry
from wedperf.db.queries import queries
from wedperf.forecast.base import COLUMNS
from wedperf.forecast.pipeline import SeriesForecast

Q = queries("forecast")


class InvalidForecast(ValueError):
    """A forecast that must not be stored (non-finite or badly ordered numbers)."""


def check_forecast(fit: SeriesForecast) -> None:
    """InvalidForecast unless every number is finite and the intervals are nested."""
    frame = fit.forecast
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise InvalidForecast(f"{fit.series}: forecast lacks columns {missing}")
    values = frame[list(COLUMNS)].to_numpy(dtype=float)
    if not np.all(np.isfinite(values)):
        raise InvalidForecast(f"{fit.series}: forecast has NaN or infinite values")
    lo95, lo80, mean, hi80, hi95 = (
        frame[c].to_numpy() for c in ("lo-95", "lo-80", "mean", "hi-80", "hi-95")
    )
    if not np.all((lo95 <= lo80) & (lo80 <= mean) & (mean <= hi80) & (hi80 <= hi95)):
        raise InvalidForecast(f"{fit.series}: intervals are not nested around the mean")


def write_forecast(conn: psycopg.Connection, fit: SeriesForecast) -> int:
    """Replace the rows of this fit (series, model version, origin) in one transaction;
    returns the number of hours written. Checks the numbers first: nothing is written for
    an invalid forecast."""
    check_forecast(fit)
    key = {
        "series": fit.series,
        "model_version": fit.model_version,
        "origin": fit.origin.to_pydatetime(),
    }
    rows = [
        key
        | {
            "ts": ts.to_pydatetime(),
            "model": fit.model,
            "mean": float(row["mean"]),
            "lo_80": float(row["lo-80"]),
            "hi_80": float(row["hi-80"]),
            "lo_95": float(row["lo-95"]),
            "hi_95": float(row["hi-95"]),
            "train_start": fit.train_start.to_pydatetime(),
            "train_end": fit.train_end.to_pydatetime(),
            "backtest": Jsonb(fit.backtest),
            "fallback_reason": fit.fallback_reason,
            "peak_to_mean": fit.peak_to_mean,
        }
        for ts, row in fit.forecast.iterrows()
    ]
    with conn.transaction():
        conn.execute(Q["delete_fit"], key)
        with conn.cursor() as cursor:
            cursor.executemany(Q["insert_forecast"], rows)
    return len(rows)


def store_forecasts(pool: ConnectionPool, fits: Sequence[SeriesForecast]) -> int:
    """write_forecast for each fit, retried on a lost connection (each write is idempotent);
    returns the hours written."""

    def attempt() -> int:
        with pool.connection() as conn:
            return sum(write_forecast(conn, fit) for fit in fits)

    return with_db_retry(attempt, what=f"storing {len(fits)} forecasts")


def latest_forecast(
    conn: psycopg.Connection, series: str, start: datetime, end: datetime
) -> pd.DataFrame:
    """The most recent fit of `series` for the hours in [start, end): columns mean, lo-80,
    hi-80, lo-95, hi-95, model, model_version, origin, created_at, peak_to_mean, indexed by
    hour (empty if none)."""
    rows = conn.execute(
        Q["latest_forecast"], {"series": series, "start": start, "end": end}
    ).fetchall()
    columns = ["ts", *COLUMNS, "model", "model_version", "origin", "created_at", "peak_to_mean"]
    frame = pd.DataFrame(rows, columns=columns)
    return frame.set_index("ts")
