"""One event-window target-utilisation step for a target: decide, act (or not), remember,
record — the utilisation counterpart of `capacity.floor`'s raise and restore.

The decisions are `capacity.utilisation`'s (the replay calls the same ones); this module
reads the target and perf.capacity_utilisation, writes through the actuator and records
every step in perf.actions (`audit.record_step`, kinds `utilisation_lower` /
`utilisation_restore`).

A target whose autoscaler has no target utilisation to act on (an HPA without a `Resource`
Utilization metric named `utilisation_metric`) is not left unprotected: with `ops.floor`
auto, its lowering raises its floor instead (`capacity.floor.raise_floor`) and its restore
restores the floor — decided at step time, from what the target reads.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta

import psycopg

from wedperf.audit import record_step
from wedperf.calendar.model import Wedding
from wedperf.calendar.sync import weddings_in_day_windows
from wedperf.capacity.actuators import Actuator, ActuatorError, UtilisationChanged
from wedperf.capacity.floor import FloorOutcome, raise_floor, restore_floor
from wedperf.capacity.plan import serves
from wedperf.capacity.state import (
    forget_lowering,
    remember_lower,
    remember_utilisation_restore,
    utilisation_state,
)
from wedperf.capacity.utilisation import (
    ceremonies_in_progress,
    decide_lower,
    decide_utilisation_restore,
    live_weddings,
)
from wedperf.config import CapacityTarget, Settings

LOWER, RESTORE = "utilisation_lower", "utilisation_restore"


def lower_utilisation(
    conn: psycopg.Connection,
    actuator: Actuator | None,
    target: CapacityTarget,
    weddings: Sequence[Wedding],
    *,
    plan_id: str,
    settings: Settings,
) -> FloorOutcome:
    """Lower `target`'s autoscaler target utilisation to the event value for these
    weddings' windows (never raise it, never over someone else's change since wedperf's
    last lowering). `actuator` None: forecast-only, record the plan.

    The intent (baseline and the value about to be set) is committed before the write, so a
    worker dying after it, or a write whose answer is lost, still leaves the restore owed; a
    write that never took effect is harmless (the restore finds the baseline in force and
    forgets it). A concurrent change (`UtilisationChanged`) is never written over: to the
    value this step meant to set, it was this step's own write; to another value, it is
    someone else's — skipped, the baseline forgotten. Commits the connection's transaction."""
    event = settings.ops.event_utilisation.utilisation
    ids = [w.wedding_id for w in weddings]
    why = f"event window of {len(ids)} wedding(s)"
    if actuator is None:
        return _recorded(conn, plan_id, LOWER, target, None, event, f"{why}; forecast-only",
                         ids, "planned", dry_run=True)  # fmt: skip
    dry_run = settings.ops.mode != "act"
    state = utilisation_state(conn, target.name)
    current = actuator.read_utilisation()
    if current is None and settings.ops.floor == "auto":
        _without_lever(conn, plan_id, LOWER, target, state, ids, dry_run,
                       f"{why}; the target has no target utilisation to lower: its floor "
                       f"is raised instead (ops.floor auto)")  # fmt: skip
        return raise_floor(conn, actuator, target, weddings, plan_id=plan_id, settings=settings)
    decision = decide_lower(
        event=event, current=current, baseline=state.baseline, set_by_wedperf=state.utilisation
    )
    reason = f"{why}; {decision.reason}"
    if decision.new is None:
        if decision.forget_baseline and not dry_run:
            forget_lowering(conn, target.name, current=current)
        return _recorded(conn, plan_id, LOWER, target, current, current, reason, ids,
                         "skipped", dry_run=dry_run)  # fmt: skip
    if not dry_run:
        remember_lower(conn, target.name, before=current, after=decision.new)
        conn.commit()  # durable before the write: a restore is owed whatever happens next
    try:
        actuator.set_utilisation(
            decision.new, expected=current, reason=f"{plan_id}: {reason}", dry_run=dry_run
        )
    except UtilisationChanged as exc:
        if exc.current == decision.new and not dry_run:
            # Our own write, its answer lost (a retried PATCH's `test` then fails): done.
            reason += f" (already applied: {exc})"
        else:
            if not dry_run:
                forget_lowering(conn, target.name, current=exc.current)
            return _recorded(conn, plan_id, LOWER, target, exc.current, exc.current,
                             f"{why}; {exc}", ids, "skipped", dry_run=dry_run)  # fmt: skip
    except ActuatorError as exc:
        # The intent stays: whether the write took effect, the restore reads and decides.
        _recorded(conn, plan_id, LOWER, target, current, decision.new, f"{reason}; failed: {exc}",
                  ids, "failed", dry_run=dry_run)  # fmt: skip
        conn.commit()  # the trace survives the caller's rollback
        raise
    return _recorded(conn, plan_id, LOWER, target, current, decision.new, reason, ids,
                     "dry-run" if dry_run else "done", dry_run=dry_run)  # fmt: skip


def restore_utilisation(
    conn: psycopg.Connection,
    actuator: Actuator | None,
    target: CapacityTarget,
    weddings: Sequence[Wedding],
    *,
    plan_id: str,
    settings: Settings,
    now: datetime,
) -> FloorOutcome:
    """Put back the target utilisation the target had before wedperf lowered it — unless a
    wedding on it is live (or opens within the lead), a ceremony is in progress, the
    cooldown has not passed, or someone else changed the value since. A wedding is live
    from `lead` before its ceremony to its day window's end, or entering that within the
    next slot (its own lowering is due: no restore to lower again)."""
    ids = [w.wedding_id for w in weddings]
    state = utilisation_state(conn, target.name)
    if actuator is None:
        return _recorded(conn, plan_id, RESTORE, target, state.utilisation, state.baseline,
                         "forecast-only: restore planned", ids, "planned",
                         dry_run=True)  # fmt: skip
    dry_run = settings.ops.mode != "act"
    lead, after = settings.ops.event_utilisation.lead, settings.day_window_after
    until = now + settings.ops.slot
    # Weddings whose day window overlaps [now - lead, until + lead) include every one whose
    # utilisation window may overlap [now, until); live_weddings filters.
    nearby = [
        w
        for w in weddings_in_day_windows(conn, now - lead, until + lead, settings)
        if serves(target, w)
    ]
    current = actuator.read_utilisation()
    if current is None and settings.ops.floor == "auto":
        _without_lever(conn, plan_id, RESTORE, target, state, ids, dry_run,
                       "the target has no target utilisation: its floor is restored instead "
                       "(ops.floor auto)")  # fmt: skip
        return restore_floor(conn, actuator, target, weddings, plan_id=plan_id,
                             settings=settings, now=now)  # fmt: skip
    decision = decide_utilisation_restore(
        baseline=state.baseline,
        current=current,
        set_by_wedperf=state.utilisation,
        live=live_weddings(nearby, now, until, lead=lead, after=after),
        in_ceremony=ceremonies_in_progress(nearby, now, settings.forecast.ceremony_length),
        last_change=state.changed_at,
        now=now,
        cooldown=settings.ops.cooldown,
    )
    why = f"day window of {len(ids)} wedding(s) closed; "
    if decision.new is None:
        if decision.forget_baseline and not dry_run:
            forget_lowering(conn, target.name, current=current)
        outcome = _recorded(conn, plan_id, RESTORE, target, current, current,
                            why + decision.reason, ids, "skipped", dry_run=dry_run)  # fmt: skip
        if decision.reason.startswith("cooldown") and state.changed_at is not None:
            retry_at = state.changed_at + settings.ops.cooldown + timedelta(seconds=5)
            return replace(outcome, retry_at=retry_at)
        return outcome
    try:
        actuator.set_utilisation(
            decision.new, expected=current, reason=f"{plan_id}: {decision.reason}", dry_run=dry_run
        )
    except UtilisationChanged as exc:
        # Changed between the read and the write: someone else's value now (or, at the
        # baseline, this write's own, its answer lost); leave it, no restore owed.
        if not dry_run:
            forget_lowering(conn, target.name, current=exc.current)
        done = exc.current == decision.new and not dry_run
        return _recorded(conn, plan_id, RESTORE, target, current if done else exc.current,
                         exc.current, f"{why}{exc}", ids, "done" if done else "skipped",
                         dry_run=dry_run)  # fmt: skip
    if not dry_run:
        remember_utilisation_restore(conn, target.name, after=decision.new)
    return _recorded(conn, plan_id, RESTORE, target, current, decision.new,
                     why + decision.reason, ids, "dry-run" if dry_run else "done",
                     dry_run=dry_run)  # fmt: skip


def _without_lever(conn, plan_id, kind, target, state, ids, dry_run, reason) -> None:
    """A target without a target utilisation (its HPA scales on Pods, Object or External
    metrics, an AverageValue or a ContainerResource): no lowering can be in force, and the
    step says it hands over to the floor."""
    if state.baseline is not None and not dry_run:
        forget_lowering(conn, target.name, current=None)
    _recorded(conn, plan_id, kind, target, None, None, reason, ids, "skipped", dry_run=dry_run)


def _recorded(conn, plan_id, kind, target, before, after, reason, ids, outcome, *, dry_run):
    """The step in perf.actions (values in %), and as the outcome the flow reports."""
    record_step(conn, plan_id, kind, target.name, outcome=outcome, reason=reason,
                dry_run=dry_run, before=before, after=after, wedding_ids=ids)  # fmt: skip
    return FloorOutcome(kind, target.name, outcome, before, after, reason)
