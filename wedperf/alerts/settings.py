"""Webhook receiver settings (a section of wedperf.config.Settings: WEDPERF_WEBHOOK__*)."""

from __future__ import annotations

from pydantic import BaseModel


class WebhookSettings(BaseModel):
    """How the alert webhook receiver authenticates, limits and dispatches."""
