"""Dense collection instants from wedding day windows (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from wedperf.calendar.schedule import merge_windows, window_grid_times
from wedperf.metrics.model import aligned_window

NOW = datetime(2026, 10, 17, 12, 0, 30, tzinfo=UTC)
H = timedelta(hours=1)
M = timedelta(minutes=1)


def test_overlapping_windows_share_instants() -> None:
    windows = [(NOW + H, NOW + 2 * H)] * 2000 + [(NOW + 90 * M, NOW + 3 * H)]
    assert merge_windows(windows) == [(NOW + H, NOW + 3 * H)]
    times = window_grid_times(windows, now=NOW, horizon=4 * H, interval=M)
    assert len(times) == 120  # one run per minute over 2 h, not one per wedding
    assert times[0] == datetime(2026, 10, 17, 13, 1, tzinfo=UTC)  # grid-aligned
    assert times[-1] == datetime(2026, 10, 17, 15, 0, tzinfo=UTC)
    assert all(b - a == M for a, b in zip(times, times[1:], strict=False))


def test_horizon_and_past_bound_the_plan() -> None:
    windows = [(NOW - 2 * H, NOW + 10 * M), (NOW + 5 * H, NOW + 6 * H)]
    times = window_grid_times(windows, now=NOW, horizon=H, interval=5 * M)
    assert times == [NOW.replace(second=0) + timedelta(minutes=m) for m in (5, 10)]
    assert window_grid_times([], now=NOW, horizon=H, interval=M) == []


def test_disjoint_windows_stay_apart() -> None:
    windows = [(NOW + H, NOW + H + 3 * M), (NOW + 2 * H, NOW + 2 * H + 2 * M)]
    times = window_grid_times(windows, now=NOW, horizon=3 * H, interval=M)
    assert len(times) == 5


def test_aligned_window_repeats_the_same_instants() -> None:
    a = aligned_window(NOW, timedelta(minutes=5), timedelta(seconds=60))
    b = aligned_window(NOW + timedelta(seconds=20), timedelta(minutes=5), timedelta(seconds=60))
    assert (
        a
        == b
        == (datetime(2026, 10, 17, 11, 55, tzinfo=UTC), datetime(2026, 10, 17, 12, 0, tzinfo=UTC))
    )
    with pytest.raises(ValueError):
        aligned_window(NOW, timedelta(minutes=5), timedelta(0))
