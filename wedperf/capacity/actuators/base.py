"""The actuator interface: read a target's floor, set it (or, dry, validate only); read and
set its autoscaler's target utilisation where it has one."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from wedperf.config import CapacityTarget


class ActuatorError(RuntimeError):
    """The target refused or failed; the message says what to fix."""


class UtilisationChanged(ActuatorError):
    """The target utilisation was not the value expected: someone changed it meanwhile."""

    def __init__(self, message: str, current: int | None) -> None:
        super().__init__(message)
        self.current = current


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

    def read_utilisation(self) -> int | None:
        """The autoscaler's target utilisation (%), None when the target has none."""
        ...

    def set_utilisation(self, percent: int, *, expected: int, reason: str, dry_run: bool) -> None:
        """Set the target utilisation if it is still `expected` (else `UtilisationChanged`:
        a concurrent change is never overwritten); with `dry_run`, validate only."""
        ...
