"""The capacity floor: how many replicas a wedding slot needs, and whether to change now.

replicas needed = ceil(load upper bound / per-replica capacity x (1 + headroom)), clamped to
[min, max]. The load upper bound comes from the stored forecast's upper quantile for the
slot when there is one, otherwise from the calendar: the peak over the slot's span of the
load of the weddings in their day window, each wedding's active guests (the calendar
sync's known-ahead estimate) x requests per active guest per second, or, without an
estimate, its invited guests x requests per invited guest per second. It is a
predictive floor only: the reactive autoscaler still scales above it, a raise never lowers
anything, and a restore waits while a wedding on the target is live and for the cooldown.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from wedperf.calendar.model import Wedding


def replicas_needed(
    load_upper_rps: float, *, per_replica_rps: float, headroom: float, minimum: int, maximum: int
) -> int:
    """Replicas to serve `load_upper_rps` within the latency SLO, with headroom, clamped."""
    if per_replica_rps <= 0:
        raise ValueError("per_replica_rps must be positive")
    if not math.isfinite(load_upper_rps) or load_upper_rps < 0:
        raise ValueError(
            f"load upper bound must be a finite non-negative number, got {load_upper_rps}"
        )
    raw = math.ceil(load_upper_rps * (1 + headroom) / per_replica_rps)
    return max(minimum, min(maximum, raw))


@dataclass(frozen=True)
class CalendarPeak:
    """The calendar's peak load over overlapping day windows, and the guests behind it."""

    rps: float
    active_guests: int  # at the peak, of weddings with an active-guest estimate
    invited_guests: int  # at the peak, of weddings without one

    @property
    def basis(self) -> str:
        """What the load was sized on, e.g. "calendar: 212 active guests"."""
        parts = [f"{self.active_guests} active"] if self.active_guests else []
        if self.invited_guests or not parts:
            parts.append(f"{self.invited_guests} invited")
        return f"calendar: {' + '.join(parts)} guests"


def calendar_peak(
    weddings: Iterable[Wedding],
    *,
    before: timedelta,
    after: timedelta,
    requests_per_guest_per_s: float,
    requests_per_active_guest_per_s: float,
) -> CalendarPeak:
    """Peak concurrent load of overlapping day windows: a sweep over window edges. A wedding
    with an active-guest estimate loads `requests_per_active_guest_per_s` per active guest,
    one without `requests_per_guest_per_s` per invited guest."""
    edges: list[tuple[datetime, int, int]] = []  # (instant, active delta, invited delta)
    for wedding in weddings:
        if wedding.status == "cancelled":
            continue
        opens, closes = wedding.day_window(before, after)
        if wedding.active_guests is not None:
            edges += [(opens, wedding.active_guests, 0), (closes, -wedding.active_guests, 0)]
        else:
            edges += [(opens, 0, wedding.guest_count), (closes, 0, -wedding.guest_count)]

    def load(active: int, invited: int) -> float:
        return active * requests_per_active_guest_per_s + invited * requests_per_guest_per_s

    peak = CalendarPeak(0.0, 0, 0)
    active = invited = 0
    # Closes before opens at a tie: a window that ends as another opens does not overlap it.
    for _, d_active, d_invited in sorted(edges, key=lambda e: (e[0], e[1] + e[2])):
        active, invited = active + d_active, invited + d_invited
        if load(active, invited) > peak.rps:
            peak = CalendarPeak(load(active, invited), active, invited)
    return peak


def calendar_peak_rps(
    weddings: Iterable[Wedding],
    *,
    before: timedelta,
    after: timedelta,
    requests_per_guest_per_s: float,
    requests_per_active_guest_per_s: float,
) -> float:
    """calendar_peak's load alone, in requests/s."""
    return calendar_peak(
        weddings,
        before=before,
        after=after,
        requests_per_guest_per_s=requests_per_guest_per_s,
        requests_per_active_guest_per_s=requests_per_active_guest_per_s,
    ).rps


@dataclass(frozen=True)
class FloorDecision:
    new_floor: int | None  # None: leave the target alone
    reason: str


def decide_raise(*, needed: int, current_floor: int | None, maximum: int) -> FloorDecision:
    """A raise never lowers the floor and never exceeds the maximum."""
    target = min(maximum, needed if current_floor is None else max(needed, current_floor))
    if current_floor is not None and target <= current_floor:
        return FloorDecision(None, f"floor {current_floor} already covers the {needed} needed")
    return FloorDecision(target, f"raise floor to {target} for {needed} needed")


def decide_restore(
    *,
    baseline: int | None,
    current_floor: int | None,
    live_weddings: list[str],
    last_change: datetime | None,
    now: datetime,
    cooldown: timedelta,
) -> FloorDecision:
    """Back to the floor the target had before wedperf raised it — unless a wedding on the
    target is live, or the last change is too recent."""
    if baseline is None:
        return FloorDecision(None, "no raise in force")
    if live_weddings:
        shown = ", ".join(live_weddings[:5])
        return FloorDecision(None, f"wedding(s) {shown} live on the target: not lowering now")
    if last_change is not None and now - last_change < cooldown:
        return FloorDecision(None, f"cooldown: last change {now - last_change} ago")
    if current_floor is not None and current_floor == baseline:
        return FloorDecision(None, f"already at baseline {baseline}")
    return FloorDecision(baseline, f"restore floor to baseline {baseline}")
