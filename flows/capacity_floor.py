"""Flow: raise or restore one target's capacity floor for a slot of weddings, or lower or
restore its autoscaler target utilisation for their event windows."""

from __future__ import annotations

from typing import Literal

from prefect import flow, get_run_logger
from prefect.deployments import run_deployment
from prefect.runtime import deployment as current_deployment

from tasks.calendar import load_weddings
from tasks.capacity import floor_step
from wedperf.runtime import get_runtime


@flow(name="capacity-floor", log_prints=True)
def capacity_floor(
    target: str,
    action: Literal["raise", "restore", "utilisation-lower", "utilisation-restore"],
    wedding_ids: list[str],
    slot: str | None = None,
    plan_id: str = "manual",
) -> dict:
    """Raise the floor ahead of the slot's weddings, or restore it after them. A predictive
    floor only: a raise never lowers, a restore waits for live weddings and the cooldown.
    `utilisation-lower` / `-restore`: the event-window target utilisation, likewise (a
    lowering never raises it; a restore waits for live weddings, ceremonies, the cooldown)."""
    logger = get_run_logger()
    weddings = load_weddings(wedding_ids)
    if action in ("raise", "utilisation-lower") and not weddings:
        logger.info("no weddings left in this slot (moved or cancelled); nothing to do")
        return {"outcome": "skipped", "reason": "no weddings"}
    outcome = floor_step(target, action, weddings, plan_id, slot)
    logger.info(
        "%s %s: %s (%s -> %s) %s",
        action,
        target,
        outcome.outcome,
        outcome.before,
        outcome.after,
        outcome.reason,
    )
    if outcome.retry_at is not None and current_deployment.name:
        # Held back by the cooldown or a wedding's hold: one more attempt on this deployment.
        settings = get_runtime().settings
        run_deployment(
            settings.ops.floor_deployment,
            parameters={
                "target": target,
                "action": action,
                "wedding_ids": wedding_ids,
                "slot": slot,
                "plan_id": f"{plan_id}+retry",
            },
            scheduled_time=outcome.retry_at,
            idempotency_key=f"{settings.ops.floor_deployment}|{plan_id}+retry",
            timeout=0,
            as_subflow=False,
            tags=["wedperf", "wedding-ops", _operation(action), target],
        )
    return outcome.__dict__


def _operation(action: str) -> str:
    """The plan's operation tag of an action (`restore` -> `floor-restore`)."""
    return action if action.startswith("utilisation-") else f"floor-{action}"
