"""What meeting the replay's 10-minute budget costs floors that know more than wedperf can:
the cheapest floor of one simple rule under the sandbox's reactive autoscaler (the replay's
HPA at 90%, metric 2 min late, pods serving 3 min after the decision) with at most 10 / 0
under-provisioned event minutes a year, for each rung of knowledge (docs/capacity.md,
"How cheap can it get"). Every rung also sees the minute noise as the metrics show it to
any policy: 5 minutes late (2 min metric lag + 3 min pod start), carried forward by the
AR(1).

- `realised`: each wedding's load exactly as it will be (its active guests, intensity and
  timings);
- `timings_and_guests`: each wedding's active guests and its day's timings to the minute,
  not its intensity (the load model's per-wedding draw);
- `days_ahead_pNN` (shipped seeds only: the calendar's estimates come from the app rows of
  those seeds): what the app knows days ahead — the calendar sync's active-guest estimate
  (or invited guests where it has none) x the year's NN-th percentile load per active guest
  by minute from the ceremony (in sample: the load model's own distribution, which a policy
  would have to learn) — and the platform baseline exactly.

The rule: floor = `ceil(what it knows x k / per-replica capacity)`, raised 3 minutes ahead
(the pod start) inside the day windows (from 3 minutes before they open), the HPA's 90% on
top and alone outside; k swept (0.05, then 0.01 between the grid points around each
budget). Costs are replica-hours / the oracle's over the replay's scored period (from its
first forecast round), as in bench/replay.py, on the shipped seeds (demand 7, guests 2026)
and bench/replay.py's other two. Each figure is a cost that knowledge *achieves* with this
rule — an upper bound on the best that knowledge can do, not a lower bound on what a
cleverer rule might: separate multipliers for the baseline and the weddings, or a level
learnt on the day from a wedding's first hours (what the nowcast reads), can do better.

    WEDPERF_DATASETS_DIR=... uv run python bench/information_bound.py   # about 15 minutes

Last line: {"seeds": {"7/2026": {rung: {"cost_at_10_minutes": ..., "k_at_10_minutes": ...,
"cost_at_0_minutes": ..., "k_at_0_minutes": ...}}, ...}, "event_minutes": N}
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from bench._common import progress, report
from bench.replay import OTHER_SEEDS, first_round, reseeded, sandbox, scored
from wedperf.capacity.replay import ReactiveConfig, evaluate, oracle, reactive
from wedperf.sandbox.demand import demand_parts, with_active_guests

POD_START = ReactiveConfig().pod_start
BUDGETS = (10, 0)
CURVE_PERCENTILES = (80, 90, 95)
SHIPPED_SEEDS = (7, 2026)
K_START = 0.9
GRID = 0.05
STEP = 0.01
K_MAX = 4.0


def knowledge_rungs(series, seeds: tuple[int, int]) -> dict[str, np.ndarray]:
    """Requests/s each rung knows ahead, per minute, for the series' load drawn with
    `seeds` (demand, guests)."""
    demand_seed, guests_seed = seeds
    active = with_active_guests(series.weddings, seed=guests_seed)
    parts = demand_parts(active, series.minutes, version="v2", seed=demand_seed)
    if not np.allclose(parts.total(), series.load):
        raise RuntimeError("the load model's parts do not add up to the replay's load")
    n = len(series.load)
    # The noise as a 2-minute-late metric shows it to a decision whose pods serve 3 minutes
    # later: log-noise 5 minutes old, carried forward by the AR(1)'s 0.95 a minute.
    lag = 2 + POD_START
    x = np.log(parts.noise) + 0.005
    seen = np.exp(np.concatenate([np.zeros(lag), x[:-lag]]) * 0.95**lag)
    without_intensity = parts.baseline.copy()
    per_active = []
    for (lo, end), extra, intensity, i in zip(
        parts.windows, parts.extras, parts.intensities, parts.wedding_index, strict=True
    ):
        a, b = max(lo, 0), min(end, n)
        without_intensity[a:b] += extra[a - lo : b - lo] / intensity
        per_active.append(extra / max(active[i].active, 1))
    rungs = {
        "realised": series.load / parts.noise * seen,
        "timings_and_guests": without_intensity * seen,
    }
    if seeds != SHIPPED_SEEDS:
        return rungs
    # The curve by minute from the day window's opening (3 h before the ceremony).
    longest = max(len(c) for c in per_active)
    stacked = np.full((len(per_active), longest), np.nan)
    for row, c in enumerate(per_active):
        stacked[row, : len(c)] = c
    ops = series.settings.ops
    for percentile in CURVE_PERCENTILES:
        curve = np.nanpercentile(stacked, percentile, axis=0)
        days_ahead = parts.baseline.copy()
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
        rungs[f"days_ahead_p{percentile}"] = days_ahead * seen
    return rungs


def cheapest(score, name: str) -> dict:
    """The lowest k (to 0.01) meeting each budget, and its cost, assuming the minutes do
    not rise with k (they did not at any k tried)."""
    tried: dict[float, tuple[int, float]] = {}

    def at(k: float) -> tuple[int, float]:
        k = round(k, 2)
        if k not in tried:
            tried[k] = score(k)
            progress(f"{name}: k {k:.2f}: {tried[k][0]} minutes at {tried[k][1]:.3f} x")
        return tried[k]

    rung = {}
    for budget in BUDGETS:
        k = K_START
        if at(k)[0] <= budget:  # met at the start: step down until it is not
            while k - GRID > 0 and at(k - GRID)[0] <= budget:
                k -= GRID
        else:
            while at(k)[0] > budget and k < K_MAX:
                k += GRID
        if at(k)[0] > budget:
            rung[f"cost_at_{budget}_minutes"] = rung[f"k_at_{budget}_minutes"] = None
            continue
        fine = k - GRID + STEP
        while fine < k - STEP / 2 and at(fine)[0] > budget:
            fine += STEP
        best = round(min(fine, k), 2)
        rung[f"k_at_{budget}_minutes"] = best
        rung[f"cost_at_{budget}_minutes"] = round(at(best)[1], 3)
    return rung


def main() -> None:
    shipped = sandbox("v2")
    config = ReactiveConfig()
    figures, event_minutes = {}, None
    for seeds in (SHIPPED_SEEDS, *OTHER_SEEDS):
        series = shipped if seeds == SHIPPED_SEEDS else reseeded(shipped, *seeds)
        start, in_window = scored(series, first_round(series))
        event_minutes = int(in_window[start:].sum())
        n, capacity = len(series.load), series.capacity
        inside = np.zeros(n, dtype=bool)
        for a, b in series.windows:
            inside[max(a - POD_START, 0) : min(b, n)] = True  # ready when the window opens
        oracle_hours = oracle(series.load, capacity)[start:].sum() / 60

        def score(k: float, known, series=series, start=start, in_window=in_window,
                  inside=inside, oracle_hours=oracle_hours) -> tuple[int, float]:  # fmt: skip
            need = np.ceil(known * k / series.capacity - 1e-9)
            ahead = np.lib.stride_tricks.sliding_window_view(
                np.concatenate([need, np.zeros(POD_START)]), POD_START + 1
            ).max(axis=1)[: len(need)]
            floor = np.where(inside, ahead, 0).astype(np.int64)
            replicas = reactive(series.load, series.capacity, config, floor=floor)
            result = evaluate(
                replicas[start:], series.load[start:], series.capacity, in_window[start:]
            )
            return result.under_provisioned_minutes, result.replica_hours / oracle_hours

        label = f"{seeds[0]}/{seeds[1]}"
        figures[label] = {
            name: cheapest(lambda k, known=known: score(k, known), f"{label} {name}")
            for name, known in knowledge_rungs(series, seeds).items()
        }
    report({"seeds": figures, "event_minutes": event_minutes})


if __name__ == "__main__":
    main()
