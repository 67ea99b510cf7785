"""What one fit-forecasts round works on: each configured series' history, the calendar
features of the whole window, and the options every series is fitted with."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import pandas as pd
import psycopg

from wedperf.forecast.events import Event, phase_weights, read_events_csv
from wedperf.forecast.features import calendar_features
from wedperf.forecast.pipeline import MIN_HOURS, SeriesForecast, fit_series
from wedperf.forecast.requests import load_request_series, peak_to_mean
from wedperf.forecast.settings import ForecastSettings, SeriesSpec
from wedperf.forecast.sources import load_series, load_wedding_phases
from wedperf.metrics.model import SourceError
from wedperf.metrics.settings import PrometheusSettings
from wedperf.metrics.sources.prometheus import PrometheusSource

log = logging.getLogger(__name__)
HOUR = pd.Timedelta(hours=1)
# Weddings a week past the horizon still set `hours_to_next_ceremony` inside it.
CALENDAR_LOOKAHEAD = pd.Timedelta(days=7)


@dataclass(frozen=True)
class FitOptions:
    """How every series of a round is fitted (from ForecastSettings)."""

    models: tuple[str, ...]
    horizon: int
    step: int
    origins: int
    warmup: int
    train_hours: int
    combine: tuple[int, ...] = (2, 3)

    @classmethod
    def from_settings(cls, settings: ForecastSettings) -> FitOptions:
        return cls(
            models=tuple(settings.models),
            horizon=settings.horizon_hours,
            step=settings.backtest_step_hours,
            origins=settings.selection_origins,
            warmup=settings.calibration_origins,
            train_hours=int(settings.history / HOUR),
            combine=tuple(settings.combine_top),
        )

    @property
    def read_hours(self) -> int:
        """Hours of history a fit reads: every backtest origin (the oldest `origins + warmup
        - 1` steps before the newest, which leaves `horizon` hours) gets a full
        `train_hours` window, so the choice made in production is the one the CLI backtest
        scores at the same origin."""
        return self.train_hours + (self.origins + self.warmup - 1) * self.step + self.horizon

    def fit(self, name: str, y: pd.Series, features: pd.DataFrame) -> SeriesForecast:
        """Backtest, choose online (singles and combinations), refit and calibrate one
        series with these options: the one production fit."""
        return fit_series(
            name,
            y,
            features.loc[features.index >= y.index[0]],
            models=self.models,
            horizon=self.horizon,
            step=self.step,
            origins=self.origins,
            warmup=self.warmup,
            train_hours=self.train_hours,
            combine=self.combine,
        )


@dataclass
class ForecastInputs:
    origin: pd.Timestamp  # first forecast hour
    series: dict[str, pd.Series] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    peak_to_mean: dict[str, float] = field(default_factory=dict)  # request-rate series
    features: pd.DataFrame | None = None


def round_origin(end: datetime) -> pd.Timestamp:
    """The first forecast hour: `end` floored to the hour, in UTC (the hour in progress
    is incomplete, so it is forecast, not trained on)."""
    stamp = pd.Timestamp(end)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return stamp.floor("h").as_unit("ns")


def load_inputs(
    app_conn: psycopg.Connection,
    perf_conn: psycopg.Connection,
    settings: ForecastSettings,
    specs: Sequence[SeriesSpec],
    *,
    end: datetime,
    source_schema: str,
    prometheus: PrometheusSettings | None = None,
) -> ForecastInputs:
    """Read every series in `specs` for the window a fit needs before `end`
    (`FitOptions.read_hours`: the training window plus the backtest's origins; a series that
    cannot be read or is too short is skipped with the reason), the wedding calendar and the
    configured event CSV, and build the calendar features from the window's first hour to
    the end of the horizon. Reads the app database (views) and perf (samples, weddings)."""
    origin = round_origin(end)
    start = origin - FitOptions.from_settings(settings).read_hours * HOUR
    inputs = ForecastInputs(origin=origin)
    for spec in specs:
        if spec.source == "prometheus":
            if prometheus is None or not prometheus.url:
                inputs.skipped[spec.name] = "prometheus.url is not set"
                continue
            try:
                y, peaks = load_request_series(
                    PrometheusSource(prometheus), spec.query, start=start.to_pydatetime(),
                    end=origin.to_pydatetime(), name=spec.name,
                )  # fmt: skip
            except SourceError as exc:
                inputs.skipped[spec.name] = f"cannot read: {exc}"
                continue
            ratio = peak_to_mean(peaks, y)
            if ratio is not None:
                inputs.peak_to_mean[spec.name] = ratio
        else:
            conn = app_conn if spec.source == "app_view" else perf_conn
            try:
                y = load_series(
                    conn, spec, start=start.to_pydatetime(), end=origin.to_pydatetime(),
                    source_schema=source_schema,
                )  # fmt: skip
            except psycopg.Error as exc:
                conn.rollback()
                inputs.skipped[spec.name] = f"cannot read: {str(exc).strip().splitlines()[0]}"
                continue
        if len(y) == 0:
            inputs.skipped[spec.name] = f"no data since {start:%Y-%m-%d %H:%M} UTC"
            continue
        if len(y) < MIN_HOURS:
            inputs.skipped[spec.name] = f"{len(y)} h of history, need at least {MIN_HOURS} h"
            continue
        inputs.series[spec.name] = y
    horizon_end = origin + settings.horizon_hours * HOUR
    phases = load_wedding_phases(
        perf_conn,
        start=start.to_pydatetime(),
        end=(horizon_end + CALENDAR_LOOKAHEAD).to_pydatetime(),
        settings=settings,
    )
    events: list[Event] = read_events_csv(settings.events_csv) if settings.events_csv else []
    index = pd.date_range(start, horizon_end - HOUR, freq="h")
    inputs.features = round_features(index, settings, events=events, wedding_phases=phases)
    return inputs


def round_features(
    index: pd.DatetimeIndex,
    settings: ForecastSettings,
    *,
    events: Sequence[Event],
    wedding_phases: dict[str, list[Event]],
) -> pd.DataFrame:
    """The calendar features a round fits on, from the forecast settings (the replay builds
    its features here too)."""
    return calendar_features(
        index,
        events=events,
        wedding_phases=wedding_phases,
        phase_weights=phase_weights(settings.phase_weights),
        tz=settings.timezone,
        holiday_country=settings.holiday_country,
        holiday_subdivision=settings.holiday_subdivision,
        holidays_as_sunday=settings.holidays_as_sunday,
    )
