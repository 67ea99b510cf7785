"""The capacity tasks: one target's floor raised or restored, or its autoscaler target
utilisation lowered or restored for an event window, through its actuator; and the watch
round's nowcast (floors raised for weddings running hot)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from prefect import task
from prefect.cache_policies import NONE

from wedperf.calendar.model import Wedding
from wedperf.capacity.actuators import Actuator, build_actuator, resolve_target
from wedperf.capacity.event_utilisation import lower_utilisation, restore_utilisation
from wedperf.capacity.floor import FloorOutcome, raise_floor, restore_floor, step_instant
from wedperf.capacity.nowcast_round import NowcastRound, run_nowcast
from wedperf.config import CapacityTarget
from wedperf.metrics.sources.prometheus import PrometheusSource
from wedperf.runtime import get_runtime

# Every action by name: an unknown one is an error, never another action's step.
LOWERS = {"raise": raise_floor, "utilisation-lower": lower_utilisation}
RESTORES = {"restore": restore_floor, "utilisation-restore": restore_utilisation}


@task(name="capacity-floor-step", retries=2, retry_delay_seconds=[10, 30], cache_policy=NONE)
def floor_step(
    target_name: str,
    action: str,
    weddings: Sequence[Wedding],
    plan_id: str,
    slot: str | None = None,
) -> FloorOutcome:
    """Raise or restore one target's floor, or lower or restore its target utilisation
    (`utilisation-lower` / `utilisation-restore`); forecast-only mode records the plan only.
    A restore decides at the run's slot time when the clock reads earlier (`step_instant`)."""
    if action not in LOWERS | RESTORES:
        known = ", ".join(LOWERS | RESTORES)
        raise ValueError(f"unknown capacity action {action!r}; known: {known}")
    runtime = get_runtime()
    settings = runtime.settings
    targets = {t.name: t for t in settings.ops.targets}
    if target_name not in targets:
        raise ValueError(f"unknown capacity target {target_name!r}; known: {', '.join(targets)}")
    target = resolve_target(targets[target_name], settings)
    actuator = None if settings.ops.mode == "forecast-only" else build_actuator(target)
    with runtime.pool.connection() as conn:
        if action in LOWERS:
            return LOWERS[action](
                conn, actuator, target, weddings, plan_id=plan_id, settings=settings
            )
        return RESTORES[action](
            conn,
            actuator,
            target,
            weddings,
            plan_id=plan_id,
            settings=settings,
            now=step_instant(datetime.now(UTC), slot),
        )


# No retries: a rerun would run past the round's deadline; the next round is the retry.
@task(name="nowcast-step", retries=0, cache_policy=NONE)
def nowcast_step(
    live: Sequence[Wedding], at: datetime, deadline: datetime | None = None
) -> NowcastRound:
    """The watch round's nowcast at `at`: each live wedding's load so far against its
    expected curve, the floor of the targets serving a hot one raised, a nowcast raise no
    longer needed restored; nothing started past `deadline`. Idempotent per round
    instant (a repeat redoes nothing)."""
    runtime = get_runtime()
    settings = runtime.settings
    source = PrometheusSource(settings.prometheus) if settings.prometheus.url else None

    def actuator_for(target: CapacityTarget) -> Actuator | None:
        if settings.ops.mode == "forecast-only":
            return None
        return build_actuator(resolve_target(target, settings))

    with runtime.pool.connection() as conn:
        return run_nowcast(conn, live, at, settings, source=source, actuator_for=actuator_for,
                           deadline=deadline)  # fmt: skip
