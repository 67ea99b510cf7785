"""Replaying a load series through capacity policies, minute by minute (pure numpy).

Three policies over the same per-minute load L(t) (requests/s) with per-replica capacity c
(requests/s one replica serves within the latency SLO):

- oracle: knows the future; exactly ceil(L(t) / c) replicas every minute;
- reactive: target tracking at utilisation `target_utilisation`, seeing the load `metric_lag`
  minutes late, new replicas serving `pod_start` minutes after the decision, scale-in only
  after `scale_in_stabilisation` minutes of lower demand (the HPA defaults' shape);
- wedperf: the same reactive autoscaler on top of a predictive floor — ceil(forecast upper
  bound x (1 + headroom) / c) from `floor_buffer` before each event window until its end.

Under-provisioned minutes are minutes inside event windows with replicas x c < L(t).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ReactiveConfig:
    target_utilisation: float = 0.9
    metric_lag: int = 2  # minutes
    pod_start: int = 3  # minutes
    scale_in_stabilisation: int = 5  # minutes
    min_replicas: int = 1


@dataclass(frozen=True)
class PolicyResult:
    replicas: np.ndarray
    under_provisioned_minutes: int
    replica_hours: float

    def summary(self) -> dict[str, float]:
        return {
            "under_provisioned_minutes": int(self.under_provisioned_minutes),
            "replica_hours": round(float(self.replica_hours), 1),
        }


def oracle(load: np.ndarray, capacity: float, minimum: int = 1) -> np.ndarray:
    return np.maximum(minimum, np.ceil(load / capacity)).astype(np.int64)


def reactive(
    load: np.ndarray, capacity: float, config: ReactiveConfig, floor: np.ndarray | None = None
) -> np.ndarray:
    """Replicas serving each minute under target tracking (with an optional floor under it)."""
    n = len(load)
    seen = np.concatenate([np.full(config.metric_lag, load[0]), load[: -config.metric_lag or None]])
    desired = np.maximum(
        config.min_replicas, np.ceil(seen / (capacity * config.target_utilisation))
    ).astype(np.int64)
    if floor is not None:
        desired = np.maximum(desired, floor)
    serving = np.empty(n, dtype=np.int64)
    current = int(max(desired[0], floor[0] if floor is not None else 0))
    pending: list[tuple[int, int]] = []  # (minute ready, replica count)
    window = config.scale_in_stabilisation
    for t in range(n):
        # Scale-in: only to the highest demand of the stabilisation window.
        recent_peak = int(desired[max(0, t - window + 1) : t + 1].max())
        target = max(recent_peak, int(desired[t]))
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


def evaluate(
    replicas: np.ndarray, load: np.ndarray, capacity: float, in_window: np.ndarray
) -> PolicyResult:
    short = (replicas * capacity < load) & in_window
    return PolicyResult(replicas, int(short.sum()), float(replicas.sum()) / 60.0)


def floor_from_forecast(
    n_minutes: int,
    windows: list[tuple[int, int]],
    upper_by_minute: np.ndarray,
    *,
    capacity: float,
    headroom: float,
    buffer: int,
) -> np.ndarray:
    """Per minute inside the event windows (opened `buffer` minutes early): replicas for the
    forecast upper bound with headroom, looking `buffer` minutes ahead so capacity is ready
    before the forecast rises — a schedule that follows the forecast's shape, hour by hour,
    rather than one level for the whole window. 0 outside windows (reactive only)."""
    # 22.000000001 replicas is 22.
    need = np.ceil(np.nan_to_num(upper_by_minute) * (1 + headroom) / capacity - 1e-9)
    ahead = (
        np.lib.stride_tricks.sliding_window_view(
            np.concatenate([need, np.zeros(buffer)]), buffer + 1
        ).max(axis=1)
        if buffer
        else need
    )
    inside = np.zeros(n_minutes, dtype=bool)
    for start, end in windows:
        inside[max(0, start - buffer) : min(n_minutes, end)] = True
    return np.where(inside, ahead[:n_minutes], 0).astype(np.int64)
