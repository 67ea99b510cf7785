"""Backtest any `timestamp,value` series against any event calendar: what
`wedperf forecast backtest` and bench/forecast_real.py print."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Literal

import numpy as np
import pandas as pd

from wedperf.forecast.backtest import BacktestResult, run_backtest, seasonal_scale, select_model
from wedperf.forecast.events import Event, events_outside, read_events_csv
from wedperf.forecast.features import WEEK, calendar_features
from wedperf.forecast.models import make_forecaster
from wedperf.forecast.pipeline import fallback_forecaster, label
from wedperf.forecast.selection import (
    SelectionRule,
    add_combinations,
    final_choice,
    online_summary,
    window_before,
)
from wedperf.forecast.series import prepare_hourly, read_series_csv
from wedperf.forecast.settings import DEFAULT_MODELS

METRICS = (
    "mase",
    "mase_event_hours",
    "mase_ordinary_hours",
    "smape",
    "coverage_80",
    "coverage_95",
    "fit_seconds",
)


@dataclass(frozen=True)
class BacktestOptions:
    horizon: int = 48
    step: int = 24
    weeks: float = 8.0  # scored origins: forecasts starting within the last `weeks` weeks
    warmup: int = 14  # earlier origins that only calibrate intervals
    train_hours: int = 12 * 168
    models: Sequence[str] = DEFAULT_MODELS
    window: int = 14  # closed origins behind each online choice and each interval
    combine: Sequence[int] = (2, 3)
    agg: Literal["sum", "mean"] = "sum"
    tz: str = "UTC"
    holiday_country: str | None = "US"
    holiday_subdivision: str | None = None
    holidays_as_sunday: bool = False


def scored_origin_count(hours_available: int, options: BacktestOptions) -> int:
    """Origins whose forecasts start within the last `weeks` weeks, `step` apart."""
    window = int(options.weeks * 168)
    return max(1, (min(window, hours_available) - options.horizon) // options.step + 1)


def backtest_files(
    series: str | Path | IO[str],
    events: str | Path | IO[str] | None,
    options: BacktestOptions,
) -> dict:
    """Read both CSVs and backtest every model (see `backtest_series`)."""
    y, report = prepare_hourly(read_series_csv(series), agg=options.agg, tz=options.tz)
    calendar = read_events_csv(events, tz=options.tz) if events is not None else []
    result = backtest_series(y, calendar, options)
    result["series_report"] = report.as_dict()
    return result


def backtest_series(y: pd.Series, events: list[Event], options: BacktestOptions) -> dict:
    """Per-model MASE, sMAPE, 80/95% coverage and fit seconds over rolling origins, and the
    model selection picks. JSON-ready: every metric a number or None."""
    X = calendar_features(
        y.index,
        events=events,
        tz=options.tz,
        holiday_country=options.holiday_country,
        holiday_subdivision=options.holiday_subdivision,
        holidays_as_sunday=options.holidays_as_sunday,
    )
    origins = scored_origin_count(len(y), options)
    result = run_backtest(
        y,
        X,
        list(options.models),
        horizon=options.horizon,
        step=options.step,
        origins=origins,
        warmup=options.warmup,
        train_hours=options.train_hours,
        calibration_window=options.window,
    )
    rule = SelectionRule(window=options.window, combine=tuple(options.combine))
    add_combinations(result, rule)
    in_sample, reason = select_model(result)
    # What fit-forecasts would forecast with next: its choice from the latest closed origins.
    selected = final_choice(window_before(result, len(y), rule), len(y), rule)[0]
    if not result.origins:
        need = max(make_forecaster(m).min_history for m in options.models) + options.horizon
        reason = f"history of {len(y)} h is too short to backtest: need at least {need} h"
    if selected is None:
        selected = label(fallback_forecaster(len(y)))
    summaries = result.summary()
    online = online_summary(result, rule)
    return {
        "hours": len(y),
        "start": y.index[0].isoformat(),
        "end": y.index[-1].isoformat(),
        "horizon": options.horizon,
        "step": options.step,
        "origins": len(result.origins),
        "warmup_origins": result.warmup_origins,
        "train_hours": options.train_hours,
        "selection_window": options.window,
        "online_selection": online,
        "online_selection_mase": online["mase"],
        "profile_baseline_mase": profile_baseline_mase(y, result, options.train_hours),
        "models": {name: {k: summaries[name].get(k) for k in METRICS} for name in summaries},
        # Each combination's members at the last scored origin.
        "combinations": {
            name: list(m.scored[-1].members)
            for name, m in result.models.items()
            if m.combination and m.scored
        },
        "selected": selected,
        "in_sample_pick": in_sample,
        "fallback_reason": reason,
        "failures": {n: m.failures[:3] for n, m in result.models.items() if m.failures},
        "events": {
            "count": len(events),
            "outside_span": events_outside(events, y.index[0], y.index[-1] + pd.Timedelta(hours=1)),
        },
    }


def profile_baseline_mase(
    y: pd.Series, result: BacktestResult, train_hours: int, weeks: int = 4
) -> float | None:
    """MASE of the simple profile an engineer would write in five minutes, on the scored
    origins of `result` with the same scale: the median of the same hour of the week over
    the last `weeks` weeks, scaled half-way toward the ratio of the last day's level to the
    profile's level for that day. The bar every model must clear."""
    values = y.to_numpy(dtype=float)
    scores = []
    first = next(iter(result.models.values()))
    for run in first.scored:
        position = run.position
        train = values[max(0, position - train_hours) : position]
        if len(train) < weeks * WEEK + 24:
            continue
        scale = seasonal_scale(train)
        h = len(run.actual)
        lead = np.arange(h) % WEEK
        past = np.array([train[len(train) - w * WEEK + lead] for w in range(1, weeks + 1)])
        profile = np.median(past, axis=0)
        end = len(train)
        last_day = np.median(
            [train[end - w * WEEK - 24 : end - w * WEEK] for w in range(1, weeks + 1)], axis=0
        )
        ratio = np.mean(train[-24:]) / np.mean(last_day) if np.mean(last_day) else 1.0
        forecast = profile * (0.5 + 0.5 * ratio)
        if scale > 0:
            scores.append(np.mean(np.abs(run.actual - forecast)) / scale)
    return float(np.mean(scores)) if scores else None
