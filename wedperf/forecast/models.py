"""The forecasters: a seasonal-naive baseline and two calendar-aware statsmodels models.

- `snaive`: the value a week earlier. What generic predictive autoscalers amount to, and the
  MASE yardstick.
- `snaive_cal`: the value of the last *ordinary* week: an hour is not copied from a public
  holiday or an event a week earlier, but from the latest ordinary week before it (the
  Monday after Martin Luther King Day is forecast from the Monday before it).
- `calendar_reg`: dynamic regression with AR errors. An hour-of-week profile (one level per
  local hour of the week, holidays on the Sunday profile) plus calendar regressors (events,
  weddings by phase, holidays and their daily shape), estimated by least squares within
  hour-of-week groups, with AR errors at lags 1, 2, 24 and 168 for what the calendar does
  not explain (yesterday's and last week's surprises carry over). Equivalent to a
  regression with ARIMA(p,0,0) errors on restricted lags.
- `mstl_reg`: MSTL removes the daily and weekly seasonal components, their last cycles are
  carried forward, and the seasonally adjusted series gets the same calendar regression
  with AR errors.

Non-negative series are modelled on log1p scale (`transform="auto"`): calendar effects on
load are multiplicative (a holiday removes a share of the traffic, not a fixed amount), and
intervals come out asymmetric and non-negative. The point forecast is then the median.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd

from wedperf.forecast.adapter import ar_forecast, fit_ar_errors, mstl_seasonals
from wedperf.forecast.base import Forecaster
from wedperf.forecast.features import SEASONAL_KEY, WEEK, hour_of_week
from wedperf.forecast.profile import SeasonalProfile, SeasonalProfileAR

Transform = Literal["auto", "log", "none"]


class SeasonalNaive(Forecaster):
    """Each hour's value one season (default a week) earlier; intervals from the spread of
    the in-sample seasonal differences, widening with the number of seasons ahead."""

    name = "snaive"
    version = 1

    def __init__(self, season: int = WEEK) -> None:
        self.season = season

    @property
    def min_history(self) -> int:
        return 2 * self.season

    def _fit(self, y: pd.Series, X: pd.DataFrame | None) -> None:
        values = y.to_numpy(dtype=float)
        self.last_season_ = values[-self.season :]
        self.sigma_ = float(np.std(values[self.season :] - values[: -self.season], ddof=1))

    def _predict_z(self, index, X):
        h = len(index)
        mean = np.resize(self.last_season_, h)
        seasons_ahead = np.arange(h) // self.season + 1
        return mean, self.sigma_ * np.sqrt(seasons_ahead)


SPECIAL_DAY_COLUMNS = ("holiday", "event_active")
MAX_WEEKS_BACK = 4


class CalendarNaive(SeasonalNaive):
    """Seasonal naive that skips special days: each hour takes the value one season earlier,
    unless that hour was a public holiday or inside an event (calendar feature columns
    `holiday`, `event_active`) — then the season before, up to four seasons back. A special
    hour is never the template, whatever the target: a one-off event has no naive analogue,
    and the ordinary week is the better guess for it too. Without those columns it is
    exactly `snaive`."""

    name = "snaive_cal"
    version = 1

    def _fit(self, y: pd.Series, X: pd.DataFrame | None) -> None:
        values = y.to_numpy(dtype=float)
        self.history_ = values
        self.special_history_ = _special_hours(X, len(values))
        ordinary = ~(self.special_history_[self.season :] | self.special_history_[: -self.season])
        diffs = values[self.season :] - values[: -self.season]
        spread = diffs[ordinary] if ordinary.sum() > 2 else diffs
        self.last_season_ = values[-self.season :]
        self.sigma_ = float(np.std(spread, ddof=1))

    def _predict_z(self, index, X):
        h = len(index)
        n = len(self.history_)
        values = np.concatenate([self.history_, np.empty(h)])
        # Forecast hours are built from ordinary weeks, so they are ordinary templates for the
        # hours a season further ahead.
        special = np.concatenate([self.special_history_, np.zeros(h, dtype=bool)])
        for t in range(n, n + h):
            source = t - self.season
            for k in range(1, MAX_WEEKS_BACK + 1):
                candidate = t - k * self.season
                if candidate < 0:
                    break
                if not special[candidate]:
                    source = candidate
                    break
            values[t] = values[source]
        seasons_ahead = np.arange(h) // self.season + 1
        return values[n:], self.sigma_ * np.sqrt(seasons_ahead)


def _special_hours(X: pd.DataFrame | None, n: int) -> np.ndarray:
    if X is None:
        return np.zeros(n, dtype=bool)
    columns = [c for c in SPECIAL_DAY_COLUMNS if c in X.columns]
    if not columns:
        return np.zeros(n, dtype=bool)
    return (X[columns].to_numpy(dtype=float) > 0).any(axis=1)


class _CalendarRegressionBase(Forecaster):
    """Shared by the regression models: transform, regressors, least squares, AR errors."""

    def __init__(
        self, ar_lags: Sequence[int] = (1, 2, 24, WEEK), transform: Transform = "auto"
    ) -> None:
        self.ar_lags = tuple(ar_lags)
        self.transform = transform

    def _scale(self, y: pd.Series) -> np.ndarray:
        values = y.to_numpy(dtype=float)
        if self.transform == "log" and values.min() < 0:
            raise ValueError("transform='log' needs a non-negative series")
        self.log_ = self.transform == "log" or (self.transform == "auto" and values.min() >= 0)
        return np.log1p(values) if self.log_ else values

    def _inverse(self, z: np.ndarray) -> np.ndarray:
        # Keep expm1 finite: beyond e^700 float64 overflows (a degenerate extrapolation).
        return np.expm1(np.minimum(z, 700.0)) if self.log_ else z

    def _regressors(self, X: pd.DataFrame | None, train: bool) -> np.ndarray:
        """The regressor matrix: seasonal key dropped; on log scale, count-like columns (non-
        negative, above 1) enter as log1p, so 2x the guests means a fixed factor of load.
        Columns constant over the training window carry no information and are dropped."""
        if X is None:
            if train:
                self.columns_, self.log_columns_ = [], []
            elif self.columns_:
                raise ValueError(f"{self.name}: X with columns {self.columns_} is needed")
            return np.zeros((0, 0))
        names = [c for c in X.columns if c != SEASONAL_KEY]
        if train:
            values = X[names].to_numpy(dtype=float)
            if len(values):
                keep = values.std(axis=0) > 1e-12
                count_like = (values.min(axis=0) >= 0) & (values.max(axis=0) > 1) & self.log_
            else:
                keep = count_like = np.zeros(len(names), dtype=bool)
            self.columns_ = [c for c, k in zip(names, keep, strict=True) if k]
            self.log_columns_ = [c for c, k in zip(names, keep & count_like, strict=True) if k]
        missing = [c for c in self.columns_ if c not in X.columns]
        if missing:
            raise ValueError(f"{self.name}: X lacks columns {missing} it was fitted with")
        selected = np.array(X[self.columns_].to_numpy(dtype=float))  # a writable copy
        logged = np.isin(self.columns_, self.log_columns_)
        if logged.any():
            selected[:, logged] = np.log1p(np.maximum(selected[:, logged], 0.0))
        return selected

    def _fit_regression(self, z: np.ndarray, groups: np.ndarray, R: np.ndarray) -> np.ndarray:
        """Group levels and regression coefficients by least squares within groups (the
        Frisch-Waugh form: no 168 dummy columns). Returns the fitted values."""
        counts = np.bincount(groups, minlength=self.groups_)
        present = counts > 0
        safe = np.where(present, counts, 1)
        z_bar = np.bincount(groups, z, minlength=self.groups_) / safe
        if R.shape[1]:
            R_bar = np.column_stack(
                [
                    np.bincount(groups, R[:, j], minlength=self.groups_) / safe
                    for j in range(R.shape[1])
                ]
            )
            beta = np.linalg.lstsq(R - R_bar[groups], z - z_bar[groups], rcond=None)[0]
            level = z_bar - R_bar @ beta
        else:
            beta, level = np.zeros(0), z_bar
        # A group never seen in training (history shorter than the season) gets the mean.
        level[~present] = np.average(level[present], weights=counts[present])
        self.level_, self.beta_ = level, beta
        return level[groups] + (R @ beta if R.shape[1] else 0.0)

    def _fit_errors(self, residuals: np.ndarray) -> None:
        self.ar_ = fit_ar_errors(residuals, self.ar_lags)
        self.residual_tail_ = (
            residuals[-(len(self.ar_.phi) - 1) :] if len(self.ar_.phi) > 1 else residuals[:0]
        )

    def _regression_forecast(
        self, groups: np.ndarray, R: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        errors, sd = ar_forecast(self.residual_tail_, self.ar_, len(groups))
        mean = self.level_[groups] + (R @ self.beta_ if R.shape[1] else 0.0) + errors
        return mean, sd


class CalendarRegression(_CalendarRegressionBase):
    """Hour-of-week profile + calendar regressors, with AR errors (see module doc)."""

    name = "calendar_reg"
    version = 1

    @property
    def min_history(self) -> int:
        return 2 * WEEK

    def _groups(self, index: pd.DatetimeIndex, X: pd.DataFrame | None) -> np.ndarray:
        # The feature frame's key is on the local clock (and puts holidays on Sunday);
        # without one, the UTC hour of the week.
        if X is not None and SEASONAL_KEY in X.columns:
            return X[SEASONAL_KEY].to_numpy(dtype=np.int64) % WEEK
        return hour_of_week(index)

    def _fit(self, y, X):
        z = self._scale(y)
        self.groups_ = WEEK
        R = self._regressors(X, train=True)
        fitted = self._fit_regression(z, self._groups(y.index, X), R)
        self._fit_errors(z - fitted)

    def _predict_z(self, index, X):
        return self._regression_forecast(self._groups(index, X), self._regressors(X, train=False))


class MSTLRegression(_CalendarRegressionBase):
    """MSTL seasonal components carried forward + calendar regression with AR errors on the
    seasonally adjusted series (see module doc)."""

    name = "mstl_reg"
    version = 1

    def __init__(
        self,
        periods: Sequence[int] = (24, WEEK),
        ar_lags: Sequence[int] = (1, 2, 24),
        transform: Transform = "auto",
    ) -> None:
        super().__init__(ar_lags=ar_lags, transform=transform)
        self.periods = tuple(periods)

    @property
    def min_history(self) -> int:
        return 2 * max(self.periods)

    def _fit(self, y, X):
        z = self._scale(y)
        seasonal = mstl_seasonals(z, self.periods)
        self.seasonal_tails_ = [seasonal[-p:, j] for j, p in enumerate(self.periods)]
        self.groups_ = 1
        R = self._regressors(X, train=True)
        adjusted = z - seasonal.sum(axis=1)
        fitted = self._fit_regression(adjusted, np.zeros(len(z), dtype=np.int64), R)
        self._fit_errors(adjusted - fitted)

    def _predict_z(self, index, X):
        h = len(index)
        seasonal = sum(np.resize(tail, h) for tail in self.seasonal_tails_)
        mean, sd = self._regression_forecast(
            np.zeros(h, dtype=np.int64), self._regressors(X, train=False)
        )
        return mean + seasonal, sd


MODELS: dict[str, type[Forecaster]] = {
    model.name: model
    for model in (
        SeasonalNaive,
        CalendarNaive,
        CalendarRegression,
        SeasonalProfile,
        SeasonalProfileAR,
        MSTLRegression,
    )
}


def make_forecaster(name: str) -> Forecaster:
    """A forecaster with its default hyperparameters, by name."""
    try:
        return MODELS[name]()
    except KeyError:
        raise ValueError(f"unknown model {name!r}; choose from {', '.join(MODELS)}") from None


def model_version(name: str) -> str:
    """`name-vN`: stored with each forecast; bumped when a model's behaviour changes."""
    return f"{name}-v{MODELS[name].version}"
