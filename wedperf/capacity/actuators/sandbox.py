"""The sandbox app's capacity endpoint as an actuator."""

from __future__ import annotations

import httpx

from wedperf.capacity.actuators.base import ActuatorError, FloorReading
from wedperf.config import CapacityTarget


class SandboxActuator:
    """The sandbox app's worker slots (`/admin/capacity`), so demo and tests close the loop."""

    def __init__(self, target: CapacityTarget, *, transport: httpx.BaseTransport | None = None):
        if not target.url:
            raise ValueError(f"capacity target {target.name}: sandbox needs a url")
        self.target = target
        self._client = httpx.Client(base_url=target.url, timeout=10, transport=transport)

    def read(self) -> FloorReading:
        replicas = self._call("GET").json()["replicas"]
        return FloorReading(floor=replicas, autoscaler_wants=replicas)

    def set_floor(self, replicas: int, *, reason: str, dry_run: bool) -> None:
        if not dry_run:
            self._call("PUT", json={"replicas": replicas})

    def read_utilisation(self) -> int | None:
        """None: the sandbox app has no autoscaler target utilisation (the planner schedules no
        utilisation runs for this kind)."""
        return None

    def set_utilisation(self, percent: int, *, expected: int, reason: str, dry_run: bool) -> None:
        raise ActuatorError(
            f"capacity target {self.target.name}: the sandbox app has no target utilisation to set"
        )

    def _call(self, method: str, **kwargs) -> httpx.Response:
        try:
            response = self._client.request(method, "/admin/capacity", **kwargs)
            response.raise_for_status()
        except httpx.HTTPError as exc:
            raise ActuatorError(f"sandbox {self.target.url}: {exc}") from exc
        return response
