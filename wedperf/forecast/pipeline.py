"""One series from clean history to a stored-ready forecast: backtest every candidate,
choose online among single models and combinations of the best (selection.py), refit,
calibrate, validate — with a documented fallback when selection cannot run.

The choice is made exactly as the backtest's online selection makes it at every origin: the
candidate with the best mean MASE over the latest backtest origins, all of which have closed
(their actuals are in the history) at the first forecast hour. A combination is refitted as
its members (the best single models now) and averaged.

Fallbacks (the reason is logged and stored with the forecast):

- constant history: nothing to select between; the seasonal naive repeats the constant;
- history too short for a selection backtest (fewer than 2 origins fit): the weekly
  seasonal naive (2 weeks needed), else the daily one (2 days needed), without selection;
  shorter than that raises ValueError: no forecast rather than a made-up one;
- every model failed the backtest, or the selected model fails its final fit or forecasts
  something non-finite: the seasonal naive, with the failure as the reason.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from wedperf.forecast.backtest import BacktestResult, clip_nonnegative, run_backtest
from wedperf.forecast.base import COLUMNS, Forecaster
from wedperf.forecast.calibrate import calibrate
from wedperf.forecast.features import WEEK
from wedperf.forecast.models import SeasonalNaive, make_forecaster
from wedperf.forecast.selection import SelectionRule, combine_forecasts, final_choice

log = logging.getLogger(__name__)
MIN_SELECTION_ORIGINS = 2
MIN_HOURS = 2 * 24  # the daily seasonal naive's need: below it, no forecast at all


@dataclass
class SeriesForecast:
    """Everything stored for one series' fit (perf.forecasts) and shown in the artifacts."""

    series: str
    model: str
    model_version: str
    forecast: pd.DataFrame  # mean, lo-80, hi-80, lo-95, hi-95 by forecast hour
    train_start: pd.Timestamp
    train_end: pd.Timestamp
    backtest: dict = field(default_factory=dict)
    fallback_reason: str | None = None
    members: tuple[str, ...] = ()  # the single models behind the forecast
    last_backtest: pd.DataFrame | None = None  # selected model's last origin, with `actual`
    peak_to_mean: float | None = None  # busiest minute / hourly mean (request-rate series)

    @property
    def origin(self) -> pd.Timestamp:
        return self.forecast.index[0]


def fallback_forecaster(n: int) -> SeasonalNaive:
    """The weekly seasonal naive, or the daily one for 2..14 days of history."""
    for season in (WEEK, 24):
        model = SeasonalNaive(season)
        if n >= model.min_history:
            return model
    raise ValueError(f"need at least {MIN_HOURS} hourly points to forecast, got {n}")


def label(model: Forecaster) -> str:
    """The model's name; a seasonal naive that is not weekly says its season."""
    if isinstance(model, SeasonalNaive) and model.season != WEEK:
        return f"snaive{model.season}"
    return model.name


def fit_series(
    name: str,
    y: pd.Series,
    X: pd.DataFrame | None,
    *,
    models: Sequence[str],
    horizon: int,
    step: int = 24,
    origins: int = 14,
    warmup: int = 0,
    train_hours: int | None = None,
    combine: Sequence[int] = (2, 3),
) -> SeriesForecast:
    """Backtest `models` on `y` over `origins` rolling origins (plus `warmup` earlier ones
    that only calibrate), choose online among them and the mean of the best `combine`
    ones, refit the choice on the latest `train_hours`, and forecast `horizon` hours with
    conformal intervals from its backtest.

    `X` holds calendar features for y's hours and the `horizon` hours after. Pure: reads
    and writes nothing. Raises ValueError only when even the fallback cannot forecast.
    """
    train = y if train_hours is None else y.iloc[-train_hours:]
    values = train.to_numpy(dtype=float)
    backtest: BacktestResult | None = None
    reason: str | None = None
    pick: str | None = None
    members: tuple[str, ...] = ()

    if np.ptp(values) == 0:
        reason = "constant history: nothing to select between"
    else:
        need = max(make_forecaster(m).min_history for m in models) + horizon + step
        if len(y) < need:
            reason = (
                f"history of {len(y)} h is too short for a selection backtest "
                f"(need at least {need} h for {MIN_SELECTION_ORIGINS} origins)"
            )
        else:
            backtest = run_backtest(
                y, X, models, horizon=horizon, step=step, origins=origins,
                warmup=warmup, train_hours=train_hours,
            )  # fmt: skip
            rule = SelectionRule(window=origins, combine=tuple(combine))
            pick, members = final_choice(backtest, len(y), rule)
            if pick is None:
                reason = _no_candidate(backtest)

    forecast = None
    version = None
    if pick is not None:
        try:
            chosen = [make_forecaster(m) for m in members]
            forecast = _forecast(chosen, train, X, horizon, backtest, pick)
            version = _version(pick, chosen)
        except ValueError as exc:
            reason = f"{pick} failed its final fit: {exc}"
            pick = None
    if pick is None:
        fallback = fallback_forecaster(len(train))
        log.warning("%s: falling back to %s: %s", name, label(fallback), reason)
        # Calibrated on its own backtest scores when it ran in the backtest (weekly naive).
        pick, members = label(fallback), (label(fallback),)
        forecast = _forecast([fallback], train, X, horizon, backtest, pick)
        version = _version(pick, [fallback])

    return SeriesForecast(
        series=name,
        model=pick,
        model_version=version,
        forecast=forecast,
        train_start=train.index[0],
        train_end=train.index[-1],
        backtest=backtest_record(backtest, pick, reason, members),
        fallback_reason=reason,
        last_backtest=_last_backtest(backtest, pick) if reason is None else None,
        members=members,
    )


def _no_candidate(backtest: BacktestResult) -> str:
    reasons = "; ".join(
        f"{name}: {(m.failures or ['no scored origin'])[0]}"
        for name, m in backtest.models.items()
        if not m.combination
    )
    return f"no model completed the backtest ({reasons})"


def _version(pick: str, models: Sequence[Forecaster]) -> str:
    """`name-vN` of a single model; a combination names its members' versions."""
    if len(models) == 1 and label(models[0]) == pick:
        return f"{pick}-v{models[0].version}"
    return f"{pick}-v1[" + ",".join(f"{label(m)}-v{m.version}" for m in models) + "]"


def _forecast(
    models: Sequence[Forecaster],
    train: pd.Series,
    X: pd.DataFrame | None,
    horizon: int,
    backtest: BacktestResult | None,
    candidate: str,
) -> pd.DataFrame:
    """Fit and predict every member, average them, calibrate on the candidate's backtest
    scores, and check every number."""
    frames = []
    for model in models:
        frame = model.fit(train, X).predict(horizon, X)
        if not np.all(np.isfinite(frame[list(COLUMNS)].to_numpy())):
            raise ValueError(f"{label(model)} forecast has NaN or infinite values")
        frames.append(frame[list(COLUMNS)])
    frame = combine_forecasts(frames)
    if backtest is not None and candidate in backtest.models:
        frame = calibrate(frame, backtest.models[candidate].scores())
    if train.min() >= 0:
        frame = clip_nonnegative(frame)
    frame = frame[list(COLUMNS)]
    if not np.all(np.isfinite(frame.to_numpy())):
        raise ValueError("forecast has NaN or infinite values")
    return frame


def backtest_record(
    backtest: BacktestResult | None,
    selected: str,
    reason: str | None,
    members: Sequence[str] = (),
) -> dict:
    """The JSON-ready backtest summary stored with the forecast (no NaN: None instead)."""
    record: dict = {"selected": selected, "members": list(members), "fallback_reason": reason}
    if backtest is None:
        return record | {"models": {}}
    record |= {
        "horizon": backtest.horizon,
        "step": backtest.step,
        "origins": [o.isoformat() for o in backtest.origins],
        "models": {
            name: {k: _json_number(v) for k, v in summary.items()}
            for name, summary in backtest.summary().items()
        },
    }
    return record


def _json_number(value):
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return round(value, 6) if isinstance(value, float) else value


def _last_backtest(backtest: BacktestResult | None, model: str) -> pd.DataFrame | None:
    if backtest is None or model not in backtest.models:
        return None
    runs = [r for r in backtest.models[model].scored if r.calibrated is not None]
    if not runs:
        return None
    last = runs[-1]
    return last.calibrated.assign(actual=last.actual)
