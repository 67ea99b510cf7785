"""Backtest any `timestamp,value` series against any event calendar: what
`wedperf forecast backtest` and bench/forecast_real.py print."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Literal

import pandas as pd

from wedperf.forecast.backtest import online_selection_mase, run_backtest, select_model
from wedperf.forecast.events import Event, events_outside, read_events_csv
from wedperf.forecast.features import calendar_features
from wedperf.forecast.models import make_forecaster
from wedperf.forecast.pipeline import fallback_forecaster, label
from wedperf.forecast.series import prepare_hourly, read_series_csv
from wedperf.forecast.settings import MODEL_NAMES

METRICS = ("mase", "smape", "coverage_80", "coverage_95", "fit_seconds")


@dataclass(frozen=True)
class BacktestOptions:
    horizon: int = 48
    step: int = 24
    weeks: float = 8.0  # scored origins: forecasts starting within the last `weeks` weeks
    warmup: int = 14  # earlier origins that only calibrate intervals
    train_hours: int = 12 * 168
    models: Sequence[str] = MODEL_NAMES
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
    )
    selected, reason = select_model(result)
    if not result.origins:
        need = max(make_forecaster(m).min_history for m in options.models) + options.horizon
        reason = f"history of {len(y)} h is too short to backtest: need at least {need} h"
    if selected is None:
        selected = label(fallback_forecaster(len(y)))
    summaries = result.summary()
    return {
        "hours": len(y),
        "start": y.index[0].isoformat(),
        "end": y.index[-1].isoformat(),
        "horizon": options.horizon,
        "step": options.step,
        "origins": len(result.origins),
        "warmup_origins": result.warmup_origins,
        "train_hours": options.train_hours,
        "models": {name: {k: summaries[name].get(k) for k in METRICS} for name in summaries},
        "selected": selected,
        "fallback_reason": reason,
        "online_selection_mase": online_selection_mase(result),
        "failures": {n: m.failures[:3] for n, m in result.models.items() if m.failures},
        "events": {
            "count": len(events),
            "outside_span": events_outside(events, y.index[0], y.index[-1] + pd.Timedelta(hours=1)),
        },
    }
