"""One capacity-floor step for a target: decide, act (or not), remember, record."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import psycopg

from wedperf.actions.actuators import Actuator
from wedperf.actions.audit import (
    ActionRecord,
    record_action,
    remember_raise,
    remember_restore,
    target_state,
)
from wedperf.calendar.model import Wedding
from wedperf.calendar.sync import weddings_in_window
from wedperf.capacity.plan import serves
from wedperf.capacity.policy import (
    FloorDecision,
    calendar_peak_rps,
    decide_raise,
    decide_restore,
    replicas_needed,
)
from wedperf.config import CapacityTarget, Settings


@dataclass(frozen=True)
class FloorOutcome:
    action: str
    target: str
    outcome: str  # done | dry-run | planned | skipped
    before: int | None
    after: int | None
    reason: str
    retry_at: datetime | None = None  # a restore held back by the cooldown: try again then


def raise_floor(
    conn: psycopg.Connection,
    actuator: Actuator | None,
    target: CapacityTarget,
    weddings: Sequence[Wedding],
    *,
    plan_id: str,
    settings: Settings,
) -> FloorOutcome:
    """Raise `target`'s floor for the peak load of the weddings it serves that overlap these
    weddings' day windows. `actuator` None means forecast-only: record the plan, touch nothing."""
    before, after = settings.day_window_before, settings.day_window_after
    spans = [w.day_window(before, after) for w in weddings]
    overlapping = [
        w
        for w in weddings_in_window(
            conn, min(s for s, _ in spans), max(e for _, e in spans), before=before, after=after
        )
        if serves(target, w)
    ]
    start, end = min(s for s, _ in spans), max(e for _, e in spans)
    load, basis = forecast_peak_rps(conn, target, start, end, settings.ops.quantile), "forecast"
    if load is None:
        basis = "calendar"
        load = calendar_peak_rps(
            overlapping,
            before=before,
            after=after,
            requests_per_guest_per_s=settings.ops.requests_per_guest_per_s,
        )
    needed = replicas_needed(
        load,
        per_replica_rps=target.per_replica_rps,
        headroom=settings.ops.headroom,
        minimum=target.min_replicas,
        maximum=target.max_replicas,
    )
    why = (
        f"{len(overlapping)} overlapping wedding(s), peak {load:.1f} req/s ({basis}), "
        f"{needed} replica(s) needed"
    )
    ids = [w.wedding_id for w in weddings]
    if actuator is None:
        return _record(
            conn, plan_id, "capacity_raise", target, None, needed, why, ids, "planned", dry_run=True
        )
    reading = actuator.read()
    maximum = min(target.max_replicas, reading.maximum or target.max_replicas)
    current = reading.floor if reading.floor is not None else target_state(conn, target.name).floor
    decision = decide_raise(needed=needed, current_floor=current, maximum=maximum)
    return _act(
        conn, actuator, plan_id, "capacity_raise", target, current, decision, why, ids, settings
    )


def forecast_peak_rps(
    conn: psycopg.Connection, target: CapacityTarget, start: datetime, end: datetime, quantile: int
) -> float | None:
    """The peak of the stored forecast's upper bound over [start, end), in requests/s, when
    the target names a series and a fit covers every hour of the span; else None."""
    if not target.forecast_series:
        return None
    from wedperf.forecast.store import latest_forecast

    hours = latest_forecast(conn, target.forecast_series, start, end)
    needed = int((end - start).total_seconds() // 3600)
    if hours.empty or len(hours) < needed:
        return None
    return float(hours[f"hi-{quantile}"].max()) / 3600.0  # hourly counts -> per second


def restore_floor(
    conn: psycopg.Connection,
    actuator: Actuator | None,
    target: CapacityTarget,
    weddings: Sequence[Wedding],
    *,
    plan_id: str,
    settings: Settings,
    now: datetime,
) -> FloorOutcome:
    """Restore the pre-raise floor unless a wedding on the target is live (or about to be,
    within the floor buffer) or the cooldown since the last change has not passed."""
    ids = [w.wedding_id for w in weddings]
    state = target_state(conn, target.name)
    if actuator is None:
        return _record(
            conn,
            plan_id,
            "capacity_restore",
            target,
            state.floor,
            state.baseline,
            "forecast-only: restore planned",
            ids,
            "planned",
            dry_run=True,
        )
    live = [
        w.wedding_id
        for w in weddings_in_window(
            conn,
            now,
            now + settings.ops.floor_buffer,
            before=settings.day_window_before,
            after=settings.day_window_after,
        )
        if serves(target, w)
    ]
    reading = actuator.read()
    current = reading.floor if reading.floor is not None else state.floor
    decision = decide_restore(
        baseline=state.baseline,
        current_floor=current,
        live_weddings=live,
        last_change=state.changed_at,
        now=now,
        cooldown=settings.ops.cooldown,
    )
    outcome = _act(
        conn,
        actuator,
        plan_id,
        "capacity_restore",
        target,
        current,
        decision,
        f"day window of {len(ids)} wedding(s) closed",
        ids,
        settings,
    )
    if decision.reason.startswith("cooldown") and state.changed_at is not None:
        # Held back only by time: the caller schedules another attempt once it has passed.
        retry_at = state.changed_at + settings.ops.cooldown + timedelta(seconds=5)
        return replace(outcome, retry_at=retry_at)
    return outcome


def _act(
    conn: psycopg.Connection,
    actuator: Actuator,
    plan_id: str,
    kind: str,
    target: CapacityTarget,
    current: int | None,
    decision: FloorDecision,
    why: str,
    ids: list[str],
    settings: Settings,
) -> FloorOutcome:
    if decision.new_floor is None:
        return _record(
            conn,
            plan_id,
            kind,
            target,
            current,
            current,
            f"{why}; {decision.reason}",
            ids,
            "skipped",
            dry_run=settings.ops.mode != "act",
        )
    dry_run = settings.ops.mode != "act"
    actuator.set_floor(decision.new_floor, reason=f"{plan_id}: {decision.reason}", dry_run=dry_run)
    if not dry_run:
        if kind == "capacity_raise":
            remember_raise(conn, target.name, before=current, after=decision.new_floor)
        else:
            remember_restore(conn, target.name, after=decision.new_floor)
    return _record(
        conn,
        plan_id,
        kind,
        target,
        current,
        decision.new_floor,
        f"{why}; {decision.reason}",
        ids,
        "dry-run" if dry_run else "done",
        dry_run=dry_run,
    )


def _record(conn, plan_id, kind, target, before, after, reason, ids, outcome, *, dry_run):
    record_action(
        conn,
        ActionRecord(
            plan_id=plan_id,
            kind=kind,
            target=target.name,
            reason=reason,
            dry_run=dry_run,
            outcome=outcome,
            before=None if before is None else str(before),
            after=None if after is None else str(after),
            wedding_ids=ids,
        ),
    )
    return FloorOutcome(kind, target.name, outcome, before, after, reason)
