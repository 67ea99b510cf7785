"""Capacity actuators behind one interface (`base.Actuator`): read the floor, set it.

`build_actuator(resolve_target(target, settings))` is the implementation for a configured
target: the sandbox app (`sandbox`), a Kubernetes HPA or Deployment scale subresource
(`kubernetes`), or a generic HTTP endpoint (`http`). Every caller that acts on a target
builds it here, so a target's defaults are filled in one place.
"""

from __future__ import annotations

from wedperf.capacity.actuators.base import (
    Actuator,
    ActuatorError,
    FloorReading,
    UtilisationChanged,
)
from wedperf.capacity.actuators.http import HttpActuator
from wedperf.capacity.actuators.kubernetes import KubernetesActuator
from wedperf.capacity.actuators.sandbox import SandboxActuator
from wedperf.config import CapacityTarget, Settings

__all__ = [
    "Actuator",
    "ActuatorError",
    "FloorReading",
    "HttpActuator",
    "KubernetesActuator",
    "SandboxActuator",
    "UtilisationChanged",
    "build_actuator",
    "resolve_target",
]


def resolve_target(target: CapacityTarget, settings: Settings) -> CapacityTarget:
    """`target` with its defaults filled in: a sandbox target without a url acts on the
    sandbox app the probes already talk to."""
    if target.kind == "sandbox" and not target.url:
        return target.model_copy(update={"url": settings.probes.base_url})
    return target


def build_actuator(target: CapacityTarget, **kwargs) -> Actuator:
    """The actuator of `target` as configured (`kwargs`: e.g. a test's `transport`)."""
    if target.kind == "sandbox":
        return SandboxActuator(target, **kwargs)
    if target.kind == "http":
        return HttpActuator(target, **kwargs)
    return KubernetesActuator(target, **kwargs)
