"""When calendar-driven runs happen: the union of wedding day windows, on a fixed grid.

Dense collection (every minute) and the critical-path watch (every few minutes) follow the
calendar: each calendar sync materialises one scheduled run per grid instant inside any
wedding's day window within the planning horizon. Overlapping weddings share instants, so
2,000 weddings on a Saturday still mean one collection run per minute, not 2,000.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta


def merge_windows(windows: Iterable[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    """Union of [start, end) spans as sorted, non-overlapping spans."""
    merged: list[tuple[datetime, datetime]] = []
    for start, end in sorted(windows):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def window_grid_times(
    windows: Iterable[tuple[datetime, datetime]],
    *,
    now: datetime,
    horizon: timedelta,
    interval: timedelta,
) -> list[datetime]:
    """Grid instants (multiples of `interval` since the epoch) inside any window, in
    (now, now + horizon]. A run at instant t collects the minutes just before t, so the
    last instant of a window is its end."""
    step = int(interval.total_seconds())
    if step <= 0:
        raise ValueError("interval must be positive")
    limit = now + horizon
    times: list[datetime] = []
    for start, end in merge_windows(windows):
        lo, hi = max(start, now), min(end, limit)
        if lo >= hi:
            continue
        first = -(-int(lo.timestamp()) // step) * step  # ceil to the grid
        t = first
        while t <= hi.timestamp():
            instant = datetime.fromtimestamp(t, UTC)
            if instant > now:
                times.append(instant)
            t += step
    return sorted(set(times))
