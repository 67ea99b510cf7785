"""The capacity floor: how many replicas a wedding slot needs, and whether to change now.

replicas needed = ceil(load upper bound / per-replica capacity x (1 + headroom)), clamped to
[min, max]. The load upper bound comes from the stored forecast's upper quantile for the
slot when there is one, otherwise from the calendar: the peak over the slot's span of
(guests of the weddings in their day window) x requests per guest per second. It is a
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


def calendar_peak_rps(
    weddings: Iterable[Wedding],
    *,
    before: timedelta,
    after: timedelta,
    requests_per_guest_per_s: float,
) -> float:
    """Peak concurrent load of overlapping day windows: a sweep over window edges."""
    edges: list[tuple[datetime, int]] = []
    for wedding in weddings:
        if wedding.status == "cancelled":
            continue
        opens, closes = wedding.day_window(before, after)
        edges += [(opens, wedding.guest_count), (closes, -wedding.guest_count)]
    peak = active = 0
    for _, delta in sorted(edges, key=lambda e: (e[0], e[1])):  # closes before opens at a tie
        active += delta
        peak = max(peak, active)
    return peak * requests_per_guest_per_s


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
