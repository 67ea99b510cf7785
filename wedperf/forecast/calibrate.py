"""Honest intervals: conformal calibration of a model's intervals on its own backtest errors.

A model's analytic intervals assume its errors are what it thinks they are; at 48 hours
ahead on event-driven load they are usually too narrow (misspecification, parameter
uncertainty, events it has not seen). Split-conformal calibration fixes that without
assumptions: each backtest error is scored relative to the model's own 95% half-width on
that side of the mean (so asymmetric log-scale intervals stay asymmetric),

    score = |actual - mean| / (hi-95 - mean)   if actual >= mean, else / (mean - lo-95),

and a calibrated level-L interval scales both half-widths by the L-quantile of past scores
(the finite-sample conformal quantile, ceil((n+1) L) / n). With scores from earlier origins
only, coverage measured on later origins is out-of-sample.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

# A half-width below this (relative to the level) is "no interval": a constant model.
_TINY = 1e-9
# Keeps a calibrated interval finite when a near-zero analytic width meets a large error.
MAX_FACTOR = 1e6


def interval_scores(forecast: pd.DataFrame, actual: np.ndarray) -> np.ndarray:
    """Nonconformity score of each actual against the forecast's 95% interval."""
    mean = forecast["mean"].to_numpy()
    upper = forecast["hi-95"].to_numpy() - mean
    lower = mean - forecast["lo-95"].to_numpy()
    error = np.asarray(actual, dtype=float) - mean
    width = np.where(error >= 0, upper, lower)
    floor = _TINY * (1.0 + np.abs(mean))
    scores = np.abs(error) / np.maximum(width, floor)
    return np.minimum(scores, MAX_FACTOR)


def conformal_factor(scores: np.ndarray, level: float) -> float | None:
    """The finite-sample conformal quantile of `scores` at `level` percent, or None when
    there are too few scores to reach it (then the analytic interval stands)."""
    scores = np.sort(np.asarray(scores, dtype=float)[np.isfinite(scores)])
    n = len(scores)
    rank = math.ceil((n + 1) * level / 100)
    if n == 0 or rank > n:
        return None
    return float(scores[rank - 1])


def calibrate(
    forecast: pd.DataFrame, scores: np.ndarray, levels: Sequence[int] = (80, 95)
) -> pd.DataFrame:
    """The forecast with each level's interval rescaled from the 95% one by the conformal
    factor of `scores`; a level with too few scores keeps its analytic interval."""
    values = forecast.to_numpy(dtype=float)  # one block, not a Series per column
    columns = {name: values[:, j] for j, name in enumerate(forecast.columns)}
    mean = columns["mean"]
    upper = columns["hi-95"] - mean
    lower = mean - columns["lo-95"]
    for level in sorted(levels):
        factor = conformal_factor(scores, level)
        if factor is not None:
            columns[f"lo-{level}"] = mean - factor * lower
            columns[f"hi-{level}"] = mean + factor * upper
    _nest(columns, levels)
    names = list(columns)
    return pd.DataFrame(np.column_stack([columns[n] for n in names]), forecast.index, names)


def order_intervals(forecast: pd.DataFrame, levels: Sequence[int] = (80, 95)) -> pd.DataFrame:
    """Nest the intervals around the mean (a wider level never inside a narrower one), which
    conformal factors estimated from few scores could otherwise break."""
    columns = {name: forecast[name].to_numpy(dtype=float) for name in forecast.columns}
    _nest(columns, levels)
    return pd.DataFrame(columns, index=forecast.index)


def _nest(columns: dict[str, np.ndarray], levels: Sequence[int]) -> None:
    inner_lo = inner_hi = columns["mean"]
    for level in sorted(levels):
        columns[f"lo-{level}"] = np.minimum(columns[f"lo-{level}"], inner_lo)
        columns[f"hi-{level}"] = np.maximum(columns[f"hi-{level}"], inner_hi)
        inner_lo, inner_hi = columns[f"lo-{level}"], columns[f"hi-{level}"]
