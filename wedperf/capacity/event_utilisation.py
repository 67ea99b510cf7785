"""One event-window target-utilisation step for a target: decide, act (or not), remember,
record — the utilisation counterpart of `capacity.floor`'s raise and restore.

The decisions are `capacity.utilisation`'s (the replay calls the same ones); this module
reads the target and perf.capacity_utilisation, writes through the actuator and records
every step in perf.actions (`audit.record_step`, kinds `utilisation_lower` /
`utilisation_restore`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta

import psycopg

from wedperf.audit import record_step
from wedperf.calendar.model import Wedding
from wedperf.calendar.sync import weddings_in_day_windows
from wedperf.capacity.actuators import Actuator, UtilisationChanged
from wedperf.capacity.floor import FloorOutcome
from wedperf.capacity.plan import serves
from wedperf.capacity.state import (
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
ATTEMPTS = 3  # a lowering that meets a concurrent change reads and decides again


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
    weddings' windows (never raise it). `actuator` None: forecast-only, record the plan."""
    event = settings.ops.event_utilisation.utilisation
    ids = [w.wedding_id for w in weddings]
    why = f"event window of {len(ids)} wedding(s)"
    if actuator is None:
        return _recorded(conn, plan_id, LOWER, target, None, event, f"{why}; forecast-only",
                         ids, "planned", dry_run=True)  # fmt: skip
    dry_run = settings.ops.mode != "act"
    for attempt in range(ATTEMPTS):
        current = actuator.read_utilisation()
        decision = decide_lower(event=event, current=current)
        reason = f"{why}; {decision.reason}"
        if decision.new is None:
            return _recorded(conn, plan_id, LOWER, target, current, current, reason, ids,
                             "skipped", dry_run=dry_run)  # fmt: skip
        try:
            actuator.set_utilisation(
                decision.new, expected=current, reason=f"{plan_id}: {reason}", dry_run=dry_run
            )
        except UtilisationChanged:
            if attempt + 1 == ATTEMPTS:
                raise
            continue
        if not dry_run:
            remember_lower(conn, target.name, before=current, after=decision.new)
        return _recorded(conn, plan_id, LOWER, target, current, decision.new, reason, ids,
                         "dry-run" if dry_run else "done", dry_run=dry_run)  # fmt: skip
    raise AssertionError("unreachable")


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
        if decision.forget_baseline and not dry_run and current is not None:
            remember_utilisation_restore(conn, target.name, after=current)
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
        # Changed between the read and the write: someone else's value now; leave it.
        if not dry_run and exc.current is not None:
            remember_utilisation_restore(conn, target.name, after=exc.current)
        return _recorded(conn, plan_id, RESTORE, target, exc.current, exc.current,
                         f"{why}{exc}", ids, "skipped", dry_run=dry_run)  # fmt: skip
    if not dry_run:
        remember_utilisation_restore(conn, target.name, after=decision.new)
    return _recorded(conn, plan_id, RESTORE, target, current, decision.new,
                     why + decision.reason, ids, "dry-run" if dry_run else "done",
                     dry_run=dry_run)  # fmt: skip


def _recorded(conn, plan_id, kind, target, before, after, reason, ids, outcome, *, dry_run):
    """The step in perf.actions (values in %), and as the outcome the flow reports."""
    record_step(conn, plan_id, kind, target.name, outcome=outcome, reason=reason,
                dry_run=dry_run, before=before, after=after, wedding_ids=ids)  # fmt: skip
    return FloorOutcome(kind, target.name, outcome, before, after, reason)
