"""Capacity actuators behind one interface: read the floor, set it (or, dry, don't).

`build_actuator(target)` picks the implementation for a configured target: the sandbox app,
a Kubernetes HPA or Deployment scale subresource (wedperf.actions.kubernetes), or a generic
HTTP endpoint.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import httpx

from wedperf.config import CapacityTarget


class ActuatorError(RuntimeError):
    """The target refused or failed; the message says what to fix."""


@dataclass(frozen=True)
class FloorReading:
    floor: int | None  # the configured floor (HPA minReplicas, sandbox replicas); None: unknown
    autoscaler_wants: int | None = None  # what the reactive side asks for right now
    maximum: int | None = None  # the target's own ceiling (HPA maxReplicas)


class Actuator(Protocol):
    target: CapacityTarget

    def read(self) -> FloorReading:
        """The target's current floor and what its reactive autoscaler wants."""
        ...

    def set_floor(self, replicas: int, *, reason: str, dry_run: bool) -> None:
        """Set the floor; with `dry_run`, validate and send no write."""
        ...


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

    def _call(self, method: str, **kwargs) -> httpx.Response:
        try:
            response = self._client.request(method, "/admin/capacity", **kwargs)
            response.raise_for_status()
        except httpx.HTTPError as exc:
            raise ActuatorError(f"sandbox {self.target.url}: {exc}") from exc
        return response


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


def build_actuator(target: CapacityTarget, **kwargs) -> Actuator:
    if target.kind == "sandbox":
        return SandboxActuator(target, **kwargs)
    if target.kind == "http":
        return HttpActuator(target, **kwargs)
    from wedperf.actions.kubernetes import KubernetesActuator

    return KubernetesActuator(target, **kwargs)
