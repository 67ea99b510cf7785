"""Robust seasonal profiles: the median of the same hour of the week over recent ordinary
weeks, calendar effects by hour of day, and the recent level.

The profile of an hour is built from the same local hour of the week in the last *ordinary*
weeks: a public holiday, the day before or after it, a bridge day or an event never becomes
a template, so the Monday after Easter is forecast from ordinary Mondays. How many weeks is
the question a profile lives by (a short median follows a drifting series and is noisy, a
long one is robust and lags). By default (`select="mean"`) no single answer is chosen: the
profile is the mean of the medians over the last 2, 3, 4, 6 and 8 ordinary weeks — recent
weeks weigh most (they are in every median), old ones still damp the noise. Choosing `k`
by a backtest inside the training window (`select="best"`, or `"1se"`: the longest `k`
within one standard error of the best) was tried and lost on 7-8 of 9 real series
(docs/forecasting.md): with 4 weeks to judge on, the choice is mostly noise.

What the profile misses is modelled on its out-of-sample residuals (each hour's profile
comes from the weeks before it), on log scale for non-negative series: calendar effects and
the level are shares of the load, and the variance grows with it.

- calendar effects: the residuals of each special class (holiday, the days before and
  after, bridge day, event) are fitted by the daily harmonics of the local hour, so a
  holiday can take the shape of a Sunday, and shrunk toward zero by days / (days + 1) —
  a 12-week window holds one or two of each, and an effect seen once is believed half-way;
- the recent level, two ways (two candidate models):
  `profile`: direct regressions, one per lead, of the residual `lead` hours ahead on the
  last residual and the mean residuals of the last day and the last week (a heat wave or
  a quiet week carries on, and fades at the rate this series' history shows);
  `profile_ar`: AR errors at lags 1, 2 and 24 (conditional least squares, adapter.py).

Both are a few numpy passes over the window, cheap enough to refit at every origin.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from wedperf.forecast.adapter import ar_forecast, fit_ar_errors
from wedperf.forecast.base import Forecaster
from wedperf.forecast.features import SEASONAL_KEY, WEEK, hour_of_week

# Special-hour classes, by the calendar feature column that marks them; an hour in several
# classes counts in the first (a holiday that is also an event is a holiday).
SPECIAL_CLASSES = ("holiday", "holiday_before", "holiday_after", "bridge", "event_active")
# Hours of a class needed before its effect is estimated (half a day).
MIN_EFFECT_HOURS = 12
DAY = 24


def special_classes(X: pd.DataFrame | None, n: int) -> np.ndarray:
    """(n, len(SPECIAL_CLASSES)) booleans: each hour's class, at most one per hour."""
    out = np.zeros((n, len(SPECIAL_CLASSES)), dtype=bool)
    if X is None:
        return out
    taken = np.zeros(n, dtype=bool)
    for j, column in enumerate(SPECIAL_CLASSES):
        if column in X.columns:
            out[:, j] = (X[column].to_numpy(dtype=float) > 0) & ~taken
            taken |= out[:, j]
    return out


def templates_before(
    z: np.ndarray, groups: np.ndarray, ordinary: np.ndarray, depth: int
) -> tuple[np.ndarray, np.ndarray]:
    """For each hour, the latest `depth` ordinary values of its group strictly before it,
    newest first, NaN where there are fewer: (n, depth). Also each group's latest `depth`
    ordinary values of the whole window (the templates of future hours): (groups, depth)."""
    n = len(z)
    n_groups = int(groups.max(initial=0)) + 1
    order = np.lexsort((np.arange(n), groups))  # by group, then time
    sorted_groups = groups[order]
    sorted_ordinary = ordinary[order]
    counts = np.bincount(groups[ordinary], minlength=n_groups)
    offsets = np.r_[0, np.cumsum(counts)[:-1]]  # where each group's ordinary values start
    values = z[order][sorted_ordinary]  # the ordinary values in (group, time) order
    before = np.empty(n, dtype=np.int64)
    before[order] = np.cumsum(sorted_ordinary) - offsets[sorted_groups] - sorted_ordinary

    def gather(group: np.ndarray, seen: np.ndarray) -> np.ndarray:
        back = seen[:, None] - 1 - np.arange(depth)[None, :]
        valid = back >= 0
        if not len(values):
            return np.full(back.shape, np.nan)
        index = np.where(valid, offsets[group][:, None] + back, 0)
        return np.where(valid, values[index], np.nan)

    every_group = np.arange(n_groups)
    return gather(groups, before), gather(every_group, counts)


def profile_of(templates: np.ndarray, k: int, statistic: str) -> np.ndarray:
    """The profile from each row's newest `k` templates (NaN where a row has none)."""
    ordered = np.sort(templates[:, :k], axis=1)  # NaN last
    present = np.sum(~np.isnan(ordered), axis=1)
    rows = np.arange(len(ordered))
    low_middle = ordered[rows, np.maximum(present - 1, 0) // 2]
    high_middle = ordered[rows, present // 2 if k > 1 else 0]
    median = np.where(present > 0, (low_middle + high_middle) / 2, np.nan)
    if statistic == "median" or k < 4:
        return median
    # The mean without the highest and the lowest value: robust, less noisy than a median.
    low = ordered[:, 0]
    high = ordered[rows, np.maximum(present - 1, 0)]
    trimmed = (np.nansum(ordered, axis=1) - low - high) / np.maximum(present - 2, 1)
    return np.where(present >= 4, trimmed, median)


def daily_harmonics(hour: np.ndarray) -> np.ndarray:
    """[1, sin, cos of the 24 h and 12 h cycles] of the local hour of day."""
    angle = 2 * np.pi * np.asarray(hour, dtype=float) / DAY
    return np.column_stack(
        [np.ones(len(angle)), np.sin(angle), np.cos(angle), np.sin(2 * angle), np.cos(2 * angle)]
    )


def level_features(residual: np.ndarray, origins: np.ndarray) -> np.ndarray:
    """At each origin (the last hour known): the residual, and the mean residual over the
    last day and the last week (shorter at the start of the window)."""
    c = np.r_[0.0, np.cumsum(residual)]
    end = origins + 1
    day_start = np.maximum(end - DAY, 0)
    week_start = np.maximum(end - WEEK, 0)
    return np.column_stack(
        [
            residual[origins],
            (c[end] - c[day_start]) / (end - day_start),
            (c[end] - c[week_start]) / (end - week_start),
        ]
    )


def fit_direct_level(residual: np.ndarray, horizon: int, first: int) -> tuple:
    """Least squares of residual[t + lead] on level_features(t), for every lead 1..horizon
    at once (one shared design). Returns (coefficients (3, horizon), residuals (origins,
    horizon), the origins used); None when the window is too short for it."""
    n = len(residual)
    origins = np.arange(first + DAY - 1, n - horizon)
    if len(origins) < 4 * horizon:
        return None
    F = level_features(residual, origins)
    targets = residual[origins[:, None] + np.arange(1, horizon + 1)[None, :]]
    # Normal equations: one 3x3 solve for all leads (lstsq per lead costs 10x more).
    gram = F.T @ F + 1e-9 * np.eye(F.shape[1]) * max(1.0, float(np.trace(F.T @ F)))
    beta = np.linalg.solve(gram, F.T @ targets)
    return beta, targets - F @ beta, origins


class SeasonalProfile(Forecaster):
    """Median of recent ordinary weeks + calendar effects + direct level regression (see
    the module doc)."""

    name = "profile"
    version = 1

    def __init__(
        self,
        weeks: Sequence[int] = (2, 3, 4, 6, 8),
        statistic: str = "median",
        select_weeks: int = 4,
        horizon: int = 48,
        transform: str = "auto",
        select: str = "mean",
    ) -> None:
        self.select = select
        self.weeks = tuple(sorted(weeks))
        self.statistic = statistic
        self.select_weeks = select_weeks
        self.horizon = horizon
        self.transform = transform

    @property
    def min_history(self) -> int:
        return 2 * WEEK

    def _groups(self, index: pd.DatetimeIndex, X: pd.DataFrame | None) -> np.ndarray:
        # The feature frame's key is on the local clock; without one, the UTC hour of week.
        if X is not None and SEASONAL_KEY in X.columns:
            return X[SEASONAL_KEY].to_numpy(dtype=np.int64) % WEEK
        return hour_of_week(index)

    def _inverse(self, z: np.ndarray) -> np.ndarray:
        return np.expm1(np.minimum(z, 700.0)) if self.log_ else z

    def _fit(self, y: pd.Series, X: pd.DataFrame | None) -> None:
        values = y.to_numpy(dtype=float)
        self.log_ = self.transform == "log" or (self.transform == "auto" and values.min() >= 0)
        z = np.log1p(values) if self.log_ else values
        n = len(z)
        groups = self._groups(y.index, X)
        classes = special_classes(X, n)
        ordinary = ~classes.any(axis=1)
        depth = max(self.weeks)
        past, latest = templates_before(z, groups, ordinary, depth)
        has_template = ~np.isnan(past[:, 0])
        # The level model needs residuals from the first hour with a template on.
        self.first_ = int(np.argmax(has_template)) if has_template.any() else n
        fallback = float(np.mean(z))
        recent = np.arange(n) >= n - self.select_weeks * WEEK
        judged = ordinary & recent & ~np.isnan(past[:, depth - 1])
        if judged.sum() < DAY:
            judged = ordinary & has_template
        hour = groups % DAY
        candidates = []
        for k in self.weeks:
            profile = profile_of(past, k, self.statistic)
            profile = np.where(np.isnan(profile), fallback, profile)
            # Judged on ordinary hours, so special hours need no effects here (fitted once,
            # for the chosen k, below): they enter the level as no surprise.
            errors = np.zeros(0)
            if self.select != "mean":
                residual = np.where(ordinary, z - profile, 0.0)
                residual[: self.first_] = 0.0
                errors = self._level_errors(self._fit_level(residual), judged)
            candidates.append((k, profile, errors))
        self.k_, profile = self._choose_k(candidates)
        residual = z - profile
        self.effects_ = self._fit_effects(residual, classes, hour)
        adjusted = residual - self._effects(self.effects_, classes, hour)
        adjusted[: self.first_] = 0.0
        self.level_ = self._fit_level(adjusted)
        ks = self.k_ if isinstance(self.k_, tuple) else (self.k_,)
        latest_profile = np.mean([profile_of(latest, k, self.statistic) for k in ks], axis=0)
        self.group_profile_ = np.where(np.isnan(latest_profile), fallback, latest_profile)
        self.residual_ = adjusted

    def _choose_k(self, candidates):
        """The weeks the profile is built from: all of them averaged (`mean`), or one chosen
        by the in-window backtest (`best`; `1se`: the longest within one standard error
        of the best)."""
        if self.select == "mean":
            ks = tuple(k for k, _, _ in candidates)
            return ks, np.mean([p for _, p, _ in candidates], axis=0)
        means = [float(np.mean(e)) if len(e) else np.inf for _, _, e in candidates]
        best = int(np.argmin(means))
        if self.select == "best" or not np.isfinite(means[best]):
            return candidates[best][0], candidates[best][1]
        # One standard error rule: the longest k within one standard error (over days) of
        # the best, since a longer median is the more robust of two equally good ones.
        e = candidates[best][2]
        se = float(np.std(e, ddof=1) / np.sqrt(len(e))) if len(e) > 1 else 0.0
        for index in range(len(candidates) - 1, -1, -1):
            if means[index] <= means[best] + se:
                return candidates[index][0], candidates[index][1]
        return candidates[best][0], candidates[best][1]

    def _fit_effects(self, residual: np.ndarray, classes: np.ndarray, hour: np.ndarray) -> dict:
        """Per class: shrunk harmonic coefficients of its residuals by hour of day."""
        effects = {}
        usable = np.arange(len(residual)) >= self.first_
        H = daily_harmonics(hour)
        for j in range(classes.shape[1]):
            rows = classes[:, j] & usable
            if rows.sum() < MIN_EFFECT_HOURS:
                continue
            beta = np.linalg.lstsq(H[rows], residual[rows], rcond=None)[0]
            days = rows.sum() / DAY
            effects[j] = beta * days / (days + 1)
        return effects

    @staticmethod
    def _effects(effects: dict, classes: np.ndarray, hour: np.ndarray) -> np.ndarray:
        out = np.zeros(len(classes))
        if effects:
            H = daily_harmonics(hour)
            for j, beta in effects.items():
                rows = classes[:, j]
                out[rows] = H[rows] @ beta
        return out

    def _fit_level(self, adjusted: np.ndarray):
        return fit_direct_level(adjusted, self.horizon, self.first_)

    def _level_errors(self, level, judged: np.ndarray) -> np.ndarray:
        """Daily mean absolute errors of profile + level over the judged hours (all leads,
        by the day of the target hour)."""
        if level is None:
            return np.zeros(0)
        _, errors, origins = level
        targets = origins[:, None] + np.arange(1, errors.shape[1] + 1)[None, :]
        mask = judged[targets]
        if not mask.any():
            return np.zeros(0)
        day = targets[mask] // DAY
        sums = np.bincount(day, np.abs(errors[mask]))
        counts = np.bincount(day)
        return sums[counts > 0] / counts[counts > 0]

    def _predict_level(self, h: int) -> tuple[np.ndarray, np.ndarray]:
        residual = self.residual_
        if self.level_ is None:
            return np.zeros(h), np.full(h, float(np.std(residual[self.first_ :])))
        beta, errors, _ = self.level_
        features = level_features(residual, np.array([len(residual) - 1]))
        mean = (features @ beta)[0]
        sd = np.sqrt(np.mean(errors**2, axis=0))
        if h > len(mean):  # past the fitted leads: the last lead's level and spread
            mean = np.r_[mean, np.full(h - len(mean), mean[-1])]
            sd = np.r_[sd, np.full(h - len(sd), sd[-1])]
        return mean[:h], sd[:h]

    def _predict_z(self, index, X):
        h = len(index)
        groups = self._groups(index, X)
        classes = special_classes(X, h)
        effect = self._effects(self.effects_, classes, groups % DAY)
        level, sd = self._predict_level(h)
        return self.group_profile_[groups] + effect + level, sd


class SeasonalProfileAR(SeasonalProfile):
    """The same profile and calendar effects, the recent level by AR errors (statsmodels
    AutoReg at lags 1, 2, 24); `k` chosen by the profile's own error."""

    name = "profile_ar"
    version = 1

    def __init__(
        self,
        weeks: Sequence[int] = (2, 3, 4, 6, 8),
        statistic: str = "median",
        select_weeks: int = 4,
        ar_lags: Sequence[int] = (1, 2, 24),
        transform: str = "auto",
        select: str = "mean",
    ) -> None:
        super().__init__(weeks, statistic, select_weeks, transform=transform, select=select)
        self.ar_lags = tuple(ar_lags)

    def _fit_level(self, adjusted: np.ndarray):
        return adjusted  # the AR model is fitted once, for the chosen k

    def _level_errors(self, level, judged: np.ndarray) -> np.ndarray:
        # The profile's own error: refitting the AR for every k costs more than it tells.
        if not judged.any():
            return np.zeros(0)
        day = np.flatnonzero(judged) // DAY
        sums = np.bincount(day, np.abs(level[judged]))
        counts = np.bincount(day)
        return sums[counts > 0] / counts[counts > 0]

    def _fit(self, y, X):
        super()._fit(y, X)
        self.ar_ = fit_ar_errors(self.residual_[self.first_ :], self.ar_lags)

    def _predict_level(self, h):
        return ar_forecast(self.residual_[self.first_ :], self.ar_, h)
