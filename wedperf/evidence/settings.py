"""Evidence package settings (a section of wedperf.config.Settings: WEDPERF_EVIDENCE__*)."""

from __future__ import annotations

from pydantic import BaseModel


class EvidenceSettings(BaseModel):
    """Where and how evidence reports are built."""
