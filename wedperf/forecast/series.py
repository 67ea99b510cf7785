"""Turning a raw `timestamp,value` series into the clean hourly series forecasters need.

Bad input gets a defined answer, counted in `SeriesReport`, never a silent guess:

- duplicated timestamps: their values are averaged (a re-delivered point is the same point);
- negative values in a non-negative series (counts, load): treated as missing, not clipped
  (a negative count is a broken measurement, and 0 would be a made-up one);
- missing values and gaps: hours with no data are filled by linear interpolation up to
  `max_interpolate_hours`, longer gaps with the value a week earlier when there is one; more
  than half the hours missing is an error;
- any regular step: finer than an hour is aggregated (`sum`: the hour's mean times the
  points an hour should have, so an hour missing half its points is not halved; `mean`),
  coarser is spread evenly (`sum`) or repeated (`mean`).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Literal

import numpy as np
import pandas as pd

HOUR = pd.Timedelta(hours=1)
WEEK_HOURS = 168


@dataclass
class SeriesReport:
    """What preparing a series found and did."""

    points: int = 0
    step: pd.Timedelta | None = None
    duplicates: int = 0
    negatives: int = 0
    missing_values: int = 0
    filled_hours: int = 0
    hours: int = 0
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "points": self.points,
            "step_seconds": None if self.step is None else int(self.step.total_seconds()),
            "duplicates": self.duplicates,
            "negatives": self.negatives,
            "missing_values": self.missing_values,
            "filled_hours": self.filled_hours,
            "hours": self.hours,
            "notes": list(self.notes),
        }


def read_series_csv(source: str | Path | IO[str]) -> pd.DataFrame:
    """The raw `timestamp,value` frame of a CSV (validated by `prepare_hourly`)."""
    frame = pd.read_csv(source)
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    missing = {"timestamp", "value"} - set(frame.columns)
    if missing:
        raise ValueError(f"series CSV needs columns timestamp,value; missing {sorted(missing)}")
    return frame[["timestamp", "value"]]


def prepare_hourly(
    raw: pd.DataFrame,
    *,
    agg: Literal["sum", "mean"] = "sum",
    nonnegative: bool = True,
    tz: str = "UTC",
    max_interpolate_hours: int = 6,
) -> tuple[pd.Series, SeriesReport]:
    """A regular hourly float series (UTC index, freq 'h', no NaN) from `timestamp,value`
    rows, and the report of what was fixed. Naive timestamps are read in `tz`.

    Raises ValueError when nothing usable is left or more than half the hours are missing.
    """
    report = SeriesReport(points=len(raw))
    with warnings.catch_warnings():  # "could not infer format": parsing one by one is fine
        warnings.simplefilter("ignore", UserWarning)
        stamps = pd.to_datetime(raw["timestamp"], errors="coerce")
        if not pd.api.types.is_datetime64_any_dtype(stamps):  # mixed offsets: place in UTC
            stamps = pd.to_datetime(raw["timestamp"], errors="coerce", utc=True)
    if stamps.dt.tz is None:
        stamps = stamps.dt.tz_localize(tz, ambiguous="NaT", nonexistent="NaT")
    stamps = stamps.dt.tz_convert("UTC")
    values = pd.to_numeric(raw["value"], errors="coerce").astype(float)
    values[~np.isfinite(values)] = np.nan
    bad_time = stamps.isna()
    if bad_time.any():
        report.notes.append(f"{int(bad_time.sum())} rows without a usable timestamp dropped")
    series = pd.Series(values.to_numpy(), index=pd.DatetimeIndex(stamps)).loc[~bad_time.to_numpy()]
    if nonnegative:
        negative = series < 0
        report.negatives = int(negative.sum())
        series[negative] = np.nan
    report.missing_values = int(series.isna().sum()) - report.negatives
    series = series.dropna().sort_index()
    if series.index.has_duplicates:
        report.duplicates = int(series.index.duplicated().sum())
        series = series.groupby(level=0).mean()
    if len(series) < 2:
        raise ValueError(f"need at least 2 valid points, got {len(series)}")

    # The step is the most common spacing (the smallest of equals): gaps do not change it.
    step = pd.Series(series.index).diff().dropna().mode().min()
    report.step = step
    if step <= HOUR:
        per_hour = HOUR / step
        hourly = series.resample("h").mean()
        if agg == "sum":
            hourly = hourly * per_hour
    else:
        hourly = _upsample(series, step, agg)
    hourly = hourly.asfreq("h")
    report.hours = len(hourly)
    missing = hourly.isna()
    if missing.mean() > 0.5:
        raise ValueError(
            f"more than half the hours are missing ({int(missing.sum())} of {len(hourly)})"
        )
    if missing.any():
        hourly = _fill_gaps(hourly, max_interpolate_hours)
        report.filled_hours = int(missing.sum())
    hourly.index = hourly.index.as_unit("ns")
    hourly.index.freq = "h"
    return hourly.astype(float), report


def _upsample(series: pd.Series, step: pd.Timedelta, agg: str) -> pd.Series:
    """Spread each coarse point over the hours of its step."""
    hours = max(1, int(round(step / HOUR)))
    start = series.index[0].floor("h")
    end = series.index[-1].floor("h") + hours * HOUR
    index = pd.date_range(start, end - HOUR, freq="h", tz="UTC")
    spread = series.reindex(index, method="ffill", limit=hours - 1, tolerance=step)
    return spread / hours if agg == "sum" else spread


def _fill_gaps(hourly: pd.Series, max_interpolate_hours: int) -> pd.Series:
    """Short gaps: a straight line; long gaps: last week's value (else the line anyway)."""
    missing = hourly.isna()
    run_id = (missing != missing.shift()).cumsum()
    run_length = missing.groupby(run_id).transform("sum")
    line = hourly.interpolate(limit_direction="both")
    long_gap = missing & (run_length > max_interpolate_hours)
    filled = hourly.where(~missing | long_gap, line)
    for _ in range(4):  # a gap longer than a week takes the value of the week before that
        weekly = filled.shift(WEEK_HOURS)
        filled = filled.where(~(filled.isna() & weekly.notna()), weekly)
    return filled.fillna(line)
