"""What meeting the replay's 10-minute budget would cost a policy that knows more than
wedperf can: the cheapest floor under the sandbox's reactive autoscaler (the replay's HPA at
90%, metric 2 min late, pods serving 3 min after the decision) with at most 10 / 0
under-provisioned event minutes a year, for each rung of knowledge (docs/capacity.md,
"How cheap can it get"):

- `realised_and_noise_5_min_late`: each wedding's load exactly as it will be, and the
  minute noise as the metrics show it, 5 minutes late (what reactive sees);
- `realised`: each wedding's load exactly as it will be; the minute noise unknown;
- `timings_and_guests`: each wedding's active guests and its day's timings exactly, not its
  intensity (the load model's per-wedding draw); noise unknown;
- `days_ahead`: what the app knows days ahead — the calendar sync's active-guest estimate (or
  invited guests where it has none) x a per-active-guest curve by minute from the ceremony
  (the 90th percentile over the year's weddings, in sample: the load model's own
  distribution, which a policy would have to learn) — and the platform baseline exactly.

Every rung's floor is `ceil(load it knows x k / per-replica capacity)`, raised 3 minutes
ahead (the pod start) inside the day windows (from 3 minutes before they open), the HPA's
90% on top and alone outside; k is swept (0.05, then 0.01 between the grid points around
each budget). Costs are replica-hours / the oracle's over the replay's scored period (from
its first forecast round), as in bench/replay.py. These are the cheapest floors
proportional to what a rung knows, not proofs that nothing cleverer exists; but the top
rungs know what no policy can know ahead, so their costs are ones no policy should expect
to reach.

    WEDPERF_DATASETS_DIR=... uv run python bench/information_bound.py   # about 5 minutes

Last line: {"rungs": {name: {"cost_at_10_minutes": ..., "k_at_10_minutes": ...,
"cost_at_0_minutes": ..., "k_at_0_minutes": ...}}, "event_minutes": N}
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from bench._common import progress, report
from bench.replay import first_round, sandbox, scored
from wedperf.capacity.replay import ReactiveConfig, evaluate, oracle, reactive
from wedperf.sandbox.demand import demand_parts, with_active_guests

POD_START = ReactiveConfig().pod_start
BUDGETS = (10, 0)
CURVE_PERCENTILE = 90
GRID = 0.05
STEP = 0.01
K_MAX = 4.0


def knowledge_rungs(series) -> dict[str, np.ndarray]:
    """Requests/s each rung knows ahead, per minute (the shipped seeds: demand 7, guests
    2026)."""
    active = with_active_guests(series.weddings, seed=2026)
    parts = demand_parts(active, series.minutes, version="v2", seed=7)
    if not np.allclose(parts.total(), series.load):
        raise RuntimeError("the load model's parts do not add up to the replay's load")
    n = len(series.load)
    realised = series.load / parts.noise
    # The noise as a 2-minute-late metric shows it to a decision whose pods serve 3 minutes
    # later: log-noise 5 minutes old, carried forward by the AR(1)'s 0.95 a minute.
    lag = 2 + POD_START
    x = np.log(parts.noise) + 0.005
    seen = np.concatenate([np.zeros(lag), x[:-lag]]) * 0.95**lag
    without_intensity = parts.baseline.copy()
    per_active = []
    for (lo, end), extra, intensity, i in zip(
        parts.windows, parts.extras, parts.intensities, parts.wedding_index, strict=True
    ):
        a, b = max(lo, 0), min(end, n)
        without_intensity[a:b] += extra[a - lo : b - lo] / intensity
        per_active.append(extra / max(active[i].active, 1))
    # The curve by minute from the day window's opening (3 h before the ceremony).
    longest = max(len(c) for c in per_active)
    stacked = np.full((len(per_active), longest), np.nan)
    for row, c in enumerate(per_active):
        stacked[row, : len(c)] = c
    curve = np.nanpercentile(stacked, CURVE_PERCENTILE, axis=0)
    days_ahead = parts.baseline.copy()
    ops = series.settings.ops
    for (lo, end), i in zip(parts.windows, parts.wedding_index, strict=True):
        wedding = series.weddings[i]
        guests = (
            wedding.active_guests
            if wedding.active_guests is not None
            else wedding.guest_count
            * ops.requests_per_guest_per_s
            / ops.requests_per_active_guest_per_s
        )
        a, b = max(lo, 0), min(end, n)
        days_ahead[a:b] += guests * curve[a - lo : b - lo]
    return {
        "realised_and_noise_5_min_late": realised * np.exp(seen),
        "realised": realised,
        "timings_and_guests": without_intensity,
        "days_ahead": days_ahead,
    }


def main() -> None:
    series = sandbox("v2")
    start, in_window = scored(series, first_round(series))
    n, capacity = len(series.load), series.capacity
    inside = np.zeros(n, dtype=bool)
    for a, b in series.windows:
        inside[max(a - POD_START, 0) : min(b, n)] = True  # ready when the window opens
    oracle_hours = oracle(series.load, capacity)[start:].sum() / 60
    config = ReactiveConfig()

    def score(known: np.ndarray, k: float) -> tuple[int, float]:
        need = np.ceil(known * k / capacity - 1e-9)
        ahead = np.lib.stride_tricks.sliding_window_view(
            np.concatenate([need, np.zeros(POD_START)]), POD_START + 1
        ).max(axis=1)[:n]
        floor = np.where(inside, ahead, 0).astype(np.int64)
        replicas = reactive(series.load, capacity, config, floor=floor)
        result = evaluate(replicas[start:], series.load[start:], capacity, in_window[start:])
        return result.under_provisioned_minutes, result.replica_hours / oracle_hours

    figures = {}
    for name, known in knowledge_rungs(series).items():
        tried: dict[float, tuple[int, float]] = {}

        def at(k: float, name=name, known=known, tried=tried) -> tuple[int, float]:
            k = round(k, 2)
            if k not in tried:
                tried[k] = score(known, k)
                progress(f"{name}: k {k:.2f}: {tried[k][0]} minutes at {tried[k][1]:.3f} x")
            return tried[k]

        rung = {}
        for budget in BUDGETS:
            k = 1.0
            while at(k)[0] > budget and k < K_MAX:
                k += GRID
            if at(k)[0] > budget:
                rung[f"cost_at_{budget}_minutes"] = rung[f"k_at_{budget}_minutes"] = None
                continue
            fine = k - GRID + STEP
            while fine < k and at(fine)[0] > budget:
                fine += STEP
            best = min(fine, k)
            rung[f"k_at_{budget}_minutes"] = round(best, 2)
            rung[f"cost_at_{budget}_minutes"] = round(at(best)[1], 3)
        figures[name] = rung
    report({"rungs": figures, "event_minutes": int(in_window[start:].sum())})


if __name__ == "__main__":
    main()
