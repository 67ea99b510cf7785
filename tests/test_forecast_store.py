"""perf.forecasts on real PostgreSQL: a re-run replaces, NaN and infinities never land,
the latest fit is what readers get."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import psycopg
import pytest

from wedperf.forecast.pipeline import SeriesForecast
from wedperf.forecast.store import InvalidForecast, latest_forecast, write_forecast

ORIGIN = pd.Timestamp("2026-10-17 00:00", tz="UTC")


def a_fit(mean: float = 10.0, model: str = "calendar_reg", origin=ORIGIN) -> SeriesForecast:
    index = pd.date_range(origin, periods=6, freq="h")
    m = np.full(6, mean)
    forecast = pd.DataFrame(
        {"mean": m, "lo-80": m - 2, "hi-80": m + 2, "lo-95": m - 3, "hi-95": m + 4},
        index=index,
    )
    return SeriesForecast(
        series="app.guest_checkins",
        model=model,
        model_version=f"{model}-v1",
        forecast=forecast,
        train_start=origin - pd.Timedelta(weeks=12),
        train_end=origin - pd.Timedelta(hours=1),
        backtest={"selected": model, "models": {model: {"mase": 0.5, "smape": None}}},
    )


def test_rewriting_a_fit_replaces_it(migrated_database_url: str) -> None:
    with psycopg.connect(migrated_database_url) as conn:
        assert write_forecast(conn, a_fit(10.0)) == 6
        assert write_forecast(conn, a_fit(12.0)) == 6
        rows = conn.execute("SELECT mean, backtest FROM perf.forecasts").fetchall()
        assert len(rows) == 6 and {r[0] for r in rows} == {12.0}
        assert rows[0][1]["models"]["calendar_reg"] == {"mase": 0.5, "smape": None}

        write_forecast(conn, a_fit(20.0, model="snaive"))  # another model, same origin
        later = ORIGIN + pd.Timedelta(hours=1)
        write_forecast(conn, a_fit(30.0, origin=later))
        assert conn.execute("SELECT count(*) FROM perf.forecasts").fetchone()[0] == 18
        latest = latest_forecast(
            conn, "app.guest_checkins", ORIGIN.to_pydatetime(), (ORIGIN + pd.Timedelta(days=1))
        )
    assert latest["mean"].tolist() == [30.0] * 6
    assert latest.index[0] == later


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_forecasts_are_refused_before_and_by_the_database(
    migrated_database_url: str, bad: float
) -> None:
    fit = a_fit()
    broken = fit.forecast.copy()
    broken.iloc[2, 0] = bad
    with psycopg.connect(migrated_database_url) as conn:
        with pytest.raises(InvalidForecast, match="NaN or infinite"):
            write_forecast(conn, replace(fit, forecast=broken))
        assert conn.execute("SELECT count(*) FROM perf.forecasts").fetchone()[0] == 0
        with pytest.raises(psycopg.errors.CheckViolation):
            conn.execute(
                "INSERT INTO perf.forecasts (series, model_version, origin, ts, model, mean, "
                "lo_80, hi_80, lo_95, hi_95, train_start, train_end) VALUES ('s', 'm-v1', "
                "%(o)s, %(o)s, 'm', %(bad)s, 0, 1, 0, 1, %(o)s - interval '1 day', "
                "%(o)s - interval '1 hour')",
                {"o": ORIGIN.to_pydatetime(), "bad": bad},
            )


def test_intervals_out_of_order_are_refused(migrated_database_url: str) -> None:
    fit = a_fit()
    crossed = fit.forecast.copy()
    crossed["hi-80"] = crossed["hi-95"] + 1
    with (
        psycopg.connect(migrated_database_url) as conn,
        pytest.raises(InvalidForecast, match="not nested"),
    ):
        write_forecast(conn, replace(fit, forecast=crossed))
