"""The sandbox's load model: v2 is driven by active guests, its timings jitter and its noise
is correlated; v1 stays what it was."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from wedperf.sandbox.demand import (
    DemandWedding,
    day_rates_v2,
    demand,
    demand_parts,
    platform_baseline,
    with_active_guests,
)

MINUTES = pd.date_range(datetime(2030, 6, 1, tzinfo=UTC), periods=2 * 24 * 60, freq="min")
CEREMONY = datetime(2030, 6, 1, 20, 0, tzinfo=UTC)


def one(active: int, invited: int = 150) -> DemandWedding:
    return DemandWedding(CEREMONY, CEREMONY + timedelta(hours=6), invited, active)


def test_v2_load_follows_active_guests_not_invited() -> None:
    base, _ = demand([one(active=0)], MINUTES, version="v2", seed=3)
    few, _ = demand([one(active=40)], MINUTES, version="v2", seed=3)
    many, windows = demand([one(active=120)], MINUTES, version="v2", seed=3)
    lo, hi = windows[0]
    assert np.allclose(base, demand([one(active=0, invited=400)], MINUTES, seed=3)[0])
    assert (few[lo:hi] - base[lo:hi]).sum() > 0
    # Same seed, same timings and noise: the wedding's load is proportional to active guests.
    np.testing.assert_allclose((many - base)[lo:hi], 3 * (few - base)[lo:hi], rtol=1e-9)


def test_the_day_window_is_three_hours_before_the_ceremony_to_the_end() -> None:
    _, windows = demand([one(50)], MINUTES)
    start = int((CEREMONY - MINUTES[0]).total_seconds() // 60)
    assert windows == [(start - 180, start + 360)]


def test_v2_timings_jitter_from_wedding_to_wedding() -> None:
    """Without noise: the ceremony's quiet starts late, by a different amount each wedding,
    and the photo burst after dinner starts at a different minute too."""
    offsets = np.arange(-180, 360)
    quiet_from, burst_at = [], []
    for seed in range(200):
        rate = day_rates_v2(offsets, 360, np.random.default_rng(seed))
        quiet_from.append(int(offsets[np.argmax((offsets >= 0) & (rate < 0.02))]))
        burst_at.append(int(offsets[np.argmax(rate)]))
    assert 5 < np.mean(quiet_from) < 15 and np.std(quiet_from) > 4  # gamma(2, 5): mean 10
    assert min(quiet_from) >= 0
    assert np.std(burst_at) > 15 and min(burst_at) > 150


def test_each_parts_intensity_is_the_draw_in_its_load() -> None:
    """Divided by its active guests and its intensity, every wedding's extra load peaks at
    the photo burst's rate per active guest (0.14 + dancing's 0.035): the intensity is what
    makes weddings of the same size differ, and the parts say what it was."""
    weddings = [one(active=60) for _ in range(40)]
    parts = demand_parts(weddings, MINUTES, version="v2", seed=5)
    peaks = [extra.max() / 60 for extra in parts.extras]
    unit_peaks = [p / k for p, k in zip(peaks, parts.intensities, strict=True)]
    assert len(parts.intensities) == len(weddings)
    assert np.std(np.log(peaks)) > 0.15  # lognormal sd 0.3 between weddings
    assert all(0.17 < p <= 0.175 + 1e-12 for p in unit_peaks)
    # v1: invited guests x 0.05 x intensity x its phase shape, whose peak is 1.1.
    v1 = demand_parts(weddings, MINUTES, version="v1", seed=5)
    np.testing.assert_allclose(
        [e.max() / k for e, k in zip(v1.extras, v1.intensities, strict=True)], 150 * 0.05 * 1.1
    )


def test_v2_minute_noise_is_correlated_and_v1_is_not() -> None:
    quiet = platform_baseline(MINUTES)
    v1, _ = demand([], MINUTES, version="v1", seed=5)
    v2, _ = demand([], MINUTES, version="v2", seed=5)

    def lag1(x: np.ndarray) -> float:
        r = np.log(x / quiet)
        return float(np.corrcoef(r[:-1], r[1:])[0, 1])

    assert lag1(v2) > 0.9 and abs(lag1(v1)) < 0.05


def test_active_guests_are_a_share_of_the_invited() -> None:
    class W:
        starts_at, ends_at, guest_count = CEREMONY, CEREMONY + timedelta(hours=6), 200

    active = [w.active for w in with_active_guests([W()] * 300, seed=1)]
    assert all(0 <= a <= 200 for a in active)
    assert 0.5 < np.mean(active) / 200 < 0.75 and np.std(active) > 10


def test_an_unknown_version_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown load model 'v3'"):
        demand([], MINUTES, version="v3")
