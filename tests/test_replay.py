"""The capacity replay simulator on a load step it can be checked against by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from wedperf.capacity.replay import (
    ReactiveConfig,
    WeeklyWindow,
    bisect_threshold,
    evaluate,
    floor_from_forecast,
    oracle,
    reactive,
    weekly_utilisation,
)

CAP = 10.0


def step_load() -> tuple[np.ndarray, np.ndarray, list[tuple[int, int]]]:
    load = np.full(600, 20.0)
    load[300:420] = 200.0  # a wedding: 20 -> 200 req/s for two hours
    window = np.zeros(600, dtype=bool)
    window[300:420] = True
    return load, window, [(300, 420)]


def test_oracle_is_exact() -> None:
    load, window, _ = step_load()
    result = evaluate(oracle(load, CAP), load, CAP, window)
    assert result.under_provisioned_minutes == 0
    assert result.replica_hours == (480 * 2 + 120 * 20) / 60


def test_reactive_is_late_by_lag_plus_pod_start() -> None:
    load, window, _ = step_load()
    config = ReactiveConfig(target_utilisation=0.9, metric_lag=2, pod_start=3)
    replicas = reactive(load, CAP, config)
    result = evaluate(replicas, load, CAP, window)
    assert result.under_provisioned_minutes == 5  # 2 min unseen + 3 min starting pods
    assert replicas[299] == 3 and replicas[310] == 23  # ceil(200 / (10 x 0.9))
    # The drop is seen at 422; scale-in waits out the 5-minute stabilisation window.
    assert replicas[425] == 23 and replicas[427] == 3


def test_predictive_floor_closes_the_gap() -> None:
    load, window, windows = step_load()
    floor = floor_from_forecast(
        600, windows, np.full(600, 200.0), capacity=CAP, headroom=0.1, buffer=10
    )
    assert floor[289] == 0 and floor[290] == 22 and floor[420] == 0
    config = ReactiveConfig()
    with_floor = evaluate(reactive(load, CAP, config, floor=floor), load, CAP, window)
    without = evaluate(reactive(load, CAP, config), load, CAP, window)
    assert with_floor.under_provisioned_minutes == 0 < without.under_provisioned_minutes
    assert with_floor.replica_hours > without.replica_hours


def reactive_minute_by_minute(load, capacity, config, floor=None, utilisation=None):
    """The autoscaler model written out minute by minute, as `reactive` was first written:
    the reference its vectorised form must match."""
    n = len(load)
    seen = np.concatenate([np.full(config.metric_lag, load[0]), load[: -config.metric_lag or None]])
    target_utilisation = config.target_utilisation if utilisation is None else utilisation
    desired = np.maximum(
        config.min_replicas, np.ceil(seen / (capacity * target_utilisation))
    ).astype(np.int64)
    if floor is not None:
        desired = np.maximum(desired, floor)
    serving = np.empty(n, dtype=np.int64)
    current = int(max(desired[0], floor[0] if floor is not None else 0))
    pending: list[tuple[int, int]] = []
    window = config.scale_in_stabilisation
    for t in range(n):
        target = max(int(desired[max(0, t - window + 1) : t + 1].max()), int(desired[t]))
        if target > current + sum(k for _, k in pending):
            pending.append((t + config.pod_start, target - current - sum(k for _, k in pending)))
        elif target < current and not pending:
            current = target
        ready = [k for at, k in pending if at <= t]
        if ready:
            current += sum(ready)
            pending = [(at, k) for at, k in pending if at > t]
        serving[t] = current
    return serving


def test_reactive_matches_the_minute_by_minute_model() -> None:
    """Random bursty loads, lags, pod starts, stabilisation windows, floors and per-minute
    target utilisations: the same replicas every minute."""
    rng = np.random.default_rng(1)
    for _ in range(200):
        n = int(rng.integers(1, 300))
        load = rng.gamma(2, 20, n) * (1 + 5 * (rng.random(n) < 0.05))
        config = ReactiveConfig(
            target_utilisation=float(rng.uniform(0.2, 1.0)),
            metric_lag=int(rng.integers(0, 5)),
            pod_start=int(rng.integers(0, 8)),
            scale_in_stabilisation=int(rng.integers(1, 12)),
            min_replicas=int(rng.integers(0, 4)),
        )
        floor = rng.integers(0, 20, n) if rng.random() < 0.5 else None
        utilisation = rng.uniform(0.2, 0.95, n) if rng.random() < 0.5 else None
        expected = reactive_minute_by_minute(load, CAP, config, floor, utilisation)
        assert (reactive(load, CAP, config, floor, utilisation) == expected).all(), config


def test_the_weekly_window_follows_new_york_wall_clock_time() -> None:
    """Friday 12:00 to Monday 00:00 New York time, in summer (UTC-4) and winter (UTC-5)."""
    window = WeeklyWindow(opens=(4, 12, 0), closes=(0, 0, 0))
    for monday in ("2026-07-06", "2026-12-07"):
        week = pd.date_range(pd.Timestamp(monday, tz="America/New_York"), periods=7 * 1440,
                             freq="min").tz_convert("UTC")  # fmt: skip
        schedule = weekly_utilisation(week, window, utilisation=35, baseline=90)
        local = week.tz_convert("America/New_York")
        inside = schedule == 35
        assert set(np.unique(schedule)) == {35, 90}
        assert inside.sum() == 60 * 60  # 60 hours
        assert not inside[local.get_loc(pd.Timestamp(f"{monday} 00:00", tz=local.tz))]
        friday = pd.Timestamp(monday, tz=local.tz) + pd.Timedelta(days=4)
        assert not inside[local.get_loc(friday + pd.Timedelta(hours=11, minutes=59))]
        assert inside[local.get_loc(friday + pd.Timedelta(hours=12))]
        assert inside[-1]  # Sunday 23:59


def test_a_weekly_window_within_the_weekend_and_one_across_its_end() -> None:
    saturday = pd.Timestamp("2026-07-11", tz="America/New_York")
    minutes = pd.date_range(saturday, periods=3 * 1440, freq="min").tz_convert("UTC")
    local = minutes.tz_convert("America/New_York")

    def at(days: int, hours: int, mins: int = 0) -> int:
        return local.get_loc(saturday + pd.Timedelta(days=days, hours=hours, minutes=mins))

    weekend = WeeklyWindow(opens=(5, 8, 0), closes=(6, 2, 0)).contains(minutes)
    assert not weekend[at(0, 7, 59)] and weekend[at(0, 8)] and weekend[at(1, 1, 59)]
    assert not weekend[at(1, 2)] and weekend.sum() == 18 * 60
    across = WeeklyWindow(opens=(6, 20, 0), closes=(0, 2, 0)).contains(minutes)  # Sun -> Mon
    assert not across[at(1, 19, 59)] and across[at(1, 20)] and across[at(2, 1, 59)]
    assert not across[at(2, 2)] and across.sum() == 6 * 60


def test_a_weekly_window_over_the_hour_the_clocks_skip() -> None:
    """Sunday 8 March 2026, New York: 01:59 is followed by 03:00. A window closing at 02:30
    (a time that does not exist that night) closes at 03:00; one open over the gap is an
    hour shorter than its wall-clock span."""
    minutes = pd.date_range("2026-03-07 00:00", "2026-03-09 00:00", freq="min", tz="UTC")
    local = minutes.tz_convert("America/New_York")
    inside = WeeklyWindow(opens=(5, 8, 0), closes=(6, 2, 30)).contains(minutes)
    last = local[inside][-1]
    assert (last.day, last.hour, last.minute) == (8, 1, 59)
    assert not inside[local.get_loc(pd.Timestamp("2026-03-08 03:00", tz=local.tz))]
    assert inside.sum() == 18 * 60
    over_the_gap = WeeklyWindow(opens=(5, 8, 0), closes=(6, 4, 0)).contains(minutes)
    assert over_the_gap.sum() == 19 * 60  # Saturday 08:00 to Sunday 04:00: 20 h on the clock


def test_bisection_finds_the_threshold_to_the_tolerance() -> None:
    calls: list[float] = []

    def ok(x: float) -> bool:
        calls.append(x)
        return x <= 0.3721

    found = bisect_threshold(ok, 0.35, 0.40, tolerance=0.001)
    assert 0.3721 - 0.001 < found <= 0.3721
    assert len(calls) == 6  # 0.05 halved to below 0.001
    assert 0.35 not in calls and 0.40 not in calls


def test_bisection_stops_at_a_good_enough_point() -> None:
    def ratio(x: float) -> float:  # replica-hours falling with the target utilisation
        return 3.0 - (x - 0.2) / 0.75 * 2.0

    # At or above the goal only: a point within 0.5% below it is not good enough.
    found = bisect_threshold(lambda x: ratio(x) >= 2.2, 0.2, 0.95, tolerance=1e-4,
                             good_enough=lambda x: 0 <= ratio(x) / 2.2 - 1 <= 0.005)  # fmt: skip
    assert 0 <= ratio(found) / 2.2 - 1 <= 0.005
    exact = bisect_threshold(lambda x: ratio(x) >= 2.2, 0.2, 0.95, tolerance=1e-4)
    assert ratio(exact) >= 2.2 and ratio(exact) - 2.2 < 3e-4
    with pytest.raises(ValueError):
        bisect_threshold(lambda x: True, 0.5, 0.5, tolerance=0.01)
