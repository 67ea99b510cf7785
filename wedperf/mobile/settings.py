"""Real-user-monitoring settings (a section of wedperf.config.Settings: WEDPERF_RUM__*)."""

from __future__ import annotations

from pydantic import BaseModel


class RumSettings(BaseModel):
    """How the webhook service accepts RUM beacons from the mobile apps."""
