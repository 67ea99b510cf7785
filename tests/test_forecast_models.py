"""Every forecaster through fit/predict on small synthetic series: shape, interval order,
what it refuses and why."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from wedperf.forecast.adapter import _autoreg, autoreg_statsmodels
from wedperf.forecast.base import COLUMNS
from wedperf.forecast.events import Event
from wedperf.forecast.features import calendar_features, hourly_index
from wedperf.forecast.models import MODELS, SeasonalNaive, make_forecaster
from wedperf.forecast.profile import profile_of, templates_before

START = pd.Timestamp("2026-09-07", tz="UTC")  # a Monday
HORIZON = 24


def synthetic(weeks: int = 3, *, seed: int = 0, event_days: tuple[int, ...] = (9, 16)):
    """Hourly load: a daily and weekly cycle, AR noise, and load x3 on event days; returns
    (y for `weeks` weeks, features for those hours and the HORIZON after)."""
    rng = np.random.default_rng(seed)
    n = weeks * 168
    index = hourly_index(START, n + HORIZON)
    events = [
        Event(f"gala {d}", START + pd.Timedelta(days=d), START + pd.Timedelta(days=d, hours=24))
        for d in (*event_days, weeks * 7)  # the last one is in the forecast hours
    ]
    X = calendar_features(index, events=events, holiday_country=None)
    t = np.arange(n + HORIZON)
    base = 100 + 40 * np.sin(2 * np.pi * t / 24) + 15 * np.sin(2 * np.pi * t / 168)
    noise = np.zeros(len(t))
    for i in range(1, len(t)):
        noise[i] = 0.7 * noise[i - 1] + rng.normal(0, 4)
    values = (base + noise) * (1 + 2 * X["event_active"].to_numpy())
    return pd.Series(values[:n], index=index[:n]), X, values[n:]


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_forecaster_fits_predicts_and_nests_its_intervals(name: str) -> None:
    y, X, _ = synthetic()
    model = make_forecaster(name)
    assert model.fit(y, X) is model
    forecast = model.predict(HORIZON, X, level=(80, 95))

    assert list(forecast.columns) == list(COLUMNS)
    assert forecast.index[0] == y.index[-1] + pd.Timedelta(hours=1)
    assert len(forecast) == HORIZON and forecast.index.freq == "h"
    values = forecast.to_numpy()
    assert np.isfinite(values).all()
    f = forecast
    assert (f["lo-95"] <= f["lo-80"]).all() and (f["lo-80"] <= f["mean"]).all()
    assert (f["mean"] <= f["hi-80"]).all() and (f["hi-80"] <= f["hi-95"]).all()
    assert (f["hi-95"] > f["lo-95"]).any()
    assert (f >= 0).all().all(), "a non-negative series gets non-negative forecasts"
    extra = model.predict(HORIZON, X, level=(50, 80, 95, 99))
    assert (extra["lo-99"] <= extra["lo-95"]).all() and (extra["hi-50"] <= extra["hi-80"]).all()


@pytest.mark.parametrize("name", sorted(MODELS))
def test_too_short_history_says_what_is_needed(name: str) -> None:
    y, X, _ = synthetic()
    model = make_forecaster(name)
    with pytest.raises(
        ValueError, match=rf"need at least {model.min_history} hourly points, got 100"
    ):
        model.fit(y.iloc[:100], X)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_a_constant_series_gets_a_constant_finite_forecast(name: str) -> None:
    y, X, _ = synthetic()
    flat = pd.Series(7.0, index=y.index)
    forecast = make_forecaster(name).fit(flat, X).predict(HORIZON, X)
    assert np.isfinite(forecast.to_numpy()).all()
    assert forecast["mean"].to_numpy() == pytest.approx(7.0, abs=1e-6)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_a_series_with_negative_values_is_modelled_as_is(name: str) -> None:
    y, X, _ = synthetic()
    shifted = y - 1000  # e.g. a balance: negative is legitimate, no log, no clipping at 0
    forecast = make_forecaster(name).fit(shifted, X).predict(HORIZON, X)
    assert np.isfinite(forecast.to_numpy()).all()
    assert (forecast["mean"] < 0).all() and (forecast["lo-95"] < forecast["mean"]).any()


def test_bad_calls_are_refused_with_the_reason() -> None:
    y, X, _ = synthetic()
    model = make_forecaster("calendar_reg")
    with pytest.raises(ValueError, match="call fit before predict"):
        model.predict(HORIZON, X)
    with pytest.raises(ValueError, match="regular hourly without gaps"):
        model.fit(y.drop(y.index[50]), X)
    with pytest.raises(ValueError, match="NaN or infinite"):
        model.fit(y.where(y.index != y.index[60]), X)
    with pytest.raises(ValueError, match="timezone-aware"):
        model.fit(y.tz_localize(None), X)
    model.fit(y, X)
    with pytest.raises(ValueError, match="X must have a row for every hour to predict: 24 missing"):
        model.predict(HORIZON, X.iloc[: len(y)])
    with pytest.raises(ValueError, match="X with columns .* is needed"):
        model.predict(HORIZON)
    with pytest.raises(ValueError, match="unknown model 'prophet'"):
        make_forecaster("prophet")


def test_the_calendar_model_sees_the_event_the_seasonal_naive_cannot() -> None:
    y, X, actual = synthetic(weeks=4, event_days=(5, 12, 19))
    naive = make_forecaster("snaive").fit(y, X).predict(HORIZON, X)
    calendar = make_forecaster("calendar_reg").fit(y, X).predict(HORIZON, X)
    naive_error = np.abs(naive["mean"] - actual).mean()
    calendar_error = np.abs(calendar["mean"] - actual).mean()
    assert calendar_error < naive_error / 3


def test_the_seasonal_naive_repeats_last_week_and_widens_per_season() -> None:
    y, _, _ = synthetic()
    forecast = SeasonalNaive(season=24).fit(y).predict(48)
    assert forecast["mean"].tolist() == pytest.approx(y.iloc[-24:].tolist() * 2)
    width = forecast["hi-95"] - forecast["mean"]
    assert width.iloc[30] == pytest.approx(width.iloc[0] * np.sqrt(2), rel=0.05)


def test_the_calendar_naive_skips_a_special_week_the_seasonal_naive_copies() -> None:
    # Four weeks with events (x3 load) on days 9 and 16. Forecast day 23 from days 0..22:
    # the seasonal naive copies day 16 (an event); the calendar naive skips it and day 9
    # (an event too) and copies day 2, the latest ordinary week.
    y, X, _ = synthetic(weeks=4, event_days=(9, 16))
    cut = y.index[0] + pd.Timedelta(days=23)
    history = y[y.index < cut]
    hours = pd.date_range(cut, periods=24, freq="h")
    plain = make_forecaster("snaive").fit(history, X).predict(24, X)["mean"]
    skipping = make_forecaster("snaive_cal").fit(history, X).predict(24, X)["mean"]
    assert plain.to_numpy() == pytest.approx(y.reindex(hours - pd.Timedelta(days=7)).to_numpy())
    assert skipping.to_numpy() == pytest.approx(y.reindex(hours - pd.Timedelta(days=21)).to_numpy())
    assert skipping.mean() < plain.mean() / 2  # an ordinary day, not a copy of the event
    # Without calendar columns it is the seasonal naive.
    assert make_forecaster("snaive_cal").fit(history).predict(24)["mean"].tolist() == (
        pytest.approx(plain.tolist())
    )


def test_profile_templates_are_the_latest_ordinary_weeks_before_each_hour() -> None:
    # Six hours in three groups; hours 3 and 4 are special: never a template.
    z = np.arange(20.0)
    groups = np.arange(20) % 3
    ordinary = np.ones(20, dtype=bool)
    ordinary[[3, 4]] = False
    past, latest = templates_before(z, groups, ordinary, depth=3)
    assert np.isnan(past[0]).all()  # nothing before the first hour
    assert past[3].tolist()[:1] == [0.0] and np.isnan(past[3][1:]).all()
    assert past[9].tolist()[:2] == [6.0, 0.0]  # hour 3 skipped
    assert past[19].tolist() == [16.0, 13.0, 10.0]  # hour 4 skipped
    assert latest.tolist() == [[18.0, 15.0, 12.0], [19.0, 16.0, 13.0], [17.0, 14.0, 11.0]]
    medians = profile_of(np.array([[1.0, 5.0, 3.0, np.nan], [4.0, 2.0, 8.0, 6.0]]), 4, "median")
    assert medians.tolist() == [3.0, 5.0]
    trimmed = profile_of(np.array([[4.0, 2.0, 8.0, 6.0]]), 4, "trimmed")
    assert trimmed.tolist() == [5.0]  # (4 + 6) / 2: the highest and lowest left out


@pytest.mark.parametrize("name", ["profile", "profile_ar"])
def test_the_profiles_skip_event_weeks_and_learn_the_event_effect(name: str) -> None:
    # Events (x3 load) on days 9 and 16; day 23 is ordinary, day 21 (forecast) an event.
    y, X, _ = synthetic(weeks=4, event_days=(9, 16))
    cut = y.index[0] + pd.Timedelta(days=23)
    history = y[y.index < cut]
    ordinary = make_forecaster(name).fit(history, X).predict(24, X)["mean"]
    expected = y.reindex(pd.date_range(cut, periods=24, freq="h") - pd.Timedelta(days=21))
    assert ordinary.mean() == pytest.approx(expected.mean(), rel=0.15), "not a copy of day 16"
    y3, X3, actual = synthetic(weeks=3, event_days=(9, 16))
    event = make_forecaster(name).fit(y3, X3).predict(HORIZON, X3)["mean"]
    plain = make_forecaster("snaive_cal").fit(y3, X3).predict(HORIZON, X3)["mean"]
    # Two events seen: the effect is believed 2/3 of the way on log scale (x3 -> ~x2).
    assert event.mean() > 1.6 * plain.mean()
    assert np.abs(event - actual).mean() < 0.6 * np.abs(plain - actual).mean()


def test_ar_errors_are_the_statsmodels_autoreg_estimate() -> None:
    rng = np.random.default_rng(5)
    residuals = np.zeros(2000)
    for t in range(24, 2000):
        residuals[t] = 0.6 * residuals[t - 1] + 0.2 * residuals[t - 24] + rng.normal()
    for lags in ([1, 2, 24], [1, 2, 24, 168], [1]):
        ours, reference = _autoreg(residuals, lags), autoreg_statsmodels(residuals, lags)
        assert ours[0] == pytest.approx(reference[0], abs=1e-10)
        assert ours[1] == pytest.approx(reference[1], rel=1e-10)
