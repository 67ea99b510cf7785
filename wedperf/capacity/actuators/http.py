"""A generic HTTP capacity endpoint as an actuator."""

from __future__ import annotations

import httpx

from wedperf.capacity.actuators.base import ActuatorError, FloorReading
from wedperf.config import CapacityTarget


class HttpActuator:
    """POST `{"target", "replicas", "reason"}` to a configured URL with a bearer token.

    The endpoint cannot be read, so the floor wedperf set last (perf.capacity_state) stands
    for the current one.
    """

    def __init__(self, target: CapacityTarget, *, transport: httpx.BaseTransport | None = None):
        if not target.url:
            raise ValueError(f"capacity target {target.name}: http needs a url")
        self.target = target
        headers = {"content-type": "application/json"}
        if target.token is not None:
            headers["authorization"] = f"Bearer {target.token.get_secret_value()}"
        self._client = httpx.Client(timeout=10, headers=headers, transport=transport)

    def read(self) -> FloorReading:
        return FloorReading(floor=None)

    def set_floor(self, replicas: int, *, reason: str, dry_run: bool) -> None:
        if dry_run:
            return
        try:
            response = self._client.post(
                self.target.url,
                json={"target": self.target.name, "replicas": replicas, "reason": reason},
            )
            response.raise_for_status()
        except httpx.HTTPError as exc:
            raise ActuatorError(f"capacity endpoint for {self.target.name}: {exc}") from exc

    def read_utilisation(self) -> int | None:
        """None: the HTTP endpoint has no autoscaler target utilisation (the planner
        schedules no utilisation runs for this kind)."""
        return None

    def set_utilisation(self, percent: int, *, expected: int, reason: str, dry_run: bool) -> None:
        raise ActuatorError(
            f"capacity target {self.target.name}: the HTTP endpoint has no target utilisation"
        )
