"""The one place that knows statsmodels' quirks.

Forecasters call these functions with plain numpy arrays and get plain numpy arrays back:
index handling, result-object shapes, warnings on degenerate input and unstable estimates
are dealt with here.

- AR errors: conditional least squares as `AutoReg` computes it, with any set of lags, e.g.
  1, 2, 24, 168
  (statsmodels' Burg and Yule-Walker estimators only take consecutive lags, and a seasonal
  ARIMA with a 168-hour season in state-space form is far too slow to refit per origin).
- h-step error variance: psi weights of the AR polynomial (`arma2ma`).
- MSTL: daily and weekly seasonal components in one pass (`iterate=1`) with LOESS jumps:
  ~20x faster than the defaults (30 ms instead of 650 ms on 12 weeks here), at a small cost
  in smoothness; it is one candidate among several, refitted at every origin.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from statsmodels.tools.sm_exceptions import ConvergenceWarning, ValueWarning
from statsmodels.tsa.ar_model import AutoReg
from statsmodels.tsa.arima_process import arma2ma
from statsmodels.tsa.seasonal import MSTL

# Stationarity test: the impulse response of the AR errors must have died down to this
# within DECAY_HOURS (8 weeks). Equivalent to all inverse roots inside ~0.998, without the
# eigenvalues of a 168x168 companion matrix (50 ms a fit, more than the fit itself).
DECAY_HOURS = 8 * 168
MAX_LATE_RESPONSE = 0.05
# Below this many residuals per AR coefficient the estimate is noise.
MIN_POINTS_PER_LAG = 10
WEEK_HOURS = 168


@dataclass(frozen=True)
class ARErrors:
    """An AR model of regression residuals: coefficients by lag (phi[0] unused), sigma."""

    phi: np.ndarray
    sigma: float

    @property
    def lags(self) -> list[int]:
        return [lag for lag in range(1, len(self.phi)) if self.phi[lag] != 0.0]


def fit_ar_errors(residuals: np.ndarray, lags: Sequence[int]) -> ARErrors:
    """AR coefficients for `residuals` at `lags`, falling back to fewer lags (and then to
    white noise) when the series is too short, constant, or the estimate is not stationary."""
    residuals = np.asarray(residuals, dtype=float)
    spread = float(np.std(residuals))
    if spread <= 1e-12 * (1.0 + float(np.max(np.abs(residuals), initial=0.0))):
        return ARErrors(np.zeros(1), 0.0)
    usable = [lag for lag in sorted(set(lags)) if lag * 2 < len(residuals)]
    while usable and len(residuals) - max(usable) < MIN_POINTS_PER_LAG * len(usable):
        usable.pop()
    for candidate in (usable, [lag for lag in usable if lag <= 2]):
        if not candidate:
            continue
        phi, sigma = _autoreg(residuals, candidate)
        if _stationary(phi):
            return ARErrors(phi, sigma)
    return ARErrors(np.zeros(1), spread)


def _autoreg(residuals: np.ndarray, lags: list[int]) -> tuple[np.ndarray, float]:
    """Conditional least squares at `lags`: exactly `AutoReg(residuals, lags, trend="n")`
    (tests/test_forecast_models.py checks it against statsmodels), without its setup cost
    (10 ms a fit, a third of a whole backtest origin here)."""
    start = max(lags)
    design = np.column_stack([residuals[start - lag : len(residuals) - lag] for lag in lags])
    target = residuals[start:]
    params, *_ = np.linalg.lstsq(design, target, rcond=None)
    phi = np.zeros(start + 1)
    phi[lags] = params
    error = target - design @ params
    return phi, float(np.sqrt(max(float(error @ error) / len(target), 0.0)))


def autoreg_statsmodels(residuals: np.ndarray, lags: list[int]) -> tuple[np.ndarray, float]:
    """The statsmodels estimate `_autoreg` reproduces (the reference in tests)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", (ConvergenceWarning, ValueWarning, RuntimeWarning))
        result = AutoReg(residuals, lags=lags, trend="n").fit()
    phi = np.zeros(max(lags) + 1)
    phi[lags] = np.asarray(result.params, dtype=float)
    sigma = float(np.sqrt(max(float(result.sigma2), 0.0)))
    return phi, sigma


def _stationary(phi: np.ndarray) -> bool:
    if not np.all(np.isfinite(phi)):
        return False
    if len(phi) <= 1 or not np.any(phi[1:]):
        return True
    with np.errstate(over="ignore", invalid="ignore"):
        psi = arma2ma(np.r_[1.0, -phi[1:]], np.array([1.0]), lags=DECAY_HOURS)
    late = np.abs(psi[-WEEK_HOURS:])
    return bool(np.all(np.isfinite(late)) and late.max() < MAX_LATE_RESPONSE)


def ar_forecast(history: np.ndarray, ar: ARErrors, horizon: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation of the next `horizon` AR errors given the past ones."""
    order = len(ar.phi) - 1
    if order == 0:
        return np.zeros(horizon), np.full(horizon, ar.sigma)
    lags = ar.lags
    coefficients = ar.phi[lags]
    buffer = np.zeros(order + horizon)
    tail = np.asarray(history, dtype=float)[-order:]
    buffer[order - len(tail) : order] = tail
    for step in range(horizon):
        position = order + step
        buffer[position] = coefficients @ buffer[position - np.asarray(lags)]
    psi = arma2ma(np.r_[1.0, -ar.phi[1:]], np.array([1.0]), lags=horizon)
    sd = ar.sigma * np.sqrt(np.cumsum(psi**2))
    return buffer[order:], sd


def mstl_seasonals(values: np.ndarray, periods: Sequence[int]) -> np.ndarray:
    """Seasonal components (one column per period) of `values` by MSTL."""
    # LOESS evaluated every 10th point and interpolated in between.
    jumps = {"seasonal_jump": 10, "trend_jump": 10, "low_pass_jump": 10}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", (ConvergenceWarning, ValueWarning, RuntimeWarning))
        result = MSTL(
            np.asarray(values, dtype=float), periods=list(periods), stl_kwargs=jumps
        ).fit()
    seasonal = np.asarray(result.seasonal, dtype=float)
    return seasonal.reshape(len(values), -1)
