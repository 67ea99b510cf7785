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
