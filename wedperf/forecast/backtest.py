"""Rolling-origin backtests: every model refitted at every origin, scored on what followed.

Origins step back from the end of the series by `step` hours; the last one leaves exactly
`horizon` hours to forecast. Each model is fitted on the `train_hours` before an origin and
forecasts the next `horizon` hours with the calendar features of those hours (the calendar
is known in advance; the load is not). The earliest `warmup` origins only feed interval
calibration; the others are scored:

- MASE: mean absolute error / the in-sample MAE of the weekly seasonal naive on the same
  training window (the same scale for every model at an origin);
- sMAPE: mean of 200 |a - f| / (|a| + |f|), in percent (0 when both are 0);
- coverage: share of actuals inside the 80% and 95% intervals, calibrated (calibrate.py)
  with the scores of earlier origins whose actuals were complete at that origin only;
- fit seconds: fit + predict, mean per origin.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from wedperf.forecast.calibrate import calibrate, interval_scores
from wedperf.forecast.features import WEEK, event_hours
from wedperf.forecast.models import make_forecaster

log = logging.getLogger(__name__)


@dataclass
class OriginRun:
    """One model at one origin: the raw and calibrated forecast, or why there is none."""

    position: int  # index of the first forecast hour in y
    origin: pd.Timestamp
    actual: np.ndarray
    scale: float
    warmup: bool
    raw: pd.DataFrame | None = None
    calibrated: pd.DataFrame | None = None
    fit_seconds: float = 0.0
    error: str | None = None
    event: np.ndarray | None = None  # which forecast hours are event hours (features.py)
    members: tuple[str, ...] = ()  # a combination's models at this origin
    # Clip forecasts at zero: the training window before this origin had no negative value
    # (judged on that window only, as a fit at this origin would).
    nonnegative: bool = False
    _metrics: dict[str, float] | None = field(default=None, repr=False)

    def metrics(self) -> dict[str, float]:
        """MAE, MASE, sMAPE and coverage of the calibrated forecast (computed once)."""
        if self._metrics is None:
            self._metrics = self._compute_metrics()
        return self._metrics

    def _compute_metrics(self) -> dict[str, float]:
        values = self.calibrated.to_numpy()
        f = {name: values[:, j] for j, name in enumerate(self.calibrated.columns)}
        mean = f["mean"]
        a = self.actual
        absolute = np.abs(a - mean)
        denominator = np.abs(a) + np.abs(mean)
        smape = np.where(
            denominator > 0, 200 * absolute / np.where(denominator > 0, denominator, 1), 0
        )
        event = np.zeros(len(a), dtype=bool) if self.event is None else self.event
        return {
            "mae": float(absolute.mean()),
            "abs_event": float(absolute[event].sum()),
            "abs_ordinary": float(absolute[~event].sum()),
            "event_hours": int(event.sum()),
            "mase": float(absolute.mean() / self.scale) if self.scale > 0 else float("nan"),
            "smape": float(smape.mean()),
            "coverage_80": float(np.mean((f["lo-80"] <= a) & (a <= f["hi-80"]))),
            "coverage_95": float(np.mean((f["lo-95"] <= a) & (a <= f["hi-95"]))),
        }


@dataclass
class ModelBacktest:
    name: str
    runs: list[OriginRun] = field(default_factory=list)
    combination: int = 0  # a combination of this many single models (selection.py)

    @property
    def scored(self) -> list[OriginRun]:
        return [r for r in self.runs if not r.warmup]

    @property
    def failures(self) -> list[str]:
        return [f"{r.origin:%Y-%m-%d %H:%M}: {r.error}" for r in self.runs if r.error]

    def scores(self) -> np.ndarray:
        """Every origin's calibration scores (warm-up included): the pool for the final fit."""
        parts = [interval_scores(r.raw, r.actual) for r in self.runs if r.raw is not None]
        return np.concatenate(parts) if parts else np.zeros(0)

    def summary(self) -> dict[str, float | int | None]:
        """Mean metrics over scored origins; None where undefined (no run, zero scale)."""
        runs = [r for r in self.scored if r.calibrated is not None]
        out: dict[str, float | int | None] = {"origins": len(runs), "failed": len(self.failures)}
        if not runs:
            return out | dict.fromkeys(
                ("mase", "smape", "coverage_80", "coverage_95", "fit_seconds")
                + ("mase_event_hours", "mase_ordinary_hours")
            )
        table = pd.DataFrame([r.metrics() for r in runs])
        for column in ("mase", "smape", "coverage_80", "coverage_95", "mae"):
            value = float(table[column].mean())
            out[column] = value if np.isfinite(value) else None
        out["fit_seconds"] = float(np.mean([r.fit_seconds for r in runs]))
        out |= split_mase(runs)
        return out


def split_mase(runs: Sequence[OriginRun]) -> dict[str, float | None]:
    """MASE over the event hours and over the ordinary hours of `runs`, each hour's absolute
    error scaled by its origin's scale (None where there is no such hour or no scale)."""
    out: dict[str, float | None] = {}
    for part in ("event", "ordinary"):
        total = hours = 0.0
        for run in runs:
            m = run.metrics()
            count = m["event_hours"] if part == "event" else len(run.actual) - m["event_hours"]
            if count and run.scale > 0:
                total += m[f"abs_{part}"] / run.scale
                hours += count
        out[f"mase_{part}_hours"] = total / hours if hours else None
    return out


@dataclass
class BacktestResult:
    horizon: int
    step: int
    models: dict[str, ModelBacktest]
    origins: list[pd.Timestamp]  # scored origins, oldest first
    warmup_origins: int = 0

    def summary(self) -> dict[str, dict]:
        return {name: m.summary() for name, m in self.models.items()}


def origin_positions(n: int, *, horizon: int, step: int, count: int, min_train: int) -> list[int]:
    """Up to `count` origins (positions of the first forecast hour), oldest first, the last
    leaving exactly `horizon` hours; none with less than `min_train` hours before it."""
    positions = [n - horizon - k * step for k in range(count)]
    return sorted(p for p in positions if p >= min_train)


def seasonal_scale(values: np.ndarray, season: int = WEEK) -> float:
    """In-sample MAE of the seasonal naive (the MASE denominator)."""
    if len(values) <= season:
        season = 24 if len(values) > 24 else 1
    return float(np.mean(np.abs(values[season:] - values[:-season])))


def run_backtest(
    y: pd.Series,
    X: pd.DataFrame | None,
    models: Sequence[str],
    *,
    horizon: int,
    step: int,
    origins: int,
    warmup: int = 0,
    train_hours: int | None = None,
    calibration_window: int | None = None,
) -> BacktestResult:
    """Backtest `models` on `y` (hourly, clean) with calendar features `X` (covering y's
    hours). Pure: reads and writes nothing. A model failing at an origin is recorded with
    its reason and the others carry on. Intervals at an origin are calibrated on the
    scores of the latest `calibration_window` origins complete by then (None: all)."""
    forecasters = {name: make_forecaster(name) for name in models}
    min_train = max(f.min_history for f in forecasters.values())
    positions = origin_positions(
        len(y), horizon=horizon, step=step, count=origins + warmup, min_train=min_train
    )
    scored_from = max(0, len(positions) - origins)
    values = y.to_numpy(dtype=float)
    event = np.zeros(len(y), dtype=bool) if X is None else event_hours(X.loc[y.index])
    result = BacktestResult(
        horizon=horizon,
        step=step,
        models={name: ModelBacktest(name) for name in models},
        origins=[y.index[p] for p in positions[scored_from:]],
        warmup_origins=scored_from,
    )
    for k, position in enumerate(positions):
        lo = 0 if train_hours is None else max(0, position - train_hours)
        train = y.iloc[lo:position]
        actual = values[position : position + horizon]
        scale = seasonal_scale(train.to_numpy())
        nonnegative = bool(values[lo:position].min() >= 0)
        for name, model in forecasters.items():
            run = OriginRun(
                position, y.index[position], actual, scale, warmup=k < scored_from,
                event=event[position : position + horizon], nonnegative=nonnegative,
            )  # fmt: skip
            began = time.perf_counter()
            try:
                model.fit(train, None if X is None else X.iloc[lo:position])
                run.raw = model.predict(horizon, X)
                if not np.all(np.isfinite(run.raw.to_numpy())):
                    raise ValueError("non-finite forecast")
            except (ValueError, np.linalg.LinAlgError) as exc:
                run.raw, run.error = None, str(exc)
            run.fit_seconds = time.perf_counter() - began
            result.models[name].runs.append(run)
    for backtest in result.models.values():
        if backtest.failures:
            log.warning(
                "%s failed at %d of %d origins, first: %s",
                backtest.name,
                len(backtest.failures),
                len(backtest.runs),
                backtest.failures[0],
            )
        calibrate_sequentially(backtest, horizon, calibration_window)
    return result


def calibrate_sequentially(
    backtest: ModelBacktest, horizon: int, window: int | None = None
) -> None:
    """Calibrate each origin's intervals on the scores of the latest `window` origins
    complete before it (all of them when None), clipped at zero where the origin's training
    window was non-negative."""
    done: list[tuple[int, np.ndarray]] = []
    for run in backtest.runs:
        if run.raw is None:
            continue
        pool = [s for position, s in done if position + horizon <= run.position]
        if window is not None:
            pool = pool[-window:]
        scores = np.concatenate(pool) if pool else np.zeros(0)
        calibrated = calibrate(run.raw, scores)
        run.calibrated = clip_nonnegative(calibrated) if run.nonnegative else calibrated
        done.append((run.position, interval_scores(run.raw, run.actual)))


def clip_nonnegative(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame.clip(lower=0)` in numpy (pandas' clip costs milliseconds a call)."""
    return pd.DataFrame(np.maximum(frame.to_numpy(), 0.0), index=frame.index, columns=frame.columns)


def select_model(result: BacktestResult) -> tuple[str | None, str | None]:
    """The model with the lowest mean MASE over the scored origins (MAE when the scale is
    zero), among those that ran at every one; ties go to the earlier (cheaper) model.
    Returns (name, None) or (None, why no model qualifies)."""
    candidates = {}
    for name, backtest in result.models.items():
        summary = backtest.summary()
        if backtest.failures or not summary["origins"]:
            continue
        key = summary["mase"] if summary["mase"] is not None else summary.get("mae")
        if key is not None and np.isfinite(key):
            candidates[name] = key
    if not candidates:
        reasons = "; ".join(
            f"{name}: {(m.failures or ['no scored origin'])[0]}"
            for name, m in result.models.items()
        )
        return None, f"no model completed the backtest ({reasons})"
    return min(
        candidates, key=lambda name: (candidates[name], list(result.models).index(name))
    ), None
