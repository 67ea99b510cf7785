"""A synthetic wedding day of requests, as Prometheus histogram buckets: what the error-budget
tests and bench/slo_alerts.py watch (the code under test never sees where the day came from).

Traffic: guest-list requests per minute = guests x peak rate per guest x a day profile. The
peak rate is the project's own capacity default (wedperf.capacity.settings: 0.05 requests/s
per guest at peak, all operations) times the guest list's share of the load mix
(wedperf.sandbox.load.MIX: 0.42), i.e. 1.26 requests/min per guest at the day's busiest
minute. The profile follows the sandbox's calibration in docs/sandbox.md ("The day
itself"; guest check-ins cluster in the hour before the ceremony): quiet set-up hours, the
check-in hour peaking 15 minutes before the ceremony, a quiet ceremony, cocktails, and the
reception.

Latency: lognormal, median 120 ms (sigma 0.5); 0.1% of requests are slow anyway (1.2-3 s).
A scenario makes a share of the requests of some minutes slow. Everything is drawn from a
seeded generator, so a test sees the same day every run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np

from wedperf.metrics.histogram import INF, le_label
from wedperf.metrics.model import LATENCY_BUCKET, Sample
from wedperf.sandbox.telemetry import LATENCY_BUCKETS

PEAK_PER_GUEST_PER_MIN = 0.05 * 0.42 * 60
BOUNDS = (*LATENCY_BUCKETS, INF)
BACKGROUND_SLOW = 0.001


# The phases of the day the profile has, as minutes from the ceremony [start, end): what the
# per-phase tests and bench/slo_alerts.py place regressions in.
PHASES = (
    ("setup", -180, -90),  # vendors and the couple's party; a tenth of the peak
    ("early-arrivals", -90, -60),
    ("check-in", -60, 0),  # guests arrive: the day's busiest hour, peaking 15 min before
    ("ceremony", 0, 35),  # quiet: phones away
    ("cocktails", 35, 110),
    ("reception", 110, 360),
)


def phase_minutes(name: str, ceremony_minute: int) -> range:
    """The window minutes of phase `name` when the ceremony is `ceremony_minute` minutes
    after the window opens."""
    for phase, start, end in PHASES:
        if phase == name:
            return range(ceremony_minute + start, ceremony_minute + end)
    raise KeyError(f"no phase {name!r} (known: {', '.join(p for p, _, _ in PHASES)})")


def profile(minute_from_ceremony: np.ndarray) -> np.ndarray:
    """Share of the peak rate at each minute relative to the ceremony."""
    m = np.asarray(minute_from_ceremony, dtype=float)
    checkin = np.interp(m, [-60, -15, 0], [0.3, 1.0, 0.5], left=0, right=0)
    return np.select(
        [m < -90, m < -60, m < 0, m < 35, m < 110],
        [0.10, 0.30, checkin, 0.15, 0.35],
        default=0.45,
    )


@dataclass
class SlowSpell:
    """From `start` minutes after the window opens, for `minutes`: `share` of the requests
    slow (1.2-3 s), and every request's latency multiplied by `factor`."""

    start: int
    minutes: int
    share: float = 0.0
    factor: float = 1.0


@dataclass
class SyntheticDay:
    wedding_id: str
    guests: int
    opens: datetime  # the day window's opening (ceremony - before)
    ceremony: datetime
    length: int  # minutes in the window
    seed: int = 0
    spells: list[SlowSpell] = field(default_factory=list)
    rate_per_guest: float = PEAK_PER_GUEST_PER_MIN
    operation: str = "guest_list"

    def expected_per_minute(self) -> np.ndarray:
        offsets = np.arange(self.length) - (self.ceremony - self.opens) / timedelta(minutes=1)
        return self.guests * self.rate_per_guest * profile(offsets)

    def share_for_budget(
        self,
        start: int,
        minutes: int,
        budget_share: float,
        allowance: float,
        weights: Sequence[float] | None = None,
    ):
        """The share of requests that must be slow in [start, start+minutes) to spend
        `budget_share` of the day's budget (allowance x the day's expected events, weighted
        by `weights` per minute if given)."""
        lam = self.expected_per_minute()
        if weights is not None:
            lam = lam * np.asarray(weights, dtype=float)
        return min(1.0, budget_share * allowance * lam.sum() / lam[start : start + minutes].sum())

    def requests(self) -> list[np.ndarray]:
        """Latencies (seconds) of each minute's requests."""
        rng = np.random.default_rng(self.seed)
        counts = rng.poisson(self.expected_per_minute())
        slow_share = np.full(self.length, BACKGROUND_SLOW)
        factor = np.ones(self.length)
        for spell in self.spells:
            span = slice(spell.start, spell.start + spell.minutes)
            slow_share[span] = np.maximum(slow_share[span], spell.share)
            factor[span] *= spell.factor
        minutes = []
        for n, share, times in zip(counts, slow_share, factor, strict=True):
            latency = rng.lognormal(np.log(0.12), 0.5, size=n) * times
            slow = rng.random(n) < share
            latency[slow] = rng.uniform(1.2, 3.0, size=int(slow.sum()))
            minutes.append(latency)
        return minutes

    def bucket_samples(self, requests: Sequence[np.ndarray] | None = None) -> list[Sample]:
        """Each minute as the Prometheus source stores it: one latency_bucket sample per
        bound (the minute's increase of the cumulative bucket), none for idle minutes."""
        requests = self.requests() if requests is None else requests
        base = f"job=wedapp,operation={self.operation},wedding_id={self.wedding_id}"
        samples = []
        for i, latency in enumerate(requests):
            if not len(latency):
                continue
            sorted_latency = np.sort(latency)
            for bound in BOUNDS:
                samples.append(
                    Sample(
                        ts=self.opens + timedelta(minutes=i),
                        source="prometheus",
                        metric=LATENCY_BUCKET,
                        operation=self.operation,
                        series=f"{base}|le={le_label(bound)}",
                        wedding_id=self.wedding_id,
                        attributed_by="label",
                        value=float(np.searchsorted(sorted_latency, bound, side="right")),
                        le=bound,
                    )
                )
        return samples
