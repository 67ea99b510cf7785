"""Rolling-origin backtests, conformal intervals, selection and its fallbacks: pure, on
small synthetic series."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from wedperf.forecast import models
from wedperf.forecast.backtest import (
    OriginRun,
    origin_positions,
    run_backtest,
    select_model,
)
from wedperf.forecast.calibrate import calibrate, conformal_factor, interval_scores
from wedperf.forecast.events import Event
from wedperf.forecast.features import calendar_features, hourly_index
from wedperf.forecast.pipeline import fit_series

START = pd.Timestamp("2026-09-07", tz="UTC")
ALL = ("snaive", "calendar_reg", "mstl_reg")


def weekly_load(weeks: int, *, horizon: int = 24, seed: int = 1, events: bool = True):
    """A daily/weekly cycle with noise; with `events`, a x3 event every Wednesday."""
    rng = np.random.default_rng(seed)
    n = weeks * 168
    index = hourly_index(START, n + horizon)
    calendar = (
        [
            Event("midweek", START + pd.Timedelta(days=d), START + pd.Timedelta(days=d + 1))
            for d in range(2, weeks * 7 + 2, 7)
        ]
        if events
        else []
    )
    X = calendar_features(index, events=calendar, holiday_country=None)
    t = np.arange(n)
    base = 50 + 20 * np.sin(2 * np.pi * t / 24) + rng.normal(0, 3, n)
    if events:
        base = base * (1 + 2 * X["event_active"].to_numpy()[:n])
    return pd.Series(base, index=index[:n]), X


def forecast_frame(mean, lo95, hi95) -> pd.DataFrame:
    mean, lo95, hi95 = map(np.asarray, (mean, lo95, hi95))
    return pd.DataFrame(
        {"mean": mean, "lo-80": lo95, "hi-80": hi95, "lo-95": lo95, "hi-95": hi95},
        index=hourly_index(START, len(mean)),
    )


def test_metrics_follow_their_definitions() -> None:
    f = forecast_frame([10, 0, 20], [8, 0, 15], [12, 0, 25])
    run = OriginRun(0, START, np.array([11.0, 0.0, 30.0]), scale=2.0, warmup=False, calibrated=f)
    m = run.metrics()
    assert m["mae"] == pytest.approx((1 + 0 + 10) / 3)
    assert m["mase"] == pytest.approx(11 / 3 / 2)
    assert m["smape"] == pytest.approx((200 * 1 / 21 + 0 + 200 * 10 / 50) / 3)  # 0/0 is 0
    assert m["coverage_95"] == pytest.approx(2 / 3)


def test_conformal_calibration_widens_too_narrow_intervals_asymmetrically() -> None:
    f = forecast_frame([10, 10], [8, 9], [14, 12])
    scores = interval_scores(f, np.array([14.0, 7.0]))
    assert scores.tolist() == pytest.approx([1.0, 3.0])  # by the side the actual fell on
    assert conformal_factor(np.arange(1.0, 20.0), 95) == 19.0
    assert conformal_factor(np.arange(1.0, 10.0), 95) is None  # too few for 95%
    calibrated = calibrate(f, np.full(40, 2.0))
    assert calibrated["hi-95"].tolist() == pytest.approx([18, 14])
    assert calibrated["lo-95"].tolist() == pytest.approx([6, 8])
    untouched = calibrate(f, np.zeros(0))
    pd.testing.assert_frame_equal(untouched, f, check_dtype=False)


def test_origins_step_back_from_the_end_and_need_a_training_window() -> None:
    assert origin_positions(1000, horizon=48, step=24, count=3, min_train=336) == [904, 928, 952]
    assert origin_positions(420, horizon=48, step=24, count=5, min_train=336) == [348, 372]


def test_backtest_refits_per_origin_calibrates_on_the_past_only_and_selects() -> None:
    y, X = weekly_load(5)
    result = run_backtest(y, X, ALL, horizon=24, step=24, origins=5, warmup=3)
    assert len(result.origins) == 5 and result.warmup_origins == 3
    assert result.origins[-1] == y.index[-24]
    for backtest in result.models.values():
        runs = backtest.runs
        assert len(runs) == 8 and not backtest.failures
        # Nothing complete before the first origin: its intervals are the model's own.
        assert runs[0].calibrated.equals(runs[0].raw.clip(lower=0.0))
        assert not runs[-1].calibrated.equals(runs[-1].raw.clip(lower=0.0))
    summary = result.summary()
    assert set(summary["snaive"]) >= {"mase", "smape", "coverage_80", "coverage_95", "fit_seconds"}
    selected, reason = select_model(result)
    assert reason is None and selected == "calendar_reg"
    assert summary["calendar_reg"]["mase"] < summary["snaive"]["mase"]


def test_fit_series_selects_refits_and_stores_finite_nested_intervals() -> None:
    y, X = weekly_load(5)
    fit = fit_series("load", y, X, models=ALL, horizon=24, step=24, origins=3)
    assert fit.fallback_reason is None and fit.model == "calendar_reg"
    assert fit.model_version == "calendar_reg-v1"
    assert fit.origin == y.index[-1] + pd.Timedelta(hours=1)
    f = fit.forecast
    assert np.isfinite(f.to_numpy()).all()
    assert (f["lo-95"] <= f["lo-80"]).all() and (f["hi-80"] <= f["hi-95"]).all()
    assert fit.backtest["selected"] == "calendar_reg"
    # Every single model and the combinations of the best two and three were candidates.
    assert set(fit.backtest["models"]) == {*ALL, "top2_mean", "top3_mean"}
    assert fit.last_backtest is not None and "actual" in fit.last_backtest


def test_constant_history_falls_back_with_the_reason() -> None:
    y, X = weekly_load(5, events=False)
    flat = pd.Series(3.0, index=y.index)
    fit = fit_series("flat", flat, X, models=ALL, horizon=24)
    assert fit.model == "snaive" and "constant history" in fit.fallback_reason
    assert (fit.forecast == 3.0).all().all()


def test_short_history_falls_back_to_the_daily_naive_and_too_short_raises() -> None:
    y, X = weekly_load(2, events=False)
    fit = fit_series("young", y.iloc[:200], X, models=ALL, horizon=24)
    assert fit.model == "snaive24" and fit.model_version == "snaive24-v1"
    assert "too short for a selection backtest" in fit.fallback_reason
    assert np.isfinite(fit.forecast.to_numpy()).all()
    with pytest.raises(ValueError, match="need at least 48 hourly points to forecast, got 30"):
        fit_series("newborn", y.iloc[:30], X, models=ALL, horizon=24)


def test_failing_or_non_finite_models_never_reach_the_forecast(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    y, X = weekly_load(5)

    def broken(self, index, X):
        return np.full(len(index), np.nan), np.full(len(index), np.inf)

    monkeypatch.setattr(models.CalendarRegression, "_predict_z", broken)
    monkeypatch.setattr(models.MSTLRegression, "_predict_z", broken)
    fit = fit_series("load", y, X, models=("calendar_reg", "mstl_reg"), horizon=24, origins=3)
    assert fit.model == "snaive"
    assert "no model completed the backtest" in fit.fallback_reason
    assert "non-finite forecast" in fit.fallback_reason
    assert np.isfinite(fit.forecast.to_numpy()).all()


def test_events_outside_the_series_span_change_nothing() -> None:
    y, _ = weekly_load(4, events=False)
    far = [
        Event(
            "long ago", pd.Timestamp("2020-01-01", tz="UTC"), pd.Timestamp("2020-01-02", tz="UTC")
        )
    ]
    index = hourly_index(START, len(y) + 24)
    with_far = calendar_features(index, events=far, holiday_country=None)
    without = calendar_features(index, holiday_country=None)
    a = fit_series("a", y, with_far, models=("snaive", "calendar_reg"), horizon=24)
    b = fit_series("b", y, without, models=("snaive", "calendar_reg"), horizon=24)
    assert np.allclose(a.forecast.to_numpy(), b.forecast.to_numpy())


def test_a_model_that_failed_at_a_recent_origin_is_no_candidate(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    y, X = weekly_load(5)
    healthy = fit_series("load", y, X, models=ALL, horizon=24, step=24, origins=4)
    assert "calendar_reg" in healthy.members  # the calendar model wins when it runs
    one_origin = y.index[-24 * 3 - 1]  # the training end of the third-last origin
    original = models.CalendarRegression._predict_z

    def fails_once(self, index, X):
        if self.train_end_ == one_origin:
            return np.full(len(index), np.nan), np.full(len(index), np.nan)
        return original(self, index, X)

    monkeypatch.setattr(models.CalendarRegression, "_predict_z", fails_once)
    fit = fit_series("load", y, X, models=ALL, horizon=24, step=24, origins=4)
    assert fit.backtest["models"]["calendar_reg"]["failed"] == 1
    assert "calendar_reg" not in fit.members and fit.fallback_reason is None
