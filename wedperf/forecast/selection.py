"""Choosing a forecast online: among single models and combinations of the best ones, by
their scores on origins whose actuals had closed — in production and in the backtest alike.

- A combination `topK_mean` is a candidate like any model: at each origin, the mean of the
  K single models with the best mean MASE over the latest `window` origins closed by then
  (their point forecasts and their interval bounds averaged, then calibrated on the
  combination's own past scores). Combinations of the best few beat selecting one in the
  M4 competition; here they also hedge between a model that is right on ordinary days and
  one that is right around holidays.
- The choice at an origin is the candidate (single or combination) with the lowest mean
  MASE over the latest `window` origins closed by then, on the origins where every
  candidate ran; ties go to the earlier candidate (singles in configured order, cheapest
  first, then combinations).

An origin has *closed* at position `t` when all its actuals are known: origin + horizon <= t.
Nothing here reads an actual before that. `fit-forecasts` backtests the latest `window`
origins closed at the end of the series and makes its choice there (`final_choice`); the
backtest CLI scores exactly that rule at every origin t: the same choice made from the
`window` origins closed at t (`window_before`), its forecast at t calibrated on those origins'
scores (`online_runs`), as a fit at t would have been.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from wedperf.forecast.backtest import (
    BacktestResult,
    ModelBacktest,
    OriginRun,
    calibrate_sequentially,
    clip_nonnegative,
    split_mase,
)
from wedperf.forecast.calibrate import calibrate


@dataclass(frozen=True)
class SelectionRule:
    """How a candidate is chosen: the closed origins looked back on and the combinations."""

    window: int = 14
    combine: tuple[int, ...] = (2, 3)

    def combination_names(self, singles: int) -> list[str]:
        return [combination_name(k) for k in self.combine if 2 <= k <= singles]


def combination_name(k: int) -> str:
    return f"top{k}_mean"


def _loss(run: OriginRun) -> float:
    m = run.metrics()
    return m["mase"] if np.isfinite(m["mase"]) else m["mae"]


def _closed(runs: dict[int, OriginRun], at: int, horizon: int) -> list[int]:
    return sorted(p for p in runs if p + horizon <= at)


def _ranked(
    candidates: dict[str, dict[int, OriginRun]], at: int, horizon: int, window: int
) -> list[tuple[float, int, str]]:
    """(mean loss, order, name) of the candidates over the latest `window` origins closed at
    `at` on which every candidate ran, best first; empty when there is no such origin."""
    runs = list(candidates.values())
    if not runs:
        return []
    common = set.intersection(*(set(_closed(r, at, horizon)) for r in runs))
    last = sorted(common)[-window:]
    if not last:
        return []
    ranked = []
    for order, (name, by_position) in enumerate(candidates.items()):
        losses = [_loss(by_position[p]) for p in last]
        if all(np.isfinite(losses)):
            ranked.append((float(np.mean(losses)), order, name))
    return sorted(ranked)


def _by_position(backtest: ModelBacktest) -> dict[int, OriginRun]:
    return {r.position: r for r in backtest.runs if r.calibrated is not None}


def _reliable(
    result: BacktestResult, at: int, rule: SelectionRule, *, singles_only: bool
) -> dict[str, dict[int, OriginRun]]:
    """The candidates that ran at every one of the latest `rule.window` origins closed at
    `at` that they were tried at: a model that failed at one of them is no candidate (it
    would be judged on the origins it survived, and may fail its final fit too)."""
    out = {}
    for name, m in result.models.items():
        if singles_only and m.combination:
            continue
        tried = sorted(r.position for r in m.runs if r.position + result.horizon <= at)
        recent = set(tried[-rule.window :])
        if any(r.error and r.position in recent for r in m.runs):
            continue
        runs = _by_position(m)
        if runs:
            out[name] = runs
    return out


def best_singles(result: BacktestResult, at: int, rule: SelectionRule) -> list[str]:
    """Single models by mean MASE over the latest `rule.window` origins closed at `at`."""
    candidates = _reliable(result, at, rule, singles_only=True)
    return [name for _, _, name in _ranked(candidates, at, result.horizon, rule.window)]


def combine_forecasts(frames: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """The mean of the members' frames, column by column (means and interval bounds)."""
    first = frames[0]
    values = np.mean([f[list(first.columns)].to_numpy() for f in frames], axis=0)
    return pd.DataFrame(values, index=first.index, columns=first.columns)


def add_combinations(result: BacktestResult, rule: SelectionRule) -> list[str]:
    """Add each `topK_mean` of `rule` to `result.models`, built at every origin from the
    singles ranked on the origins closed by then, and calibrated like a single model.
    Returns the names added."""
    singles = {n: _by_position(m) for n, m in result.models.items() if not m.combination}
    names = []
    for k in rule.combine:
        if not 2 <= k <= len(singles):
            continue
        backtest = ModelBacktest(combination_name(k), combination=k)
        template = next(iter(result.models.values())).runs
        for base in template:
            ranked = best_singles(result, base.position, rule)
            members = tuple(ranked[:k])
            run = OriginRun(
                base.position, base.origin, base.actual, base.scale, base.warmup,
                event=base.event, members=members, nonnegative=base.nonnegative,
            )  # fmt: skip
            # Before enough origins have closed to rank the models, the combination has no
            # forecast (not a failure: it does not exist yet).
            if len(members) == k and all(base.position in singles[m] for m in members):
                parts = [singles[m][base.position] for m in members]
                run.raw = combine_forecasts([p.raw for p in parts])
                run.fit_seconds = sum(p.fit_seconds for p in parts)
                backtest.runs.append(run)
        calibrate_sequentially(backtest, result.horizon, rule.window)
        result.models[backtest.name] = backtest
        names.append(backtest.name)
    return names


def choose(result: BacktestResult, at: int, rule: SelectionRule) -> str | None:
    """The candidate (single or combination) with the best mean MASE over the latest
    `rule.window` origins closed at position `at`; None when no origin has closed."""
    ranked = _ranked(
        _reliable(result, at, rule, singles_only=False), at, result.horizon, rule.window
    )
    if not ranked:  # no combination defined yet at the closed origins: singles alone
        ranked = _ranked(
            _reliable(result, at, rule, singles_only=True), at, result.horizon, rule.window
        )
    return ranked[0][2] if ranked else None


def members_at(result: BacktestResult, name: str, at: int, rule: SelectionRule) -> tuple[str, ...]:
    """The models of candidate `name` at position `at` (itself for a single model)."""
    k = result.models[name].combination
    if not k:
        return (name,)
    return tuple(best_singles(result, at, rule)[:k])


def final_choice(
    backtest: BacktestResult, at: int, rule: SelectionRule
) -> tuple[str | None, tuple[str, ...]]:
    """What a fit at position `at` forecasts with, from its own backtest of single models:
    the combinations are added, then the candidate with the best recent score is chosen.
    Returns (candidate, its single models), or (None, ()) when no candidate qualifies."""
    add_combinations(backtest, rule)
    pick = choose(backtest, at, rule)
    return (pick, members_at(backtest, pick, at, rule)) if pick else (None, ())


def window_before(result: BacktestResult, at: int, rule: SelectionRule) -> BacktestResult:
    """The backtest a fit at position `at` runs: every single model's runs at the latest
    `rule.window` origins closed at `at` (the same fits: each origin's training window does
    not depend on when the backtest runs). Only closed origins are in it."""
    singles = {n: m for n, m in result.models.items() if not m.combination}
    closed = sorted(
        {r.position for m in singles.values() for r in m.runs if r.position + result.horizon <= at}
    )
    keep = set(closed[-rule.window :])
    models = {
        name: ModelBacktest(name, runs=[r for r in m.runs if r.position in keep])
        for name, m in singles.items()
    }
    origins = [r.origin for r in next(iter(models.values())).runs] if models else []
    return BacktestResult(result.horizon, result.step, models, origins)


def online_runs(result: BacktestResult, rule: SelectionRule) -> list[tuple[str, OriginRun]]:
    """At every scored origin t, what a fit at t would have forecast: the `final_choice` on
    `window_before(t)`, its forecast at t (the mean of its members' forecasts there),
    calibrated on that backtest's scores of the candidate. Where no candidate qualifies, or
    a member has no forecast at t, the first single model that forecast at t (the seasonal
    naive by default), as the fit would fall back to it."""
    chosen = []
    singles = [n for n, m in result.models.items() if not m.combination]
    by_model = {n: _by_position(result.models[n]) for n in singles}
    base = {r.position: r for m in result.models.values() for r in m.runs}
    for origin in result.origins:
        position = next(p for p, r in base.items() if r.origin == origin)
        backtest = window_before(result, position, rule)
        pick, members = final_choice(backtest, position, rule)
        if pick is None or any(position not in by_model[m] for m in members):
            pick = next((n for n in singles if position in by_model[n]), None)
            members = (pick,)
        if pick is None:
            continue
        parts = [by_model[m][position] for m in members]
        raw = combine_forecasts([p.raw for p in parts]) if len(parts) > 1 else parts[0].raw
        scores = backtest.models[pick].scores() if pick in backtest.models else np.zeros(0)
        calibrated = calibrate(raw, scores)
        at = base[position]
        run = OriginRun(
            position, at.origin, at.actual, at.scale, at.warmup, raw=raw,
            calibrated=clip_nonnegative(calibrated) if at.nonnegative else calibrated,
            event=at.event, members=tuple(members), nonnegative=at.nonnegative,
        )  # fmt: skip
        chosen.append((pick, run))
    return chosen


def online_summary(result: BacktestResult, rule: SelectionRule) -> dict:
    """MASE, sMAPE, coverage and event/ordinary MASE of online selection over the scored
    origins, and how often each candidate was chosen. JSON-ready."""
    chosen = online_runs(result, rule)
    if not chosen:
        return {"mase": None, "origins": 0, "picks": {}}
    runs = [run for _, run in chosen]
    table = pd.DataFrame([r.metrics() for r in runs])
    out: dict = {"origins": len(runs)}
    for column in ("mase", "smape", "coverage_80", "coverage_95"):
        value = float(table[column].mean())
        out[column] = value if np.isfinite(value) else None
    out |= split_mase(runs)
    out["picks"] = dict(Counter(name for name, _ in chosen).most_common())
    return out
