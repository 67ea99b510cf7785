"""The known-ahead estimate of a wedding's active guests: those who will use the app on the
day, which is what loads the platform (invited guests overstate it by about half).

From the app-DB contract's optional `guest_engagement` view (one row per invited guest:
rsvp, app_installed_at, guest_list_opened_at) the calendar source counts, per wedding, the
guests who have not declined and, of those, the ones *engaged* ahead: who installed the app
or opened the guest list at least `cutoff` before the ceremony. The estimate is

    active guests = min(not declined, round(engaged x active_per_engaged))

stored once the ceremony is within `cutoff` (signals after the cutoff are not counted, so
from then on only RSVPs move it: a decline after the cutoff updates the estimate), NULL
before — and NULL for a source without the view. The counts it comes from are stored
with it, from the cutoff on, not before (they change with every install; the estimate
only once the wedding is within the cutoff). A NULL estimate means "size this wedding by its invited
guests". The ratio is a modelling assumption (docs/capacity.md, "Active guests").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from wedperf.calendar.settings import ActiveGuestSettings


@dataclass(frozen=True)
class GuestSignals:
    """Counts of one wedding's invited guests, as known `cutoff` before the ceremony."""

    not_declined: int
    engaged: int  # not declined, installed the app or opened the guest list
    opened_list: int  # not declined, opened the guest list


def within_cutoff(starts_at: datetime, now: datetime, settings: ActiveGuestSettings) -> bool:
    """Whether the ceremony is close enough (`cutoff`) for its estimate to be taken."""
    return now >= starts_at - settings.cutoff


def estimate_active_guests(
    signals: GuestSignals | None,
    *,
    starts_at: datetime,
    now: datetime,
    settings: ActiveGuestSettings,
) -> int | None:
    """Active guests expected on the day, or None while it cannot be known yet (or the
    source has no signals for the wedding)."""
    if signals is None or not within_cutoff(starts_at, now, settings):
        return None
    return min(signals.not_declined, round(signals.engaged * settings.active_per_engaged))
