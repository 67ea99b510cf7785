"""The replay benchmark's searches and its held-out check, on series small enough to check
by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bench.replay import Series, bracket, held_out_check, reactive_threshold, split_at
from wedperf.config import Settings
from wedperf.forecast.settings import ForecastSettings

CAP = 10.0


def two_months() -> tuple[Series, np.ndarray]:
    """June and July 2026 by the minute, 20 req/s; a two-hour event window each day at
    18:00 UTC, and one open over New York's midnight into 1 July (03:00-06:00 UTC)."""
    minutes = pd.date_range("2026-06-01", "2026-08-01", freq="min", tz="UTC", inclusive="left")
    windows = [(d * 1440 + 18 * 60, d * 1440 + 20 * 60) for d in range(61)]
    over_midnight = int((pd.Timestamp("2026-07-01 03:00", tz="UTC") - minutes[0]).total_seconds()
                        // 60)  # fmt: skip
    windows.append((over_midnight, over_midnight + 180))
    in_window = np.zeros(len(minutes), dtype=bool)
    for a, b in windows:
        in_window[a:b] = True
    series = Series("test", minutes, np.full(len(minutes), 20.0), windows, [], CAP, Settings(),
                    ForecastSettings())  # fmt: skip
    return series, in_window


def test_the_held_out_half_starts_when_no_window_is_open() -> None:
    series, in_window = two_months()
    split = split_at(series, 0, in_window)
    # New York midnight is 04:00 UTC, inside the 03:00-06:00 window: the split waits for it.
    assert series.minutes[split] == pd.Timestamp("2026-07-01 06:00", tz="UTC")
    assert not in_window[split] and in_window[split - 1]
    # A scored period starting after 1 July has no selection half.
    assert split_at(series, split + 1, in_window) is None


def test_the_held_out_choice_is_the_cheapest_under_the_pro_rata_bar() -> None:
    series, in_window = two_months()
    split = split_at(series, 0, in_window)
    n = len(series.load)

    def replicas(level: int, short_before: int, short_after: int):
        """`level` replicas (2 serve the load), one replica short for the first
        `short_before` event minutes before the split and `short_after` after it."""

        def run() -> np.ndarray:
            out = np.full(n, level)
            events = np.flatnonzero(in_window)
            for k in (list(events[events < split][:short_before])
                      + list(events[events >= split][:short_after])):  # fmt: skip
                out[k] = 1
            return out

        return run

    families = {
        "cheap_and_risky": [(3, replicas(3, 40, 0)), (4, replicas(4, 0, 9))],
        "none_under_the_bar": [(2, replicas(2, 50, 50)), (5, replicas(5, 30, 0)),
                               (6, replicas(6, 30, 5))],
    }  # fmt: skip
    out = held_out_check(series, 0, in_window, families,
                         {"cheap_and_risky": 3, "none_under_the_bar": 2})  # fmt: skip
    total = int(in_window.sum())
    selection = int(in_window[:split].sum())
    assert out["event_minutes"] == {"selection": selection, "held_out": total - selection}
    assert out["bar_minutes"]["selection"] == round(10 * selection / total, 2)
    assert 0 < out["bar_minutes"]["selection"] < 40

    risky = out["families"]["cheap_and_risky"]
    # 3 replicas are cheaper but 40 minutes short before the split: 4 is chosen.
    assert risky["chosen"] == 4 and risky["met_the_bar"]
    assert risky["selection"]["under_provisioned_minutes"] == 0
    assert risky["held_out"]["under_provisioned_minutes"] == 9
    # The oracle runs 2 replicas: 4 cost 2 x its replica-hours, the short minute aside.
    assert risky["selection"]["replica_hours_ratio"] == 2.0
    assert risky["shipped_default"] == {"setting": 3, "under_provisioned_minutes": 0,
                                        "replica_hours_ratio": 1.5}  # fmt: skip

    fallback = out["families"]["none_under_the_bar"]
    # Nothing is under the bar: the fewest minutes (30, twice), then the cheaper.
    assert not fallback["met_the_bar"] and fallback["chosen"] == 5
    assert fallback["hindsight"]["setting"] == 5  # 0 minutes after the split


def test_the_threshold_is_bisected_between_the_grid_points_around_it() -> None:
    tried: dict[float, dict] = {}

    def reactive_at(u: float) -> dict:
        # Minutes rise with the utilisation: 0 up to 0.3, then 1 per 0.001.
        point = {"target_utilisation": round(u, 6),
                 "under_provisioned_minutes": max(0, int((u - 0.3) * 1000)),
                 "replica_hours_ratio": round(1 / u, 4)}  # fmt: skip
        tried[round(u, 6)] = point
        return point

    grid = [reactive_at(u) for u in (0.25, 0.3, 0.35, 0.4, 0.9)]
    assert bracket(grid, "target_utilisation", 10) == (0.3, 0.35)
    found = reactive_threshold(reactive_at, grid, 10)
    assert 0.309 <= found["target_utilisation"] <= 0.311
    assert found["under_provisioned_minutes"] <= 10
    assert all(0.3 < u < 0.35 for u in set(tried) - {0.25, 0.3, 0.35, 0.4, 0.9})
    # Nothing reaches it: none; everything does: the highest utilisation tried, 1.0.
    assert reactive_threshold(reactive_at, [reactive_at(0.9)], -1) is None
    calm = lambda u: {"target_utilisation": u, "under_provisioned_minutes": 0}  # noqa: E731
    assert reactive_threshold(calm, [calm(0.5), calm(0.9)], 0)["target_utilisation"] == 1.0


@pytest.mark.parametrize("minutes", [0, 10])
def test_a_grid_without_a_failing_point_has_no_upper_bracket(minutes: int) -> None:
    grid = [{"u": u, "under_provisioned_minutes": 0} for u in (1, 2, 3)]
    assert bracket(grid, "u", minutes) == (3, None)
