"""Critical-path settings (a section of wedperf.config.Settings: WEDPERF_CRITICAL_PATH__*)."""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, Field


class SloOverride(BaseModel):
    """Replacement thresholds for one check (either or both)."""

    warn: float | None = None
    breach: float | None = None


class CriticalPathSettings(BaseModel):
    """Wedding-day watch: cadence, models, and SLO overrides.

    SLO thresholds resolve as: the check's built-in default (wedperf.critical_path.slo), then
    `slo[check]`, then `tiers[<tier>][check]`, then `weddings[<wedding_id>][check]`. A wedding's
    tier comes from its guest count (`tier_bounds`: the first tier whose upper bound exceeds
    the count).
    """

    interval: timedelta = Field(
        default=timedelta(minutes=5), description="evaluation cadence inside day windows"
    )
    latency_lookback: timedelta = Field(
        default=timedelta(minutes=15), description="operation p95 over this much recent history"
    )
    ack_deadline: timedelta = Field(
        default=timedelta(minutes=20),
        description="a vendor notification unacknowledged this long after sending is overdue",
    )
    ceremony_grace: timedelta = Field(
        default=timedelta(minutes=10), description="when 'missing at ceremony' is measured"
    )
    expected_checkin_share: float = Field(
        default=0.9, description="share of invited guests expected to check in"
    )
    # Arrival curve: triangular over minutes relative to the ceremony (docs/sandbox.md:
    # "guest check-ins cluster in the hour before the ceremony").
    arrival_minutes: tuple[float, float, float] = (-60.0, -15.0, 5.0)
    tier_bounds: dict[str, int] = Field(
        default_factory=lambda: {"intimate": 50, "standard": 200, "grand": 1_000_000}
    )
    slo: dict[str, SloOverride] = Field(default_factory=dict)
    tiers: dict[str, dict[str, SloOverride]] = Field(default_factory=dict)
    weddings: dict[str, dict[str, SloOverride]] = Field(default_factory=dict)
    batch_size: int = Field(default=250, description="weddings evaluated per task")
    shard_size: int = Field(
        default=1000,
        ge=1,
        description="weddings per shard: a round runs one flow run of shard_deployment per "
        "this many live weddings (each shard evaluates its weddings in batches of batch_size). "
        "1,000 keeps a shard near a minute on one core, so a flow run's process start-up "
        "(a few seconds) stays small beside it",
    )
    shard_deployment: str = Field(
        default="watch-wedding-shard/watch-wedding-shard",
        description="deployment a round's shards run on; unregistered, or its work pool with "
        "no worker online, the shards run in the round's own process",
    )
    artifact_refresh: timedelta = Field(
        default=timedelta(minutes=30),
        description="a wedding's artifacts are republished when a check's status changes, "
        "and otherwise at most this often (0: every round)",
    )
