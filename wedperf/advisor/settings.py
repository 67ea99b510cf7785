"""Database advisor settings (a section of wedperf.config.Settings: WEDPERF_ADVISOR__*)."""

from __future__ import annotations

from pydantic import BaseModel


class AdvisorSettings(BaseModel):
    """How the wedding-day database advisor reads the app database."""
