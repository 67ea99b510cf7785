"""The checks of a wedding day's critical path, their default SLOs, and how overrides apply."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from wedperf.config import CriticalPathSettings

Status = Literal["ok", "warn", "breach"]


@dataclass(frozen=True)
class CheckSpec:
    """A check: what it measures, in which unit, and which direction is bad."""

    name: str
    description: str
    unit: str
    warn: float
    breach: float
    # "above": larger values are worse (latency); "below": smaller are worse (arrival ratio).
    bad_when: Literal["above", "below"] = "above"


# Defaults are starting points for a platform team to tune, not published figures.
CHECKS: dict[str, CheckSpec] = {
    spec.name: spec
    for spec in (
        CheckSpec(
            "guest_arrival",
            "check-ins so far / check-ins expected by now (arrival curve x guest count)",
            "ratio",
            warn=0.75,
            breach=0.5,
            bad_when="below",
        ),
        CheckSpec(
            "guests_missing_at_ceremony",
            "share of invited guests not checked in by the ceremony (+ grace)",
            "share",
            warn=0.2,
            breach=0.35,
        ),
        CheckSpec(
            "timeline_drift",
            "start delay of the most recently due timeline item (the day's current drift)",
            "min",
            warn=15,
            breach=30,
        ),
        CheckSpec(
            "vendor_delivery_p95",
            "p95 of notification delivery latency today (undelivered count as still waiting)",
            "s",
            warn=30,
            breach=120,
        ),
        CheckSpec(
            "vendor_unresponsive",
            "most overdue unacknowledged notifications held by any one vendor",
            "messages",
            warn=1,
            breach=2,
        ),
        CheckSpec(
            "incident_response_critical",
            "worst minutes to first response of today's critical incidents (open ones: so far)",
            "min",
            warn=5,
            breach=10,
        ),
        CheckSpec(
            "incident_response_high",
            "worst minutes to first response of today's high incidents (open ones: so far)",
            "min",
            warn=15,
            breach=30,
        ),
        CheckSpec(
            "incident_response_low",
            "worst minutes to first response of today's low incidents (open ones: so far)",
            "min",
            warn=60,
            breach=120,
        ),
        CheckSpec("latency_guest_list", "p95 guest-list latency", "s", warn=0.5, breach=1.0),
        CheckSpec("latency_timeline_sync", "p95 timeline-sync latency", "s", warn=0.5, breach=1.0),
        CheckSpec("latency_photo_upload", "p95 photo-upload latency", "s", warn=4.0, breach=8.0),
        CheckSpec(
            "latency_vendor_notify", "p95 vendor-notify API latency", "s", warn=0.5, breach=1.0
        ),
        # Mobile p95 (docs/mobile.md): samples from the iOS and Android apps only (RUM beacons,
        # probes with a mobile client profile, Prometheus series with a mobile client label), as
        # the device saw them, network included. Twice the all-clients thresholds: a slow-4G round
        # trip alone is ~150 ms. A phone's photo upload is bounded by its uplink (1.5 MB at
        # 0.75 Mbit/s is 16 s), hence the wide photo band.
        CheckSpec(
            "mobile_p95_guest_list", "p95 guest-list latency on the mobile apps", "s", 1.0, 2.0
        ),
        CheckSpec(
            "mobile_p95_timeline_sync",
            "p95 timeline-sync latency on the mobile apps",
            "s",
            warn=1.0,
            breach=2.0,
        ),
        CheckSpec(
            "mobile_p95_photo_upload",
            "p95 photo-upload latency on the mobile apps",
            "s",
            warn=10.0,
            breach=20.0,
        ),
        CheckSpec(
            "mobile_p95_vendor_notify",
            "p95 vendor-notify latency on the mobile apps",
            "s",
            warn=1.0,
            breach=2.0,
        ),
    )
}
LATENCY_OPERATIONS = ("guest_list", "timeline_sync", "photo_upload", "vendor_notify")
MOBILE_CHECK_PREFIX = "mobile_p95_"


@dataclass(frozen=True)
class Slo:
    warn: float
    breach: float
    bad_when: Literal["above", "below"]

    def classify(self, value: float | None) -> Status:
        """ok / warn / breach for a value; no value (nothing to measure yet) is ok."""
        if value is None:
            return "ok"
        if self.bad_when == "above":
            return "breach" if value >= self.breach else "warn" if value >= self.warn else "ok"
        return "breach" if value <= self.breach else "warn" if value <= self.warn else "ok"


def tier_of(guest_count: int, settings: CriticalPathSettings) -> str:
    """The wedding's tier by guest count: the first tier whose bound exceeds the count."""
    for tier, bound in sorted(settings.tier_bounds.items(), key=lambda item: item[1]):
        if guest_count < bound:
            return tier
    return max(settings.tier_bounds, key=settings.tier_bounds.__getitem__)


def resolve_slo(check: str, *, wedding_id: str, tier: str, settings: CriticalPathSettings) -> Slo:
    """Default, then global override, then tier override, then per-wedding override."""
    spec = CHECKS[check]
    warn, breach = spec.warn, spec.breach
    for layer in (
        settings.slo.get(check),
        settings.tiers.get(tier, {}).get(check),
        settings.weddings.get(wedding_id, {}).get(check),
    ):
        if layer is not None:
            warn = layer.warn if layer.warn is not None else warn
            breach = layer.breach if layer.breach is not None else breach
    return Slo(warn=warn, breach=breach, bad_when=spec.bad_when)


def validate_overrides(settings: CriticalPathSettings) -> None:
    """Unknown check names in overrides are configuration errors, reported by name."""
    named = list(settings.slo)
    named += [check for layer in settings.tiers.values() for check in layer]
    named += [check for layer in settings.weddings.values() for check in layer]
    unknown = sorted(set(named) - set(CHECKS))
    if unknown:
        raise ValueError(
            f"unknown critical-path checks in SLO overrides: {', '.join(unknown)} "
            f"(known: {', '.join(CHECKS)})"
        )
    unknown_tiers = sorted(set(settings.tiers) - set(settings.tier_bounds))
    if unknown_tiers:
        raise ValueError(f"SLO overrides for undefined tiers: {', '.join(unknown_tiers)}")
