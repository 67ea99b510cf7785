"""The forecaster interface (statsforecast/sktime style) and what every model shares.

`__init__` stores hyperparameters only; `fit(y, X=None)` learns attributes ending in `_` and
returns the forecaster; `predict(h, X=None, level=(80, 95))` returns a frame indexed by the
`h` hours after the training data with columns `mean, lo-80, hi-80, lo-95, hi-95`.
`y` is a float series on a regular hourly UTC index without gaps (wedperf.forecast.series
makes one); `X` holds calendar features (wedperf.forecast.features) for the training hours
and, at predict time, for the forecast hours.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import ClassVar, Self

import numpy as np
import pandas as pd
from scipy.stats import norm

HOUR = pd.Timedelta(hours=1)
COLUMNS = ("mean", "lo-80", "hi-80", "lo-95", "hi-95")


class Forecaster(ABC):
    """One forecasting model. Subclasses set `name`, `version` and implement `_fit`,
    `_predict_z` (mean and standard deviation on the model's scale) and `min_history`."""

    name: ClassVar[str]
    version: ClassVar[int]

    @property
    @abstractmethod
    def min_history(self) -> int:
        """Hourly points `fit` needs at least."""

    def fit(self, y: pd.Series, X: pd.DataFrame | None = None) -> Self:
        check_series(y, self.min_history)
        X_train = None if X is None else rows_for(X, y.index, "fit")
        values = y.to_numpy(dtype=float)
        self.nonnegative_ = bool(values.min() >= 0)
        self.train_start_ = y.index[0]
        self.train_end_ = y.index[-1]
        self._fit(y, X_train)
        return self

    def predict(
        self, h: int, X: pd.DataFrame | None = None, level: Sequence[int] = (80, 95)
    ) -> pd.DataFrame:
        if not hasattr(self, "train_end_"):
            raise ValueError(f"{self.name}: call fit before predict")
        if h < 1:
            raise ValueError(f"horizon must be at least 1 hour, got {h}")
        levels = sorted({int(v) for v in level})
        if not levels or any(not 0 < v < 100 for v in levels):
            raise ValueError(f"levels must be between 0 and 100 exclusive, got {list(level)}")
        index = pd.date_range(self.train_end_ + HOUR, periods=h, freq="h")
        X_future = None if X is None else rows_for(X, index, "predict")
        mean, sd = self._predict_z(index, X_future)
        return self._frame(index, mean, sd, levels)

    @abstractmethod
    def _fit(self, y: pd.Series, X: pd.DataFrame | None) -> None: ...

    @abstractmethod
    def _predict_z(
        self, index: pd.DatetimeIndex, X: pd.DataFrame | None
    ) -> tuple[np.ndarray, np.ndarray]: ...

    def _inverse(self, z: np.ndarray) -> np.ndarray:
        """From the model's scale back to the series' (identity unless overridden)."""
        return z

    def _frame(
        self, index: pd.DatetimeIndex, mean: np.ndarray, sd: np.ndarray, levels: list[int]
    ) -> pd.DataFrame:
        sd = np.maximum(sd, 0.0)  # NaN stays NaN: a broken fit must show, not look certain
        names, columns = ["mean"], [self._inverse(mean)]
        # A degenerate fit may overflow here; the caller checks for non-finite numbers.
        with np.errstate(over="ignore", invalid="ignore"):
            for value in levels:
                z = float(norm.ppf(0.5 + value / 200))
                names += [f"lo-{value}", f"hi-{value}"]
                columns += [self._inverse(mean - z * sd), self._inverse(mean + z * sd)]
        values = np.column_stack(columns)
        if self.nonnegative_:
            values = np.maximum(values, 0.0)  # numpy, not DataFrame.clip: 50x faster here
        return pd.DataFrame(values, index=index, columns=names)

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.endswith("_"))
        return f"{type(self).__name__}({params})"


def check_series(y: pd.Series, need: int) -> None:
    """ValueError unless `y` is a finite float series on a regular hourly UTC index with at
    least `need` points."""
    if not isinstance(y, pd.Series) or not isinstance(y.index, pd.DatetimeIndex):
        raise ValueError("y must be a pandas Series with a DatetimeIndex")
    if y.index.tz is None:
        raise ValueError("y's index must be timezone-aware (UTC)")
    if len(y) < need:
        raise ValueError(f"need at least {need} hourly points, got {len(y)}")
    steps = np.diff(y.index.as_unit("ns").asi8)
    if len(steps) and not np.all(steps == HOUR.value):
        raise ValueError("y must be regular hourly without gaps or duplicates (prepare it first)")
    if not np.all(np.isfinite(y.to_numpy(dtype=float))):
        raise ValueError("y contains NaN or infinite values (prepare it first)")


def rows_for(X: pd.DataFrame, index: pd.DatetimeIndex, what: str) -> pd.DataFrame:
    """The rows of X for `index`; ValueError naming the hours X does not cover."""
    rows = _regular_slice(X, index)
    if rows is None:
        positions = X.index.get_indexer(index)
        if (positions < 0).any():
            missing = index[positions < 0]
            raise ValueError(
                f"X must have a row for every hour to {what}: {len(missing)} missing "
                f"({missing[0]} .. {missing[-1]})"
            )
        rows = X.iloc[positions]
    numbers = rows.to_numpy(dtype=float)
    if not np.all(np.isfinite(numbers)):
        raise ValueError(f"X has NaN or infinite values in the hours to {what}")
    return rows


def _regular_slice(X: pd.DataFrame, index: pd.DatetimeIndex) -> pd.DataFrame | None:
    """X's rows for `index` by position when both are hourly and X holds the span in one
    piece (a backtest asks this thousands of times); None otherwise."""
    if not len(index) or not len(X) or X.index.tz is None:
        return None
    start = (index[0] - X.index[0]) / HOUR
    if start != int(start) or start < 0 or int(start) + len(index) > len(X):
        return None
    rows = X.iloc[int(start) : int(start) + len(index)]
    if rows.index[0] != index[0] or rows.index[-1] != index[-1] or len(rows) != len(index):
        return None
    return rows
