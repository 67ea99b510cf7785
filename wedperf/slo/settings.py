"""Error-budget settings (a section of wedperf.config.Settings: WEDPERF_SLO__*, `[slo]`).

An SLO here is event-scoped: "`objective` of the wedding's `operation` requests finish within
`threshold_s`", judged over that wedding's day window only (from `day_window_before` the
ceremony to `day_window_after` the end of the reception), with its own budget of bad events.
"""

from __future__ import annotations

import math
import re
from datetime import timedelta
from typing import Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from wedperf.metrics.histogram import ROLLUP_BOUNDS, le_label

ClientGroup = Literal["all", "mobile", "ios", "android", "web"]
Severity = Literal["page", "ticket"]
_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")  # RFC 1123 label, as OpenSLO asks


class SloDefinition(BaseModel):
    """One SLO: which requests (operation, client group), what is good (latency within the
    threshold), and the share of them that must be good (objective)."""

    name: str = Field(description="lowercase letters, digits and dashes (an OpenSLO name)")
    operation: str
    threshold_s: float = Field(description="good: latency <= this; a rollup bucket bound")
    objective: float = Field(gt=0, lt=1, description="share of events that must be good")
    clients: ClientGroup = Field(
        default="all",
        description="all: the server-side collectors (RUM beacons left out); mobile/ios/"
        "android/web: events of those clients, RUM beacons included (network included)",
    )
    description: str = ""
    min_events: int | None = Field(
        default=None,
        ge=1,
        description="an alert window needs this many events before it may fire; unset: "
        "ceil(1 / (1 - objective)), below which one bad event exceeds the whole allowance",
    )

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError(
                f"SLO name {value!r} must be lowercase letters, digits and dashes (RFC 1123)"
            )
        return value

    @field_validator("threshold_s")
    @classmethod
    def _bound(cls, value: float) -> float:
        if value not in ROLLUP_BOUNDS or math.isinf(value):
            raise ValueError(
                f"threshold {value} s is not a latency bucket bound; good events are counted "
                f"at a bound, never interpolated. Bounds: "
                f"{', '.join(le_label(b) for b in ROLLUP_BOUNDS if not math.isinf(b))}"
            )
        return value

    def events_needed(self, objective: float | None = None) -> int:
        objective = self.objective if objective is None else objective
        return self.min_events or math.ceil(1 / (1 - objective) - 1e-9)


class PhaseWeight(BaseModel):
    """How much one phase of the day (a timeline item) counts: its events weigh `weight`
    (the ceremony counts more than the cocktails). The phase runs from the item's start (or,
    not started yet, its scheduled time) to its completion, or for `minutes` if not known."""

    weight: float = Field(gt=0)
    minutes: float = Field(default=30, gt=0)


class TierSlo(BaseModel):
    """Per tier (by guest count, the critical path's tiers): objectives and phase weights."""

    objectives: dict[str, float] = Field(
        default_factory=dict, description="SLO name -> objective for weddings of this tier"
    )
    phases: dict[str, PhaseWeight] | None = Field(
        default=None, description="timeline item -> weight; replaces slo.phases for this tier"
    )

    @field_validator("objectives")
    @classmethod
    def _objectives(cls, value: dict[str, float]) -> dict[str, float]:
        for name, objective in value.items():
            if not 0 < objective < 1:
                raise ValueError(f"objective of {name} must be in (0, 1), got {objective}")
        return value


class BurnWindow(BaseModel):
    """One alert window pair: the long window is `long_share` of the SLO window (the short
    one `1 / slo.short_ratio` of it); it fires when both burn at `burn_rate` or more.

    `measure` says what "burn" means (docs/slo.md, "Burn-rate alerts"): `ratio`, the spans'
    error ratio over the allowance (the SRE Workbook's burn rate); `budget`, the spans' bad
    events above the error ratio of the `slo.baseline` before the long span, per minute,
    over the allowance of the day's events per minute so far: how fast the wedding's own
    budget is being spent by something that was not happening before (a regression), in
    busy and quiet phases and weighted ones alike."""

    name: str
    severity: Severity
    long_share: float = Field(gt=0, le=1)
    burn_rate: float = Field(gt=0)
    measure: Literal["ratio", "budget"] = "ratio"


def _default_definitions() -> list[SloDefinition]:
    # Defaults for the sandbox platform, at the thresholds the critical-path checks breach
    # on (wedperf.critical_path.slo) and bounds the sandbox's histograms have.
    return [
        SloDefinition(
            name="guest-list-latency",
            operation="guest_list",
            threshold_s=1.0,
            objective=0.99,
            description="99% of the wedding's guest-list requests answered within 1 s",
        ),
        SloDefinition(
            name="timeline-sync-latency",
            operation="timeline_sync",
            threshold_s=1.0,
            objective=0.99,
            description="99% of timeline syncs within 1 s",
        ),
        SloDefinition(
            name="photo-upload-latency",
            operation="photo_upload",
            threshold_s=10.0,
            objective=0.99,
            description="99% of photo uploads within 10 s",
        ),
        SloDefinition(
            name="vendor-notify-latency",
            operation="vendor_notify",
            threshold_s=1.0,
            objective=0.99,
            description="99% of vendor-notification API calls within 1 s",
        ),
        SloDefinition(
            name="vendor-delivery",
            operation="vendor_delivery",
            threshold_s=30.0,
            objective=0.99,
            description="99% of vendor notifications delivered within 30 s of sending",
        ),
        SloDefinition(
            name="mobile-guest-list",
            operation="guest_list",
            threshold_s=2.0,
            objective=0.95,
            clients="mobile",
            description="95% of guest-list loads on the phone apps within 2 s, network included",
        ),
    ]


def _default_windows() -> list[BurnWindow]:
    # docs/slo.md derives these from the SRE Workbook's table (page 14.4x over 1 h with 5 min,
    # 6x over 6 h with 30 min, ticket 1x over 3 d with 6 h, for a 30-day window).
    return [
        BurnWindow(name="fast", severity="page", long_share=1 / 72, burn_rate=4, measure="budget"),
        BurnWindow(name="slow", severity="page", long_share=1 / 6, burn_rate=2.5),
        BurnWindow(name="steady", severity="ticket", long_share=1 / 3, burn_rate=1),
    ]


class SloSettings(BaseModel):
    """The SLOs every wedding is held to, how its phases weigh, and its alert windows."""

    enabled: bool = True
    definitions: list[SloDefinition] = Field(default_factory=_default_definitions)
    phases: dict[str, PhaseWeight] = Field(
        default_factory=dict,
        description="timeline item (case-insensitive) -> weight, for every tier; none: all "
        "events count alike",
    )
    tiers: dict[str, TierSlo] = Field(default_factory=dict)
    windows: list[BurnWindow] = Field(default_factory=_default_windows)
    short_ratio: float = Field(
        default=12, gt=1, description="long window / short window (12 in the SRE Workbook)"
    )
    min_short: timedelta = Field(
        default=timedelta(minutes=2), description="no short window is shorter than this"
    )
    min_long: timedelta = Field(
        default=timedelta(minutes=5), description="no long window is shorter than this"
    )
    baseline: timedelta = Field(
        default=timedelta(minutes=30),
        description="a `budget` window counts the bad events above the error ratio of this "
        "span before its long span: a burn that was already going on is the slow window's "
        "and the ticket's, not a regression to page on",
    )
    confidence: float | None = Field(
        default=0.8,
        gt=0.5,
        lt=1,
        description="a window fires only when its long span's burn still reaches its rate "
        "with its bad events at this one-sided Poisson lower confidence bound: a few lucky "
        "minutes of a slow burn in a small or quiet wedding are chance, not a regression. "
        "None: point estimates only (and no rise test)",
    )
    rise_p_value: float = Field(
        default=0.001,
        gt=0,
        lt=1,
        description="a `budget` window fires only when its long span's error ratio is "
        "above its baseline's with this p-value or less (exact conditional test of two "
        "Poisson rates): a steady burn is no rise, however the pace so far magnifies it",
    )
    resolve_share: float = Field(
        default=0.5,
        gt=0,
        le=1,
        description="a firing alert holds until every short span of its severity burns below "
        "this share of its window's rate (hysteresis: a noisy minute does not resolve it)",
    )

    @model_validator(mode="after")
    def _consistent(self) -> SloSettings:
        names = [d.name for d in self.definitions]
        duplicated = sorted({n for n in names if names.count(n) > 1})
        if duplicated:
            raise ValueError(f"SLO names must be unique: {', '.join(duplicated)}")
        for tier, layer in self.tiers.items():
            unknown = sorted(set(layer.objectives) - set(names))
            if unknown:
                raise ValueError(f"slo.tiers.{tier} names unknown SLOs: {', '.join(unknown)}")
        window_names = [w.name for w in self.windows]
        if len(set(window_names)) != len(window_names):
            raise ValueError(f"alert window names must be unique: {window_names}")
        if self.min_short > self.min_long:
            raise ValueError("slo.min_short must not exceed slo.min_long")
        return self

    def definition(self, name: str) -> SloDefinition:
        for d in self.definitions:
            if d.name == name:
                return d
        raise KeyError(f"no SLO named {name!r} (known: {', '.join(self.names)})")

    @property
    def names(self) -> list[str]:
        return [d.name for d in self.definitions]

    def objective(self, definition: SloDefinition, tier: str) -> float:
        layer = self.tiers.get(tier)
        if layer is not None and definition.name in layer.objectives:
            return layer.objectives[definition.name]
        return definition.objective

    def phase_weights(self, tier: str) -> dict[str, PhaseWeight]:
        layer = self.tiers.get(tier)
        phases = layer.phases if layer is not None and layer.phases is not None else self.phases
        return {item.strip().lower(): weight for item, weight in phases.items()}
