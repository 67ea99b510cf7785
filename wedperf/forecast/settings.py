"""Forecasting settings (a section of wedperf.config.Settings: WEDPERF_FORECAST__*)."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field, field_validator, model_validator

MODEL_NAMES = ("snaive_cal", "snaive", "calendar_reg", "profile", "profile_ar", "mstl_reg")
# The candidates of a default fit, cheapest first. mstl_reg is available but not a default:
# it costs twice the other five together, and made online selection worse on PJM East
# (docs/forecasting.md).
DEFAULT_MODELS = ("snaive_cal", "snaive", "calendar_reg", "profile", "profile_ar")
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")
_SERIES_NAME = re.compile(r"^[a-z0-9][a-z0-9_.:-]*$")


class SeriesSpec(BaseModel):
    """One load series to forecast: hourly counts of rows of an app-DB contract view (by a
    timestamp column), of wedperf's own latency samples of one operation, or of requests
    from a Prometheus request-rate query (the one to size a capacity floor on: it also
    gives the within-hour peak)."""

    name: str = Field(description="series name, stored in perf.forecasts.series")
    source: Literal["app_view", "samples", "prometheus"]
    view: str | None = Field(default=None, description="app_view: view in the source schema")
    timestamp_column: str | None = Field(
        default=None, description="app_view: the timestamptz column that places a row in time"
    )
    operation: str | None = Field(default=None, description="samples: the operation counted")
    metric: str = Field(default="latency_s", description="samples: the metric counted")
    query: str | None = Field(
        default=None,
        description="prometheus: PromQL of the target's requests per second as one series, "
        "e.g. sum(rate(wedapp_requests_total[5m]))",
    )

    @field_validator("name")
    @classmethod
    def _series_name(cls, value: str) -> str:
        if not _SERIES_NAME.match(value):
            raise ValueError(f"series name {value!r} must match {_SERIES_NAME.pattern}")
        return value

    @field_validator("view", "timestamp_column")
    @classmethod
    def _identifier(cls, value: str | None) -> str | None:
        if value is not None and not _IDENTIFIER.match(value):
            raise ValueError(f"{value!r} must be a plain lower-case identifier")
        return value

    @model_validator(mode="after")
    def _complete(self) -> SeriesSpec:
        if self.source == "app_view" and not (self.view and self.timestamp_column):
            raise ValueError(f"series {self.name}: app_view needs view and timestamp_column")
        if self.source == "samples" and not self.operation:
            raise ValueError(f"series {self.name}: samples needs operation")
        if self.source == "prometheus" and not (self.query and self.query.strip()):
            raise ValueError(f"series {self.name}: prometheus needs query")
        return self


def _default_series() -> list[SeriesSpec]:
    # The sandbox seeds check-ins and vendor notifications for every wedding (a year of them
    # on a long seed); samples only exist once collection has run for a while, so their
    # series are skipped as too short until then.
    return [
        SeriesSpec(
            name="app.guest_checkins",
            source="app_view",
            view="guest_checkins",
            timestamp_column="checked_in_at",
        ),
        SeriesSpec(
            name="app.vendor_notifications",
            source="app_view",
            view="vendor_notifications",
            timestamp_column="sent_at",
        ),
        *(
            SeriesSpec(name=f"samples.{op}", source="samples", operation=op)
            for op in ("guest_list", "timeline_sync", "photo_upload", "vendor_notify")
        ),
    ]


class PhaseWeights(BaseModel):
    """How much a guest counts towards load in each phase of a wedding day.

    Phases (docs/sandbox.md, "The day itself"): preparation from 08:00 local on the day
    (vendor notifications peak in the morning), arrival in the hour before the ceremony
    (guest check-ins cluster there), the ceremony (phones away), the reception until the
    wedding ends (photo uploads burst after dinner). Modelling assumptions, not figures.
    """

    preparation: float = 0.1
    arrival: float = 1.0
    ceremony: float = 0.3
    reception: float = 0.6


class ForecastSettings(BaseModel):
    """Which series to forecast and how."""

    series: list[SeriesSpec] = Field(
        default_factory=_default_series, description="the configured series (JSON list)"
    )
    horizon_hours: int = Field(default=48, ge=1, le=24 * 14, description="forecast horizon")
    history: timedelta = Field(
        default=timedelta(weeks=12),
        description="training window of each fit (a round reads this plus the backtest's "
        "origins: selection_origins + calibration_origins - 1 steps and the horizon)",
    )
    backtest_step_hours: int = Field(default=24, ge=1, description="hours between origins")
    selection_origins: int = Field(
        default=14,
        ge=1,
        description="rolling origins of the selection backtest per series: the closed origins "
        "the online choice and the intervals are based on (two weeks of daily origins)",
    )
    combine_top: list[int] = Field(
        default_factory=lambda: [2, 3],
        description="combination candidates: the mean of the best K single models, per K",
    )
    calibration_origins: int = Field(
        default=0,
        ge=0,
        description="extra earlier origins that only calibrate intervals (cost: one fit each)",
    )
    models: list[str] = Field(
        default_factory=lambda: list(DEFAULT_MODELS),
        description="candidate models, cheapest first (ties go to the earlier one)",
    )
    timezone: str = Field(
        default="America/New_York",
        description="local clock of hour-of-week seasonality and holiday dates (the platform's "
        "main market: its users' days follow daylight-saving time, UTC does not)",
    )
    holiday_country: str | None = Field(
        default="US", description="public holidays (the `holidays` package); unset: none"
    )
    holiday_subdivision: str | None = Field(default=None, description="e.g. NY for New York")
    holidays_as_sunday: bool = Field(
        default=False, description="a public holiday follows the Sunday profile of its week"
    )
    events_csv: Path | None = Field(
        default=None, description="extra event calendar (name,start,end[,weight]) for all series"
    )
    phase_weights: PhaseWeights = Field(default_factory=PhaseWeights)
    arrival_before: timedelta = Field(
        default=timedelta(hours=1), description="arrival phase: this long before the ceremony"
    )
    ceremony_length: timedelta = Field(
        default=timedelta(minutes=45), description="ceremony phase (30-60 min, facts)"
    )
    task_runner: Literal["thread", "process"] = Field(
        default="thread",
        description="how fit-forecasts runs its per-series fits: threads (fits hold the GIL, "
        "so ~1 core, no start-up cost) or processes (all cores, ~20-30 s to start workers "
        "here: worth it from ~100 series on)",
    )
    workers: int | None = Field(default=None, ge=1, description="parallel fits; unset: CPUs")

    @field_validator("models")
    @classmethod
    def _known_models(cls, value: list[str]) -> list[str]:
        unknown = [m for m in value if m not in MODEL_NAMES]
        if unknown or not value:
            raise ValueError(f"unknown models {unknown}; choose from {', '.join(MODEL_NAMES)}")
        return value

    @field_validator("combine_top")
    @classmethod
    def _combinations(cls, value: list[int]) -> list[int]:
        if any(k < 2 for k in value):
            raise ValueError(f"combine_top: a combination needs at least 2 models, got {value}")
        return sorted(set(value))

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown timezone {value!r} (need an IANA name)") from None
        return value

    @model_validator(mode="after")
    def _unique_series(self) -> ForecastSettings:
        names = [s.name for s in self.series]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"series names must be unique: {duplicates}")
        return self
