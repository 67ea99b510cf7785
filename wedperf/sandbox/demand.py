"""The sandbox's request demand, minute by minute: one load model for the replay benchmark
and anything else that needs a year of wedding-driven load.

Two versions:

- `v1`, the original: every wedding adds invited guests x 0.05 requests/s x a phase shape
  with steps exactly at the offsets the forecast features encode (check-ins from 60 minutes
  before the ceremony, a quiet ceremony, dinner, photo uploads from 3 hours after), times a
  per-wedding intensity; independent minute noise. Partly circular: the model a calendar
  forecaster assumes is the model the load follows.
- `v2`: load comes from *active* guests (those who accepted and use the app, a per-wedding
  share), the day's timings jitter (ceremonies start late, cocktails and dinner run long),
  each phase has its own rate per active guest, the photo burst after dinner decays, and the
  minute noise is AR(1) (minutes are correlated, so bad minutes come in runs).

Both add a platform baseline with a New York daily cycle and busier weekends. The rates
are modelling assumptions (docs/sandbox.md, "What load looks like"), not published figures;
what matters for the replay is that no policy sees them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd
from scipy.signal import lfilter

from wedperf.sandbox.engagement import decide_engagement

VERSIONS = ("v1", "v2")
# v1's own peak requests/s per invited guest (the capacity settings' former default; they
# now size invited guests on v2's calibration, OpsSettings.requests_per_guest_per_s).
PER_GUEST_V1 = 0.05
# v2: requests/s per active guest in each phase (modelling assumptions).
RATES_V2 = {
    "before": 0.010,  # the morning: timeline and guest-list look-ups
    "arrival": 0.090,  # check-ins, the hour before the ceremony (peak ~15 min before)
    "ceremony": 0.008,  # phones away
    "cocktails": 0.050,  # first photos, seating look-ups
    "dinner": 0.025,
    "photos": 0.140,  # the burst after dinner, decaying over ~45 minutes
    "dancing": 0.035,
}
# v2: how late a ceremony starts, in minutes: gamma(2, 5), mean 10 (a modelling assumption;
# the sandbox's live weddings start their ceremony items by the same law, wedperf.sandbox.live).
CEREMONY_LATE_SHAPE, CEREMONY_LATE_SCALE_MIN = 2.0, 5.0


@dataclass(frozen=True)
class DemandWedding:
    """What the load model needs of a wedding."""

    starts_at: datetime  # ceremony
    ends_at: datetime  # end of the reception
    invited: int
    active: int  # guests who will use the app on the day (v2)


def with_active_guests(weddings: Sequence, seed: int = 0) -> list[DemandWedding]:
    """Each wedding (anything with starts_at, ends_at, guest_count) with its active guests:
    a share of the invited who turn up, and of those who use the app, drawn per wedding in
    the order given (wedperf.sandbox.engagement, which the sandbox app's guest rows follow
    too: give the weddings in play in ceremony order, as the sandbox numbers them)."""
    active = decide_engagement([w.guest_count for w in weddings], seed).active.tolist()
    return [
        DemandWedding(w.starts_at, w.ends_at, w.guest_count, a)
        for w, a in zip(weddings, active, strict=True)
    ]


def platform_baseline(minutes: pd.DatetimeIndex) -> np.ndarray:
    """Requests/s of everything that is not a wedding day: a New York daily cycle, weekends
    25% busier."""
    eastern = minutes.tz_convert("America/New_York")
    hour = eastern.hour.to_numpy() + eastern.minute.to_numpy() / 60
    diurnal = 0.35 + 0.65 * np.clip(np.sin(np.pi * (hour - 6) / 18), 0, None)
    weekend = np.where(eastern.day_of_week.to_numpy() >= 5, 1.25, 1.0)
    return 20.0 * diurnal * weekend


def demand(
    weddings: Sequence[DemandWedding],
    minutes: pd.DatetimeIndex,
    *,
    version: str = "v2",
    seed: int = 7,
) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Per-minute requests/s over `minutes` and each wedding's day window (minute offsets
    from the first minute: 3 h before the ceremony to the end of the reception)."""
    parts = demand_parts(weddings, minutes, version=version, seed=seed)
    return parts.total(), list(parts.windows)


@dataclass(frozen=True)
class DemandParts:
    """`demand` taken apart: total requests/s = (baseline + each wedding's extra over its
    window) x noise. `extras[i]` covers minutes windows[i] = [lo, end) (offsets from the
    first minute; lo may be negative, end past the span); `wedding_index[i]` says which of
    the weddings given it is (weddings wholly outside the span have none); `intensities[i]`
    is the part's own intensity draw, already in `extras[i]` (what no calendar knows days ahead:
    bench/information_bound.py takes it out)."""

    baseline: np.ndarray
    windows: list[tuple[int, int]]
    extras: list[np.ndarray]
    wedding_index: list[int]
    noise: np.ndarray
    intensities: list[float]

    def total(self) -> np.ndarray:
        """requests/s of the whole platform per minute: (baseline + every wedding's extra
        over its window) x noise."""
        load = self.baseline.copy()
        for (lo, end), extra in zip(self.windows, self.extras, strict=True):
            a, b = max(lo, 0), min(end, len(load))
            load[a:b] += extra[a - lo : b - lo]
        return load * self.noise

    def wedding_rps(self, i: int) -> np.ndarray:
        """requests/s of the i-th part's wedding over the whole span, the noise applied."""
        lo, end = self.windows[i]
        out = np.zeros(len(self.noise))
        a, b = max(lo, 0), min(end, len(self.noise))
        out[a:b] = self.extras[i][a - lo : b - lo]
        return out * self.noise


def demand_parts(
    weddings: Sequence[DemandWedding],
    minutes: pd.DatetimeIndex,
    *,
    version: str = "v2",
    seed: int = 7,
) -> DemandParts:
    """The parts of `demand` (same seed, same draws): the platform baseline, each wedding's
    own requests/s over its day window, and the minute noise they share."""
    if version not in VERSIONS:
        raise ValueError(f"unknown load model {version!r}; known: {', '.join(VERSIONS)}")
    rng = np.random.default_rng(seed)
    n = len(minutes)
    baseline = platform_baseline(minutes)
    windows, extras, index, intensities = [], [], [], []
    start0 = minutes[0]
    for i, w in enumerate(weddings):
        c = int((pd.Timestamp(w.starts_at) - start0).total_seconds() // 60)
        end = int((pd.Timestamp(w.ends_at) - start0).total_seconds() // 60)
        lo = c - 180
        if end <= 0 or lo >= n:
            continue
        offsets = np.arange(lo, end) - c
        if version == "v1":
            shape = np.select(
                [offsets < -60, offsets < 0, offsets < 45, offsets < 180],
                [0.2 + 0.4 * (offsets + 180) / 120, 1.0, 0.4, 0.7],
                1.1,  # photo uploads after dinner
            )
            intensity = rng.lognormal(-0.045, 0.3)
            extra = w.invited * PER_GUEST_V1 * intensity * shape
        else:
            intensity = rng.lognormal(-0.045, 0.3)
            extra = w.active * intensity * day_rates_v2(offsets, end - c, rng)
        intensities.append(float(intensity))
        windows.append((lo, end))
        extras.append(extra)
        index.append(i)
    if version == "v1":
        noise = rng.lognormal(-0.003, 0.08, size=n)
    else:
        noise = np.exp(_ar1(n, phi=0.95, sd=0.10, rng=rng) - 0.005)
    return DemandParts(baseline, windows, extras, index, noise, intensities)


def day_rates_v2(offsets: np.ndarray, length: int, rng: np.random.Generator) -> np.ndarray:
    """Requests/s per active guest at each minute offset from the scheduled ceremony, with
    this wedding's own timings: the ceremony starts late (gamma, mean 10 min), lasts 30-60
    min, cocktails and dinner run 0.8-1.4x their hour and 90 minutes."""
    late = rng.gamma(CEREMONY_LATE_SHAPE, CEREMONY_LATE_SCALE_MIN)
    ceremony_end = late + rng.uniform(30, 60)
    cocktails_end = ceremony_end + 60 * rng.uniform(0.8, 1.4)
    dinner_end = cocktails_end + 90 * rng.uniform(0.8, 1.4)
    t = offsets.astype(float)
    # Check-ins: a triangle over the hour before the (late) start, peaking 15 min before.
    arrival = np.where(t < late, np.clip(1 - np.abs(t - (late - 15)) / 45, 0, None), 0.0)
    since_dinner = t - dinner_end
    photos = np.where(since_dinner >= 0, np.exp(-since_dinner / 45), 0.0)
    rate = np.select(
        [t < late - 60, t < late, t < ceremony_end, t < cocktails_end, t < dinner_end],
        [RATES_V2["before"], RATES_V2["before"], RATES_V2["ceremony"], RATES_V2["cocktails"],
         RATES_V2["dinner"]],
        RATES_V2["dancing"],
    )  # fmt: skip
    rate = rate + RATES_V2["arrival"] * arrival + RATES_V2["photos"] * photos
    return np.where(t < length, rate, 0.0)


def _ar1(n: int, *, phi: float, sd: float, rng: np.random.Generator) -> np.ndarray:
    """A stationary AR(1) series with standard deviation `sd` (vectorised by blocks)."""
    shocks = rng.normal(0, sd * np.sqrt(1 - phi**2), n)
    out = np.empty(n)
    out[0] = rng.normal(0, sd)
    # x_t = phi x_{t-1} + e_t as a linear filter (scipy comes with statsmodels).
    out[1:] = lfilter([1.0], [1.0, -phi], shocks[1:], zi=[phi * out[0]])[0]
    return out
