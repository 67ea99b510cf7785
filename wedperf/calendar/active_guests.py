"""The known-ahead estimate of a wedding's active guests: those who will use the app on the
day, which is what loads the platform (invited guests overstate it by about half).

From the app-DB contract's optional `guest_engagement` view (one row per invited guest:
rsvp, app_installed_at, guest_list_opened_at) the calendar source counts, per wedding, the
guests who have not declined and, of those, the ones *engaged* ahead: who installed the app
or opened the guest list at least `cutoff` before the ceremony. The estimate is

    active guests = min(not declined, round(engaged x active_per_engaged))

trusted only when at least `min_engaged_share` of the guests not declined are engaged:
fewer means the app's data is missing (a view that lost its timestamps, an app that does
not record them for that wedding), not that nobody will use the app, and an estimate of 0
from missing data would size the wedding at nothing. Such a wedding, like one without
guest rows, is sized by its invited guests (estimate NULL) and counted by the sync.

The estimate is stored once the ceremony is within `cutoff` (signals after the cutoff are
not counted, so from then on only RSVPs move it: a decline after the cutoff updates the
estimate), NULL before — and NULL for a source without the view. The counts it comes
from are stored with it, from the cutoff on, not before (they change with every install;
the estimate only once the wedding is within the cutoff). A NULL estimate means "size
this wedding by its invited guests". The ratio and the minimum share are modelling
assumptions (docs/capacity.md, "Active guests").
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
    """Active guests expected on the day, or None: size the wedding by its invited guests
    (not known yet, no signals for the wedding, or too few engaged to trust them)."""
    if signals is None or not within_cutoff(starts_at, now, settings):
        return None
    if signals.not_declined == 0:
        return None  # every guest declined: nothing to take a share of
    if signals.engaged < settings.min_engaged_share * signals.not_declined:
        return None  # too few engaged: missing data, not an app nobody uses
    return min(signals.not_declined, round(signals.engaged * settings.active_per_engaged))
