"""The runs the calendar wants (`PlannedRun`), and when dense ones happen: the union of
wedding day windows, on a fixed grid.

Dense collection (every minute) and the critical-path watch (every few minutes) follow the
calendar: each calendar sync materialises one scheduled run per grid instant inside any
wedding's day window within the planning horizon. Overlapping weddings share instants, so
2,000 weddings on a Saturday still mean one collection run per minute, not 2,000.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta


@dataclass(frozen=True)
class PlannedRun:
    """One scheduled flow run the calendar wants, on `deployment` at `scheduled_time`.

    Created once: the server returns the existing run for a repeated idempotency key, and
    cancelled when a re-plan no longer wants it. Every planner (the wedding-ops plan in
    `wedperf.capacity.plan`, the grid runs below) makes these, and the reconciler reads them
    as they are. `wedding_ids`, `target` and `plan_id` are set on runs acting for weddings.
    """

    deployment: str
    operation: str  # prewarm | floor-raise | floor-restore | collect-live | watch
    scheduled_time: datetime
    name: str
    idempotency_key: str
    tags: tuple[str, ...] = ()
    wedding_ids: tuple[str, ...] = ()
    target: str | None = None
    plan_id: str = ""
    parameters: dict = field(default_factory=dict, compare=False, hash=False)


def grid_runs(
    deployment: str, times: Sequence[datetime], *, prefix: str, tag: str
) -> list[PlannedRun]:
    """One run per grid instant (dense collection, critical-path watch)."""
    return [
        PlannedRun(
            deployment=deployment,
            operation=prefix,
            scheduled_time=t,
            name=f"{prefix}-{t.astimezone(UTC):%Y%m%d-%H%MZ}",
            idempotency_key=f"{deployment}@{t.astimezone(UTC).isoformat()}",
            tags=("wedperf", tag),
        )
        for t in times
    ]


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
