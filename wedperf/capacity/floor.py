"""One capacity-floor step for a target: decide, act (or not), remember, record.

A raise remembers its baseline before it writes (committed), a restore after it writes, so
whatever fails in between a raised floor is always owed a restore (`state.raised_targets`);
a raise commits the connection's transaction."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import pandas as pd
import psycopg

from wedperf.audit import record_step
from wedperf.calendar.model import Wedding
from wedperf.calendar.sync import weddings_in_day_windows
from wedperf.capacity.actuators import Actuator
from wedperf.capacity.plan import floor_hold, floor_hold_reach, holding_floor, serves
from wedperf.capacity.policy import (
    FloorDecision,
    calendar_peak,
    decide_raise,
    decide_restore,
    replicas_needed,
)
from wedperf.capacity.state import remember_raise, remember_restore, target_state
from wedperf.config import CapacityTarget, Settings

# Steps that raise a floor (the plan's, and the watch round's nowcast): their intent is
# remembered before the write, so a restore is owed whatever happens next.
NOWCAST_RAISE = "nowcast_raise"
RAISE_KINDS = frozenset({"capacity_raise", NOWCAST_RAISE})


@dataclass(frozen=True)
class FloorOutcome:
    action: str
    target: str
    outcome: str  # done | dry-run | planned | skipped
    before: int | None
    after: int | None
    reason: str
    retry_at: datetime | None = None  # a restore held back only by time: try again then


def counted(n: int, noun: str) -> str:
    """A count with its noun, plural in -s: 1 replica, 6 replicas."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def id_list(ids: Sequence[str]) -> str:
    """Ids in plain English: 599; 599 and 531; 599, 531 and 498."""
    shown = [str(i) for i in ids]
    return shown[0] if len(shown) == 1 else f"{', '.join(shown[:-1])} and {shown[-1]}"


def weddings_named(ids: Sequence[str]) -> str:
    """The weddings by id: wedding 599; weddings 599 and 531."""
    return f"{'wedding' if len(ids) == 1 else 'weddings'} {id_list(ids)}"


def restore_why(weddings: Sequence[Wedding], now: datetime, settings: Settings) -> str:
    """What a restore at `now` is for, as it is: which of its slot's weddings' day windows
    have closed and which are still open (and until when)."""
    if not weddings:
        return "restore owed by an earlier raise"
    closes = {
        w.wedding_id: w.day_window(settings.day_window_before, settings.day_window_after)[1]
        for w in weddings
    }
    closed = [i for i, end in closes.items() if end <= now]
    still_open = [i for i in closes if i not in closed]
    parts = []
    if closed:
        windows = "day window" if len(closed) == 1 else "day windows"
        parts.append(f"{windows} of {weddings_named(closed)} closed")
    if still_open:
        until = max(closes[i] for i in still_open).astimezone(UTC)
        windows = "day window" if len(still_open) == 1 else "day windows"
        last = "" if len(still_open) == 1 else "the last "
        of = f"{windows} of " if not closed else "that of " if len(still_open) == 1 else "those of "
        parts.append(
            f"{of}{weddings_named(still_open)} still open ({last}until {until:%Y-%m-%d %H:%M} UTC)"
        )
    return ", ".join(parts)


# A held-back restore's retry runs this long after the hold (cooldown or wedding) ends.
RETRY_SLACK = timedelta(seconds=5)


def held_retry_at(
    candidates: Sequence[Wedding], live: Sequence[str], target: CapacityTarget, settings: Settings
) -> datetime:
    """When a restore held by the weddings `live` (`plan.holding_floor` over `candidates`)
    tries again: the first of their holds to end, plus the slack."""
    held = set(live)
    holds = [floor_hold(w, target, settings) for w in candidates if w.wedding_id in held]
    return min(until for _, until in holds) + RETRY_SLACK


def step_instant(wall: datetime, slot: str | None) -> datetime:
    """The instant a planned step decides on: its scheduled slot time when the wall clock
    reads earlier (Prefect may start a scheduled run early, worker clocks skew), so that a
    restore scheduled at its own wedding's hold end is not held by that wedding."""
    if slot is None:
        return wall
    return max(wall, datetime.fromisoformat(slot))


@dataclass(frozen=True)
class FloorSizing:
    """How many replicas a slot of weddings needs on a target, and from what."""

    needed: int
    load_rps: float
    basis: str  # forecast | calendar: the guests it was sized on (CalendarPeak.basis)
    overlapping: int  # weddings on the target whose day windows overlap the slot's span

    @property
    def why(self) -> str:
        return (
            f"{counted(self.overlapping, 'overlapping wedding')}, peak {self.load_rps:.1f} "
            f"req/s ({self.basis}), {counted(self.needed, 'replica')} needed"
        )


def slot_span(weddings: Sequence[Wedding], settings: Settings) -> tuple[datetime, datetime]:
    """From the first of these weddings' day windows opening to the last one closing."""
    spans = [w.day_window(settings.day_window_before, settings.day_window_after) for w in weddings]
    return min(s for s, _ in spans), max(e for _, e in spans)


def _overlaps(wedding: Wedding, start: datetime, end: datetime, settings: Settings) -> bool:
    opens, closes = wedding.day_window(settings.day_window_before, settings.day_window_after)
    return wedding.status != "cancelled" and opens < end and closes > start


def size_floor(
    target: CapacityTarget,
    weddings: Sequence[Wedding],
    candidates: Sequence[Wedding],
    forecast: pd.DataFrame | None,
    settings: Settings,
) -> FloorSizing:
    """The floor a raise sets for `weddings` (one planned slot) — pure, so the production
    step and the replay size it alike. `candidates`: weddings that may overlap the slot's
    span (any superset; filtered here); `forecast`: the newest stored fit of the target's
    series for the span (None or partial: sized on the calendar instead)."""
    start, end = slot_span(weddings, settings)
    overlapping = [
        w for w in candidates if serves(target, w) and _overlaps(w, start, end, settings)
    ]
    if not target.forecast_series:
        forecast = None  # a target without a series is sized on the calendar
    load = forecast_peak_rps(forecast, start, end, settings.ops.quantile)
    basis = "forecast"
    if load is None:
        peak = calendar_peak(
            overlapping,
            before=settings.day_window_before,
            after=settings.day_window_after,
            requests_per_guest_per_s=settings.ops.requests_per_guest_per_s,
            requests_per_active_guest_per_s=settings.ops.requests_per_active_guest_per_s,
        )
        load, basis = peak.rps, peak.basis
    needed = replicas_needed(
        load,
        per_replica_rps=target.per_replica_rps,
        headroom=settings.ops.headroom,
        minimum=target.min_replicas,
        maximum=target.max_replicas,
    )
    return FloorSizing(needed, load, basis, len(overlapping))


def forecast_peak_rps(
    forecast: pd.DataFrame | None, start: datetime, end: datetime, quantile: int
) -> float | None:
    """The peak of the forecast's upper bound over the hours in [start, end), in
    requests/s at the busiest minute: hourly request counts / 3600, times the series'
    learned within-hour peak-to-mean ratio when the fit carries one (request-rate series).
    None unless the forecast covers every hour of the span."""
    if forecast is None or forecast.empty:
        return None
    index = pd.DatetimeIndex(forecast.index)
    hours = forecast[(index >= pd.Timestamp(start)) & (index < pd.Timestamp(end))]
    if len(hours) < int((end - start).total_seconds() // 3600):
        return None
    ratio = 1.0
    if "peak_to_mean" in hours.columns and pd.notna(hours["peak_to_mean"].iloc[0]):
        ratio = float(hours["peak_to_mean"].iloc[0])
    return float(hours[f"hi-{quantile}"].max()) / 3600.0 * ratio


def floor_in_force(reading, remembered: int | None) -> int | None:
    """The target's floor now: what its actuator reads, or (an actuator that cannot read
    its floor) the one wedperf last set."""
    return reading.floor if reading.floor is not None else remembered


def raise_in_force(state, *, by: str | None = None) -> int | None:
    """The floor of the raise wedperf holds in force on a target (its perf.capacity_state:
    a baseline is kept while a restore is owed), or None when none is; `by`: only a raise
    made by that kind of step (`raised_by`)."""
    if state.baseline is None or state.floor is None:
        return None
    if by is not None and state.raised_by != by:
        return None
    return state.floor


def floor_changed_by_someone_else(
    current: int | None, baseline: int | None, set_by_wedperf: int | None
) -> bool:
    """Whether a target's floor is someone else's now: a raise of wedperf's is in force
    (`baseline` kept) but the floor reads neither the value wedperf set last nor the baseline
    (at the baseline, wedperf's write never took effect). Their value is then theirs: no
    raise of wedperf's is "restored" over it, and no restore to the old baseline is owed."""
    return (
        baseline is not None
        and current is not None
        and set_by_wedperf is not None
        and current not in (set_by_wedperf, baseline)
    )


def ceiling(target: CapacityTarget, reading) -> int:
    """The most replicas a raise may ask of `target`: its setting, or less if the actuator
    reports a lower maximum."""
    return min(target.max_replicas, reading.maximum or target.max_replicas)


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
    start, end = slot_span(weddings, settings)
    candidates = weddings_in_day_windows(conn, start, end, settings)
    forecast = None
    if target.forecast_series:
        from wedperf.forecast.store import latest_forecast

        forecast = latest_forecast(conn, target.forecast_series, start, end)
    sizing = size_floor(target, weddings, candidates, forecast, settings)
    needed, why = sizing.needed, sizing.why
    ids = [w.wedding_id for w in weddings]
    if actuator is None:
        return record_floor_step(
            conn, plan_id, "capacity_raise", target, None, needed, why, ids, "planned", dry_run=True
        )
    reading = actuator.read()
    maximum = ceiling(target, reading)
    current = floor_in_force(reading, target_state(conn, target.name).floor)
    decision = decide_raise(needed=needed, current_floor=current, maximum=maximum)
    return apply_floor_decision(
        conn, actuator, plan_id, "capacity_raise", target, current, decision, why, ids, settings
    )


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
    """Restore the pre-raise floor unless a wedding on the target holds it (`plan.holding_floor`:
    live, or its raise time has passed and its restore has not come — not only this slot's
    weddings: another slot's raise may have been skipped because this floor covered it) or
    the cooldown since the last change has not passed."""
    ids = [w.wedding_id for w in weddings]
    state = target_state(conn, target.name)
    if actuator is None:
        return record_floor_step(
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
    behind, ahead = floor_hold_reach(settings)
    candidates = weddings_in_day_windows(conn, now - behind, now + ahead, settings)
    live = holding_floor(candidates, target, now, settings)
    current = floor_in_force(actuator.read(), state.floor)
    decision = decide_restore(
        baseline=state.baseline,
        current_floor=current,
        live_weddings=live,
        last_change=state.changed_at,
        now=now,
        cooldown=settings.ops.cooldown,
    )
    if (
        decision.reason.startswith("already at baseline")
        and current is not None
        and settings.ops.mode == "act"
    ):
        remember_restore(conn, target.name, after=current)  # no raise in force: none owed
    outcome = apply_floor_decision(
        conn,
        actuator,
        plan_id,
        "capacity_restore",
        target,
        current,
        decision,
        restore_why(weddings, now, settings),
        ids,
        settings,
    )
    if decision.new_floor is None and live and state.baseline is not None:
        # Held by weddings: another attempt once the first hold ends (the plan adds an owed
        # restore only when no other floor restore is planned, which may be a week away).
        return replace(outcome, retry_at=held_retry_at(candidates, live, target, settings))
    if decision.reason.startswith("cooldown") and state.changed_at is not None:
        # Held back only by time: the caller schedules another attempt once it has passed.
        retry_at = state.changed_at + settings.ops.cooldown + RETRY_SLACK
        return replace(outcome, retry_at=retry_at)
    return outcome


def apply_floor_decision(
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
    *,
    at: datetime | None = None,
) -> FloorOutcome:
    """Carry out a floor decision through `actuator` (dry-run: validated, not written) and
    record it; a raise (`RAISE_KINDS`) remembers its intent first, a restore after. `at`:
    the instant the step decided on, remembered as the change's time so that the next
    cooldown is measured on the same clock (the nowcast's round instant); None: the
    database's now() (the planned steps, which decide on the wall clock)."""
    if decision.new_floor is None:
        return record_floor_step(
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
    if kind in RAISE_KINDS and not dry_run:
        # The raise's intent, committed before the write: a worker dying at the write (or a
        # write whose answer is lost) still leaves the restore owed; a write that never
        # took effect is harmless (the restore finds the baseline in force and forgets it).
        # The nowcast never takes over a floor another raise put in force: its restore
        # would undo theirs.
        remember_raise(conn, target.name, before=current, after=decision.new_floor, by=kind,
                       at=at, keep_raiser=kind == NOWCAST_RAISE)  # fmt: skip
        conn.commit()
    actuator.set_floor(decision.new_floor, reason=f"{plan_id}: {decision.reason}", dry_run=dry_run)
    if kind not in RAISE_KINDS and not dry_run:
        remember_restore(conn, target.name, after=decision.new_floor, at=at)
    return record_floor_step(
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


def record_floor_step(conn, plan_id, kind, target, before, after, reason, ids, outcome, *, dry_run):
    """The step in perf.actions, and as the outcome the flow reports."""
    record_step(
        conn,
        plan_id,
        kind,
        target.name,
        outcome=outcome,
        reason=reason,
        dry_run=dry_run,
        before=before,
        after=after,
        wedding_ids=ids,
    )
    return FloorOutcome(kind, target.name, outcome, before, after, reason)
