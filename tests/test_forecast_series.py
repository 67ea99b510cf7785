"""Bad input answers: gaps, duplicates, negatives, odd steps, too little data; what the
`samples` series count."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import psycopg
import pytest

from wedperf.forecast.series import prepare_hourly
from wedperf.forecast.settings import SeriesSpec
from wedperf.forecast.sources import load_series
from wedperf.metrics.model import LATENCY, Sample
from wedperf.metrics.store import write_samples


def frame(stamps, values) -> pd.DataFrame:
    return pd.DataFrame({"timestamp": stamps, "value": values})


def hours(n: int, start: str = "2026-10-01") -> pd.DatetimeIndex:
    return pd.date_range(start, periods=n, freq="h")


def test_half_hourly_points_are_summed_and_a_missing_half_is_not_halving_the_hour() -> None:
    stamps = pd.date_range("2026-10-01", periods=8, freq="30min")
    values = [10, 20, 30, 40, 50, 60, 70, 80]
    raw = frame(stamps, values).drop(index=[3])  # 01:30 missing
    y, report = prepare_hourly(raw, agg="sum")
    assert y.tolist() == [30, 60, 110, 150]  # 01:00 hour: 30 x 2 points expected
    assert str(y.index.tz) == "UTC" and y.index.freq == "h"
    means, _ = prepare_hourly(frame(stamps, values), agg="mean")
    assert means.tolist() == [15, 35, 55, 75]
    assert report.step == pd.Timedelta(minutes=30)


def test_duplicated_timestamps_are_averaged_and_counted() -> None:
    stamps = list(hours(4)) + [hours(4)[1]]
    y, report = prepare_hourly(frame(stamps, [1, 2, 3, 4, 4]))
    assert y.tolist() == [1, 3, 3, 4]
    assert report.duplicates == 1


def test_negative_values_are_missing_not_clipped() -> None:
    y, report = prepare_hourly(frame(hours(5), [10, 20, -5, 40, 50]))
    assert y.tolist() == [10, 20, 30, 40, 50]  # interpolated, not 0
    assert report.negatives == 1 and report.filled_hours == 1
    signed, report = prepare_hourly(frame(hours(3), [-1.0, -2.0, -3.0]), nonnegative=False)
    assert signed.tolist() == [-1, -2, -3] and report.negatives == 0


def test_short_gaps_are_interpolated_and_long_gaps_take_last_week() -> None:
    index = hours(3 * 168)
    values = pd.Series(np.tile(np.arange(168.0), 3), index=index)
    values.iloc[200:203] = np.nan  # 3 hours: a straight line
    values.iloc[400:420] = np.nan  # 20 hours: the same hours a week earlier
    raw = frame(index, values.to_numpy()).dropna()
    y, report = prepare_hourly(raw, max_interpolate_hours=6)
    assert report.filled_hours == 23
    assert y.iloc[200:203].tolist() == [32.0, 33.0, 34.0]
    assert y.iloc[400:420].tolist() == y.iloc[232:252].tolist()
    assert np.isfinite(y).all() and len(y) == 3 * 168


def test_coarse_steps_are_spread_over_their_hours() -> None:
    stamps = pd.date_range("2026-10-01", periods=3, freq="2h")
    y, _ = prepare_hourly(frame(stamps, [10, 20, 30]), agg="sum")
    assert y.tolist() == [5, 5, 10, 10, 15, 15]
    y, _ = prepare_hourly(frame(stamps, [10, 20, 30]), agg="mean")
    assert y.tolist() == [10, 10, 20, 20, 30, 30]


def test_naive_timestamps_are_read_in_the_given_zone() -> None:
    y, _ = prepare_hourly(frame(hours(3), [1, 2, 3]), tz="Europe/Paris")
    assert y.index[0] == pd.Timestamp("2026-09-30 22:00", tz="UTC")


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (frame(["2026-10-01"], [1.0]), "need at least 2 valid points, got 1"),
        (frame(hours(3), ["x", None, "y"]), "need at least 2 valid points, got 0"),
        (frame(["not a time", "never"], [1, 2]), "need at least 2 valid points, got 0"),
        (
            frame(list(hours(2)) + [pd.Timestamp("2026-10-05")], [1, 2, 3]),
            "more than half the hours are missing",
        ),
    ],
)
def test_unusable_series_say_why(raw: pd.DataFrame, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        prepare_hourly(raw)


def test_sample_count_series_leave_rum_beacons_out(migrated_database_url: str) -> None:
    """The `samples` series count the requests the server-side collectors saw; beacons the
    apps flush (often hours late, in bursts) are not server load."""
    start = datetime(2026, 10, 17, 10, 0, tzinfo=UTC)

    def samples(source: str, per_hour: list[int]) -> list[Sample]:
        return [
            Sample(
                ts=start + timedelta(hours=hour, seconds=10 * i),
                source=source,
                metric=LATENCY,
                operation="guest_list",
                series=f"{source}-series-{i}",
                wedding_id="7",
                attributed_by="beacon" if source == "rum" else "url",
                value=0.2,
                client="ios" if source == "rum" else "unknown",
            )
            for hour, count in enumerate(per_hour)
            for i in range(count)
        ]

    spec = SeriesSpec(name="guest_list_requests", source="samples", operation="guest_list")
    with psycopg.connect(migrated_database_url) as conn:
        write_samples(conn, samples("probe", [3, 0, 2]))
        write_samples(conn, samples("rum", [40, 25, 60]))
        series = load_series(
            conn, spec, start=start, end=start + timedelta(hours=3), source_schema="wedperf_src"
        )
    assert series.tolist() == [3.0, 0.0, 2.0]
