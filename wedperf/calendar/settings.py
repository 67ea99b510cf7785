"""Settings of the calendar sync: the known-ahead estimate of a wedding's active guests."""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, Field


class ActiveGuestSettings(BaseModel):
    """How the calendar sync estimates, from the app's optional `guest_engagement` view, how
    many guests will use the app on the day (wedperf.calendar.active_guests)."""

    cutoff: timedelta = Field(
        default=timedelta(days=2),
        description="count app installs and guest-list opens from at least this long before "
        "the ceremony, and store the estimate once the ceremony is this close (before then "
        "the wedding is sized by its invited guests)",
    )
    active_per_engaged: float = Field(
        default=1.2,
        gt=0,
        description="active guests on the day per guest (not declined) who installed the app "
        "or opened the guest list before the cutoff: > 1 because some install only at "
        "check-in. A modelling assumption calibrated on the sandbox (docs/capacity.md, "
        "'Active guests'); calibrate on your own past weddings",
    )
    min_engaged_share: float = Field(
        default=0.1,
        ge=0,
        le=1,
        description="trust the estimate only when at least this share of the guests not "
        "declined installed the app or opened the guest list before the cutoff; below it the "
        "app's data is taken as missing and the wedding is sized by its invited guests. A "
        "modelling assumption: in the sandbox year 0.52 are engaged on average, 0.20 at the "
        "1st percentile, 0.115 at the least of 1964 weddings, so none falls back, while an "
        "app that lost the timestamps (none or a handful engaged) does (docs/capacity.md, "
        "'Active guests')",
    )
    signals_lookback: timedelta = Field(
        default=timedelta(days=1),
        description="read guest signals only for weddings whose ceremony is at most this long "
        "ago (and at most `cutoff` ahead: the estimates that can still change and still "
        "matter); older weddings keep the estimate stored. A sync as of a past calendar's "
        "end (the replay) sets it to cover the whole calendar",
    )
