"""The capacity replay simulator on a load step it can be checked against by hand."""

from __future__ import annotations

import numpy as np

from wedperf.capacity.replay import (
    ReactiveConfig,
    evaluate,
    floor_from_forecast,
    oracle,
    reactive,
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
