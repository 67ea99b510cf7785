"""Forecasting settings (a section of wedperf.config.Settings: WEDPERF_FORECAST__*)."""

from __future__ import annotations

from pydantic import BaseModel


class ForecastSettings(BaseModel):
    """Which series to forecast and how."""
