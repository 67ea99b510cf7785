"""From the calendar to the runs that act ahead of each wedding (pure).

For every upcoming wedding the plan has three operations, relative to its day window
(W = ceremony - day_window_before .. end of reception + day_window_after):

- pre-warm at W.start - prewarm_lead,
- raise each capacity target's floor at W.start - floor_buffer (pod start time plus margin),
- restore each target's floor at W.end + restore_delay (floors: `ops.floor`, by default on
  targets without the event-window utilisation);
- on targets with an autoscaler target utilisation (`capacity.utilisation`), lower it at
  the ceremony - event_utilisation.lead and restore it at W.end + restore_delay (the same
  capacity-floor flow, actions `utilisation-lower` / `utilisation-restore`).

Runs are grouped by (operation, target, time slot): weddings whose operation falls in the
same slot share one run, which carries their ids. Pre-warm and raise times are floored to the
slot (never late); restores are rounded up (never early). A peak Saturday of 2,000 weddings
is therefore a few dozen runs per target, not 8,000. A run's idempotency key includes a
digest of its weddings, so a moved or cancelled wedding changes the key: the old run is
cancelled and a new one created, while an unchanged plan re-creates nothing.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from wedperf.calendar.model import Wedding
from wedperf.calendar.schedule import PlannedRun
from wedperf.capacity.utilisation import acts_on_utilisation, raises_floor
from wedperf.config import CapacityTarget, Settings

PLAN_TAG = "wedding-ops"


def _wedding_run(
    deployment: str,
    operation: str,
    at: datetime,
    wedding_ids: tuple[str, ...],
    target: str | None,
) -> PlannedRun:
    digest = hashlib.sha1(",".join(wedding_ids).encode()).hexdigest()[:10]
    where = f":{target}" if target else ""
    plan_id = f"{operation}{where}@{at:%Y%m%dT%H%MZ}#{digest}"
    count = len(wedding_ids)
    name = (
        f"{operation}{f'-{target}' if target else ''}-{at:%Y%m%d-%H%MZ}-"
        f"{count}-wedding{'s' if count != 1 else ''}"
    )
    parameters: dict = {"wedding_ids": list(wedding_ids), "slot": at.isoformat()}
    if target is not None:
        parameters |= {"target": target, "action": operation.removeprefix("floor-")}
    parameters["plan_id"] = plan_id
    return PlannedRun(
        deployment=deployment,
        operation=operation,
        scheduled_time=at,
        name=name,
        # The server returns the existing run for a repeated (flow, key) - per flow, not per
        # deployment (Prefect REST API, Create Flow Run:
        # https://docs.prefect.io/v3/api-ref/rest-api/server/flow-runs/create-flow-run) - so
        # the key names the deployment.
        idempotency_key=f"{deployment}|{plan_id}",
        tags=("wedperf", PLAN_TAG, operation, *([target] if target else [])),
        wedding_ids=wedding_ids,
        target=target,
        plan_id=plan_id,
        parameters=parameters,
    )


def _floor(instant: datetime, slot: timedelta) -> datetime:
    step = int(slot.total_seconds())
    return datetime.fromtimestamp(int(instant.timestamp()) // step * step, UTC)


def _ceil(instant: datetime, slot: timedelta) -> datetime:
    step = int(slot.total_seconds())
    return datetime.fromtimestamp(-(-int(instant.timestamp()) // step) * step, UTC)


def serves(target: CapacityTarget, wedding: Wedding) -> bool:
    return not target.serves or any(wedding.timezone.startswith(p) for p in target.serves)


def floor_hold(
    wedding: Wedding, target: CapacityTarget, settings: Settings
) -> tuple[datetime, datetime]:
    """[from, until) during which the plan's runs count on `target`'s floor staying raised
    for `wedding`: from the earliest run that may raise it — its floor-raise at
    floor(W.start - floor_buffer, slot), and on a target with the event-window utilisation
    its utilisation-lower at floor(ceremony - lead, slot) (which raises the floor of an HPA
    without a Utilization metric) — to its restore at ceil(W.end + restore_delay, slot).
    The same times `plan_wedding_ops` schedules (a run moved to the next minute because
    its time had passed only starts later, inside this span)."""
    ops = settings.ops
    opens, closes = wedding.day_window(settings.day_window_before, settings.day_window_after)
    start = _floor(opens - ops.floor_buffer, ops.slot)
    if acts_on_utilisation(target.kind, ops.event_utilisation.enabled):
        start = min(start, _floor(wedding.starts_at - ops.event_utilisation.lead, ops.slot))
    return start, _ceil(closes + ops.restore_delay, ops.slot)


def floor_hold_reach(settings: Settings) -> tuple[timedelta, timedelta]:
    """(behind, ahead): every wedding whose `floor_hold` contains an instant t has its day
    window overlapping [t - behind, t + ahead) — the span to read candidates over."""
    ops = settings.ops
    lead_past_window = max(ops.event_utilisation.lead - settings.day_window_before, timedelta(0))
    ahead = max(ops.floor_buffer, lead_past_window) + ops.slot + timedelta(seconds=1)
    return ops.restore_delay + ops.slot, ahead


def holding_floor(
    candidates: Iterable[Wedding], target: CapacityTarget, now: datetime, settings: Settings
) -> list[str]:
    """The weddings on `target` whose `floor_hold` contains `now`: live, or their raise
    time has passed (a raise planned, done or skipped because the floor already covered
    it) and their own restore has not come. A restore of the floor waits while there is
    one — whichever slot's run or step it is (the plan's restore, the nowcast's)."""
    held = []
    for w in candidates:
        if w.status == "cancelled" or not serves(target, w):
            continue
        start, until = floor_hold(w, target, settings)
        if start <= now < until:
            held.append(w.wedding_id)
    return held


def plan_wedding_ops(
    weddings: Iterable[Wedding],
    *,
    now: datetime,
    settings: Settings,
    raised_targets: Iterable[str] = (),
    lowered_targets: Iterable[str] = (),
) -> list[PlannedRun]:
    """The runs for `weddings` (cancelled ones are skipped) from `now` on; a wedding whose
    window has closed keeps only its restores, until their time.

    An operation whose time has passed while it still matters (a wedding added at the last
    minute) is scheduled as soon as possible: the next minute. `raised_targets` are targets
    whose floor wedperf raised and has not restored: if no planned wedding of theirs remains
    (its wedding was cancelled after the raise), a restore is planned for the next slot, so a
    raised floor is never orphaned; `lowered_targets` (a lowered target utilisation not yet
    restored) get a utilisation restore in the next slot whenever no planned window covers
    it (a missed restore does not wait for the next wedding).
    """
    ops = settings.ops
    asap = _ceil(now + timedelta(seconds=1), timedelta(minutes=1))
    groups: dict[tuple[str, str, str | None, datetime], list[str]] = defaultdict(list)
    # Per target: from each planned lowering to its restore (a window wedperf covers).
    lowered_spans: dict[str, list[tuple[datetime, datetime]]] = defaultdict(list)
    for wedding in weddings:
        if wedding.status == "cancelled":
            continue
        opens, closes = wedding.day_window(settings.day_window_before, settings.day_window_after)
        restore_at = _ceil(closes + ops.restore_delay, ops.slot)
        # Kept until its restores have come, not only its window: a re-plan in between
        # re-creates the same restore runs (same keys) instead of cancelling them.
        if restore_at <= now:
            continue
        window_open = closes > now
        if wedding.starts_at > now:
            at = max(_floor(opens - ops.prewarm_lead, ops.slot), asap)
            groups[(ops.prewarm_deployment, "prewarm", None, at)].append(wedding.wedding_id)
        for target in ops.targets:
            if not serves(target, wedding):
                continue
            eu = ops.event_utilisation.enabled
            if raises_floor(target.kind, ops.floor, eu):
                if window_open:
                    raise_at = max(_floor(opens - ops.floor_buffer, ops.slot), asap)
                    key = (ops.floor_deployment, "floor-raise", target.name, raise_at)
                    groups[key].append(wedding.wedding_id)
                key = (ops.floor_deployment, "floor-restore", target.name, restore_at)
                groups[key].append(wedding.wedding_id)
            if acts_on_utilisation(target.kind, eu):
                lower_at = max(
                    _floor(wedding.starts_at - ops.event_utilisation.lead, ops.slot), asap
                )
                if window_open:
                    key = (ops.floor_deployment, "utilisation-lower", target.name, lower_at)
                    groups[key].append(wedding.wedding_id)
                key = (ops.floor_deployment, "utilisation-restore", target.name, restore_at)
                groups[key].append(wedding.wedding_id)
                lowered_spans[target.name].append((lower_at, restore_at))

    # Owed restores. The next slot [at, at + slot) is covered on a target when a planned
    # lowering falls before its end and that lowering's restore at or after its start.
    at = _ceil(asap, ops.slot)
    covered = {
        name
        for name, spans in lowered_spans.items()
        if any(lo < at + ops.slot and hi >= at for lo, hi in spans)
    }
    # A lowered target utilisation: restored as soon as possible unless a window covers the
    # next slot — a missed restore does not wait for the next wedding's (the decision still
    # refuses while a wedding is live).
    for target_name in sorted(set(lowered_targets) - covered):
        groups.setdefault((ops.floor_deployment, "utilisation-restore", target_name, at), [])
    # A raised floor: as soon as possible when no floor restore is planned; on a target whose
    # floor its utilisation steps raise instead (no utilisation metric), when no window
    # covers the next slot (the utilisation restore puts that floor back).
    by_name = {t.name: t for t in ops.targets}
    floor_planned = {key[2] for key in groups if key[1] == "floor-restore"}
    for target_name in sorted(set(raised_targets) - floor_planned):
        target = by_name.get(target_name)
        via_utilisation = (
            target is not None
            and ops.floor == "auto"
            and acts_on_utilisation(target.kind, ops.event_utilisation.enabled)
        )
        if via_utilisation and target_name in covered:
            continue
        groups.setdefault((ops.floor_deployment, "floor-restore", target_name, at), [])

    runs = []
    for (deployment, operation, target, at), ids in sorted(
        groups.items(), key=lambda item: (item[0][3], item[0][1], item[0][2] or "")
    ):
        wedding_ids = tuple(sorted(set(ids)))
        runs.append(_wedding_run(deployment, operation, at, wedding_ids, target))
    return runs
