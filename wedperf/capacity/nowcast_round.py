"""The nowcast step of a watch round: read each live wedding's requests so far, raise the
floor of the targets serving a hot one, restore a nowcast raise once their windows close.

The decisions are `capacity.nowcast`'s (the replay calls the same ones); this module reads
Prometheus (`forecast.requests.wedding_requests`), the targets and perf.capacity_state, and
writes through the floor's own path (`capacity.floor.apply_floor_decision`: a raise's
intent — its baseline — committed before the write, `ops.mode` dry-run and forecast-only
honoured, every step a row in perf.actions, kinds `nowcast_raise` / `nowcast_restore`).

Each step's plan id is `nowcast:<target>@<round instant>` (to the microsecond): a retried or
repeated round finds its own done step and does nothing again. Every restore of a floor waits
while a wedding on the target holds it (`plan.holding_floor`); a raise in force is restored
by the target's planned floor-restore run or the hourly plan's owed one, or by a watch round
when the floor in force is the nowcast's own (`perf.capacity_state.raised_by`), nothing
holds it, no ceremony on it is in progress and the cooldown (between round instants) has
passed; a floor someone else changed since wedperf raised it is theirs (left alone, its
baseline forgotten, on the raise path as on the restore path).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import psycopg

from wedperf.audit import last_step_of, record_step, recorded_step
from wedperf.calendar.model import Wedding
from wedperf.calendar.sync import weddings_in_day_windows
from wedperf.capacity.actuators import Actuator
from wedperf.capacity.floor import (
    FloorOutcome,
    apply_floor_decision,
    ceiling,
    floor_in_force,
    raise_in_force,
    record_floor_step,
)
from wedperf.capacity.nowcast import (
    WeddingIntensity,
    assess,
    changed_by_someone_else,
    decide_nowcast_raise,
    decide_nowcast_restore,
    observed_span,
    size_nowcast,
)
from wedperf.capacity.plan import floor_hold_reach, holding_floor, serves
from wedperf.capacity.state import remember_restore, target_state
from wedperf.capacity.utilisation import ceremonies_in_progress, raises_floor
from wedperf.config import CapacityTarget, Settings
from wedperf.forecast.requests import wedding_requests
from wedperf.metrics.model import SourceError
from wedperf.metrics.sources.prometheus import PrometheusSource

RAISE, RESTORE = "nowcast_raise", "nowcast_restore"
FAILED = "nowcast"  # a target's step that raised (perf.actions kind)
# Steps whose repeat would change nothing: a repeated round returns them as they were.
FINAL = ("done", "dry-run")


@dataclass(frozen=True)
class NowcastRound:
    at: datetime
    skipped: str | None  # why no wedding was assessed (restores still run)
    assessed: list[WeddingIntensity] = field(default_factory=list)
    steps: list[FloorOutcome] = field(default_factory=list)
    blind: dict[str, str] = field(default_factory=dict)  # wedding id -> why not assessed

    def summary(self) -> dict:
        """What the watch round's result carries."""
        return {
            "skipped": self.skipped,
            "assessed": sum(1 for a in self.assessed if a.intensity is not None),
            "hot": sorted(a.wedding_id for a in self.assessed if a.hot),
            "blind": len(self.blind),
            "steps": [
                {
                    k: getattr(s, k)
                    for k in ("action", "target", "outcome", "before", "after", "reason")
                }  # fmt: skip
                for s in self.steps
            ],
        }

    def markdown(self) -> str:
        lines = ["## Nowcast", ""]
        if self.skipped:
            lines.append(f"Skipped: {self.skipped}.")
        hot = [a for a in self.assessed if a.hot]
        told = sum(1 for a in self.assessed if a.intensity is not None)
        lines.append(f"{told} wedding(s) assessed, {len(hot)} running hot.")
        if self.blind:
            shown = ", ".join(f"{i} ({why})" for i, why in sorted(self.blind.items())[:20])
            lines.append(f"{len(self.blind)} wedding(s) not assessed: {shown}.")
        for a in sorted(hot, key=lambda a: -(a.intensity or 0))[:20]:
            lines.append(
                f"- wedding {a.wedding_id}: intensity {a.intensity:.2f} "
                f"({a.observed:.0f} requests, {a.expected:.0f} expected)"
            )
        for s in self.steps:
            change = f"{s.before} -> {s.after}"
            lines.append(f"- {s.action} {s.target}: {s.outcome} ({change}) {s.reason}")
        return "\n".join(lines)


def nowcast_plan_id(target: str, at: datetime) -> str:
    """The step's key: the target and the round instant to the microsecond (two rounds at
    different instants never share a key)."""
    return f"nowcast:{target}@{at.astimezone(UTC):%Y%m%dT%H%M%S.%fZ}"


# The default query: the sandbox app's per-wedding request counter, its wedding label
# `prometheus.wedding_label`.
DEFAULT_QUERY = (
    'sum by ($label) (increase(wedapp_request_duration_seconds_count{$label=~"$wedding_ids"}'
    "[$step]))"
)
# A watch round collects its nowcast within this share of `critical_path.interval` of its
# start (the flow); the step itself bounds its Prometheus reads by the same deadline and
# starts no target past it (the flow's task runner waits for the step at the flow's end).
DEADLINE_SHARE = 0.5


def nowcast_query(settings: Settings) -> str:
    """`ops.nowcast.query`, or the default over `prometheus.wedding_label`."""
    query = settings.ops.nowcast.query or DEFAULT_QUERY
    return query.replace("$label", settings.prometheus.wedding_label)


def run_nowcast(
    conn: psycopg.Connection,
    live: Sequence[Wedding],
    at: datetime,
    settings: Settings,
    *,
    source: PrometheusSource | None,
    actuator_for: Callable[[CapacityTarget], Actuator | None],
    deadline: datetime | None = None,
) -> NowcastRound:
    """The nowcast at the round instant `at` over the round's live weddings: assess each,
    raise the floor of every target serving a hot one, restore the nowcast raises no longer
    needed. `source` None (no Prometheus), Prometheus failing or returning no series at all
    skips the assessment with the reason, never the round; `actuator_for` None for a
    target: forecast-only. A target's failure is recorded (a `failed` row) and the others
    go on; `deadline` (wall clock) bounds the Prometheus reads, and past it no further
    target is started."""
    nowcast = settings.ops.nowcast
    if not nowcast.enabled:
        return NowcastRound(at, "ops.nowcast.enabled is false")
    skipped, assessed, blind = None, [], {}
    if source is None:
        skipped = "prometheus.url is not set: no per-wedding request rates to compare"
    else:
        spans = {w.wedding_id: observed_span(w, at, settings) for w in live}
        windows = {i: (lo, hi) for i, (lo, hi) in spans.items() if lo < hi}
        try:
            read = wedding_requests(
                source,
                nowcast_query(settings),
                windows,
                step_seconds=int(nowcast.step.total_seconds()),
                label=settings.prometheus.wedding_label,
                deadline=deadline,
            )
        except SourceError as exc:
            skipped = f"observed load unavailable ({exc})"
        else:
            blind = dict(read.refused)
            blind |= {i: "no series in Prometheus" for i in read.requests
                      if i not in read.with_series}  # fmt: skip
            if read.requests and not read.with_series:
                skipped = (
                    f"Prometheus returned no series for any of the {len(read.requests)} "
                    f"wedding(s) queried (label {settings.prometheus.wedding_label!r}): "
                    "check ops.nowcast.query and prometheus.wedding_label"
                )
            else:
                counted = [w for w in live if w.wedding_id not in blind]
                assessed = assess(counted, read.requests, at, settings)
    steps = []
    for configured in settings.ops.targets:
        if deadline is not None and datetime.now(UTC) >= deadline:
            steps.append(FloorOutcome("nowcast", configured.name, "skipped", None, None,
                                      "the round's nowcast deadline passed"))  # fmt: skip
            continue
        try:
            steps += _target_step(conn, configured, live, assessed, at, settings, actuator_for)
        except Exception as exc:  # one target's failure never stops the others
            conn.rollback()
            steps.append(_failed(conn, configured, at, exc, settings))
    return NowcastRound(at, skipped, assessed, steps, blind)


def _failed(conn, target, at, exc, settings) -> FloorOutcome:
    """A target whose step raised: a `failed` row (kind `nowcast`: which of its raise or
    restore is not known here) with the error, and the outcome."""
    reason = f"nowcast step failed: {type(exc).__name__}: {exc}"
    record_step(conn, nowcast_plan_id(target.name, at), FAILED, target.name, outcome="failed",
                reason=reason, dry_run=settings.ops.mode != "act")  # fmt: skip
    return FloorOutcome("nowcast", target.name, "failed", None, None, reason)


def _target_step(conn, target, live, assessed, at, settings, actuator_for) -> list[FloorOutcome]:
    plan_id = nowcast_plan_id(target.name, at)
    served = {w.wedding_id for w in live if serves(target, w)}
    hot = [a for a in assessed if a.hot and a.wedding_id in served]
    eu = settings.ops.event_utilisation.enabled
    if hot and not raises_floor(target.kind, settings.ops.floor, eu):
        # Not wedperf's floor to raise (ops.floor); a nowcast raise still in force from
        # before the setting changed is restored once no wedding runs hot.
        return [FloorOutcome(RAISE, target.name, "skipped", None, None,
                             f"ops.floor is {settings.ops.floor!r}: the floor of this "
                             f"{target.kind} target is not wedperf's to raise")]  # fmt: skip
    if hot:
        step = _raise(conn, target, live, assessed, hot, at, plan_id, settings, actuator_for)
        return [step] if step is not None else []
    state = target_state(conn, target.name)
    # Only a floor the nowcast raised itself (perf.capacity_state.raised_by): a planned
    # raise, a remediation scale-up or a raise whose write died since is not its to undo.
    if raise_in_force(state, by=RAISE) is not None:
        return [_restore(conn, target, at, plan_id, settings, actuator_for)]
    return []


def _repeated(conn, plan_id, kind, target) -> FloorOutcome | None:
    """The step this round already took, when it took one (a retry, a late duplicate)."""
    row = recorded_step(conn, plan_id, kind, target.name)
    if row is None or row[0] not in FINAL:
        return None
    outcome, before, after, reason = row
    as_int = lambda v: None if v is None else int(v)  # noqa: E731
    return FloorOutcome(kind, target.name, outcome, as_int(before), as_int(after),
                        f"{reason} (this round's step, already taken)")  # fmt: skip


def _raise(conn, target, live, assessed, hot, at, plan_id, settings, actuator_for):
    if (repeated := _repeated(conn, plan_id, RAISE, target)) is not None:
        return repeated
    by_id = {w.wedding_id: w for w in live}
    until = max(
        by_id[a.wedding_id].day_window(settings.day_window_before, settings.day_window_after)[1]
        for a in hot
    )
    candidates = weddings_in_day_windows(conn, at, until, settings)
    sizing = size_nowcast(target, assessed, candidates, at, settings)
    if sizing is None:  # the hot weddings left the calendar since the round read it
        return None
    ids = sizing.hot
    actuator = actuator_for(target)
    if actuator is None:
        return record_floor_step(conn, plan_id, RAISE, target, None, sizing.needed,
                                 f"{sizing.why}; forecast-only", ids, "planned",
                                 dry_run=True)  # fmt: skip
    state = target_state(conn, target.name)
    reading = actuator.read()
    maximum = ceiling(target, reading)
    current = floor_in_force(reading, state.floor)
    decision = decide_nowcast_raise(
        needed=sizing.needed,
        current_floor=current,
        maximum=maximum,
        baseline=state.baseline,
        set_by_wedperf=state.floor,
    )
    if settings.ops.mode == "act" and current is not None and changed_by_someone_else(decision):
        # Theirs: no restore owed any more, by anyone (a later planned restore would put the
        # baseline back over their value), as the restore path forgets it.
        remember_restore(conn, target.name, after=current, at=at)
    return _act(conn, actuator, plan_id, RAISE, target, current, decision, sizing.why, ids,
                settings, at)  # fmt: skip


def _restore(conn, target, at, plan_id, settings, actuator_for):
    if (repeated := _repeated(conn, plan_id, RESTORE, target)) is not None:
        return repeated
    state = target_state(conn, target.name)
    actuator = actuator_for(target)
    if actuator is None:
        return record_floor_step(conn, plan_id, RESTORE, target, state.floor, state.baseline,
                                 "forecast-only: restore planned", [], "planned",
                                 dry_run=True)  # fmt: skip
    behind, ahead = floor_hold_reach(settings)
    nearby = weddings_in_day_windows(conn, at - behind, at + ahead, settings)
    on_target = [w for w in nearby if serves(target, w)]
    current = floor_in_force(actuator.read(), state.floor)
    decision = decide_nowcast_restore(
        baseline=state.baseline,
        current_floor=current,
        set_by_wedperf=state.floor,
        live_weddings=holding_floor(nearby, target, at, settings),
        in_ceremony=ceremonies_in_progress(on_target, at, settings.forecast.ceremony_length),
        last_change=state.changed_at,
        now=at,
        cooldown=settings.ops.cooldown,
    )
    if (
        settings.ops.mode == "act"
        and current is not None
        and (changed_by_someone_else(decision) or decision.reason.startswith("already at baseline"))
    ):
        remember_restore(conn, target.name, after=current, at=at)  # theirs, or none in force
    return _act(conn, actuator, plan_id, RESTORE, target, current, decision,
                "nowcast raise in force", [], settings, at)  # fmt: skip


def _act(conn, actuator, plan_id, kind, target, current, decision, why, ids, settings, at):
    """`apply_floor_decision`; a skipped step is written to perf.actions only when its
    outcome or reason differs from the target's previous nowcast row (a hot wedding held
    at the floor it needs would otherwise add a row per round; the round's artifact and
    result carry every step)."""
    reason = f"{why}; {decision.reason}"
    if decision.new_floor is None:
        previous = last_step_of(conn, target.name, (RAISE, RESTORE, FAILED))
        if previous == ("skipped", reason):
            again = f"{reason} (as the previous round: not recorded again)"
            return FloorOutcome(kind, target.name, "skipped", current, current, again)
    return apply_floor_decision(conn, actuator, plan_id, kind, target, current, decision, why,
                                ids, settings, at=at)  # fmt: skip
