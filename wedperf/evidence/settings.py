"""Evidence package settings (a section of wedperf.config.Settings: WEDPERF_EVIDENCE__*)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field, field_validator


class EvidenceSettings(BaseModel):
    """Where and how evidence reports are built."""

    out_dir: Path | None = Field(
        default=None,
        description="where the build-evidence flow writes packages (one directory per day or "
        "wedding); unset: <data_dir>/evidence",
    )
    timezone: str | None = Field(
        default=None,
        description="the clock a report's day is read in (--date D is midnight to midnight "
        "there); unset: forecast.timezone, the platform's main market",
    )
    wedding_padding: timedelta = Field(
        default=timedelta(hours=1),
        description="a wedding's report spans its day window widened by this on both sides, "
        "so the pre-warm, floor raise and restore around it are in view",
    )
    max_wedding_figures: int = Field(
        default=12,
        ge=0,
        description="per-wedding critical-path timelines drawn in a day report (worst first); "
        "every wedding still gets a row in the summary table",
    )
    max_forecast_series: int = Field(
        default=8, ge=1, description="forecast series drawn (all are kept in the JSON)"
    )
    figure_dpi: int = Field(default=110, ge=50, le=300)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        if value is None:
            return value
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown timezone {value!r} (need an IANA name)") from None
        return value
