"""Every candidate the online selection chooses from — each single model and each
combination — through the backtest on a synthetic series with holidays and events: the
interface, interval order, and no look-ahead (a forecast made at origin t is the same
whatever the series holds after t). And the online choice itself: it never reads an
origin's actuals before that origin has closed."""

from __future__ import annotations

from copy import deepcopy

import numpy as np
import pandas as pd
import pytest

from wedperf.forecast import selection
from wedperf.forecast.backtest import run_backtest
from wedperf.forecast.base import COLUMNS
from wedperf.forecast.events import Event
from wedperf.forecast.features import calendar_features, hourly_index
from wedperf.forecast.inputs import FitOptions
from wedperf.forecast.models import MODELS
from wedperf.forecast.selection import SelectionRule, add_combinations, choose, online_runs

START = pd.Timestamp("2026-09-07", tz="UTC")  # a Monday; Columbus Day is 2026-10-12
HORIZON = 24
STEP = 12  # origins closer than a horizon apart: some are still open at the next one
WEEKS = 5
RULE = SelectionRule(window=4, combine=(2, 3))
SINGLES = tuple(MODELS)
CANDIDATES = (*SINGLES, "top2_mean", "top3_mean")
# What the series "holds" after the cut in the poisoned copy: negative, so anything decided
# from the sign of the actuals (the non-negative clip) changes too if it reads past the cut.
POISON = -1e9


def load() -> tuple[pd.Series, pd.DataFrame]:
    """Five weeks of hourly load with a daily/weekly cycle, a level drift, AR noise, x2.5
    load on two event days and US holidays (Labor Day, Columbus Day)."""
    rng = np.random.default_rng(11)
    n = WEEKS * 168
    index = hourly_index(START, n + HORIZON)
    events = [
        Event("fair", START + pd.Timedelta(days=d), START + pd.Timedelta(days=d, hours=10))
        for d in (9, 30)
    ]
    X = calendar_features(index, events=events, holiday_country="US")
    t = np.arange(n + HORIZON)
    noise = np.zeros(len(t))
    for i in range(1, len(t)):
        noise[i] = 0.8 * noise[i - 1] + rng.normal(0, 0.05)
    shape = 1 + 0.5 * np.sin(2 * np.pi * t / 24) + 0.2 * np.sin(2 * np.pi * t / 168)
    values = 200 * shape * np.exp(noise + 0.002 * t / 24)
    values *= 1 + 1.5 * X["event_active"].to_numpy() - 0.4 * X["holiday"].to_numpy()
    return pd.Series(values[:n], index=index[:n]), X


@pytest.fixture(scope="module")
def backtests():
    """The same backtest on the series and on a copy poisoned from `cut` on."""
    y, X = load()
    cut = len(y) - 3 * 24 - 5  # between origins, while earlier ones are still open
    poisoned = y.copy()
    poisoned.iloc[cut:] = POISON
    results = []
    for series in (y, poisoned):
        result = run_backtest(
            series, X, SINGLES, horizon=HORIZON, step=STEP, origins=8, warmup=6,
            train_hours=3 * 168, calibration_window=RULE.window,
        )  # fmt: skip
        add_combinations(result, RULE)
        results.append(result)
    return results[0], results[1], cut


def _runs(result, name: str) -> dict:
    return {r.position: r for r in result.models[name].runs if r.calibrated is not None}


@pytest.mark.parametrize("name", CANDIDATES)
def test_every_candidate_forecasts_nested_intervals_without_look_ahead(backtests, name) -> None:
    clean, poisoned, cut = backtests
    runs = _runs(clean, name)
    assert len(runs) >= 8, f"{name} forecast at too few origins: {len(runs)}"
    for run in runs.values():
        for frame in (run.raw, run.calibrated):
            assert list(frame.columns) == list(COLUMNS)
            assert frame.index[0] == run.origin and len(frame) == HORIZON
            f = {c: frame[c].to_numpy() for c in COLUMNS}
            assert np.isfinite(frame.to_numpy()).all()
            assert (f["lo-95"] <= f["lo-80"]).all() and (f["lo-80"] <= f["mean"]).all()
            assert (f["mean"] <= f["hi-80"]).all() and (f["hi-80"] <= f["hi-95"]).all()
            assert (f["lo-95"] >= 0).all(), "a non-negative series gets non-negative bounds"
        assert (run.calibrated["hi-95"] > run.calibrated["lo-95"]).any()
    if clean.models[name].combination:
        assert all(len(r.members) == clean.models[name].combination for r in runs.values())

    # No look-ahead: what was forecast at an origin up to the cut is the same when
    # everything after the cut is poison — the members of a combination, the intervals
    # (calibrated on closed origins only) and the point forecast.
    other = _runs(poisoned, name)
    before = [p for p in runs if p <= cut]
    after = [p for p in runs if p > cut]
    assert before and after
    for position in before:
        assert other[position].members == runs[position].members
        assert other[position].scale == runs[position].scale  # the MASE scale
        assert other[position].nonnegative == runs[position].nonnegative
        pd.testing.assert_frame_equal(other[position].calibrated, runs[position].calibrated)
    # ... and the test can see a leak: past the cut the poison shows.
    assert any(
        not np.allclose(other[p].calibrated.to_numpy(), runs[p].calibrated.to_numpy())
        for p in after
    )


def test_online_selection_never_reads_an_origin_before_it_has_closed(
    backtests, monkeypatch: pytest.MonkeyPatch
) -> None:
    clean, poisoned, cut = backtests
    positions = sorted(_runs(clean, "snaive"))
    # Origins at the cut or before: the choice there, from what had closed, is unchanged.
    judged = [p for p in positions if positions[0] + HORIZON <= p <= cut]
    open_at_cut = [p for p in positions if p < cut < p + HORIZON]
    assert open_at_cut, "the cut must fall inside an earlier origin's horizon"
    picks = [choose(clean, p, RULE) for p in judged]
    assert all(picks), "a choice at every origin once one has closed"
    assert picks == [choose(poisoned, p, RULE) for p in judged]
    # The choice at the position right after the cut could read the origins still open
    # there; with actuals of open origins counted, the poison would change it.
    assert choose(poisoned, cut + 1, RULE) == choose(clean, cut + 1, RULE)

    # Every score the choice reads belongs to an origin closed by then, at every position;
    # and the check sees it when the rule leaks (counting an origin once it has started).
    def reads(result, at) -> list[int]:
        read: list[int] = []
        original = selection._loss
        monkeypatch.setattr(
            selection, "_loss", lambda run: read.append(run.position) or original(run)
        )
        choose(result, at, RULE)
        monkeypatch.setattr(selection, "_loss", original)
        return read

    for at in positions + [cut, cut + 1]:
        assert all(p + HORIZON <= at for p in reads(clean, at)), at
    monkeypatch.setattr(
        selection, "_closed", lambda runs, at, horizon: sorted(p for p in runs if p < at)
    )
    assert any(p + HORIZON > cut for p in reads(clean, cut))


def test_online_runs_pick_one_candidate_per_scored_origin(backtests) -> None:
    clean, _, _ = backtests
    chosen = online_runs(clean, RULE)
    assert [run.origin for _, run in chosen] == clean.origins
    assert {name for name, _ in chosen} <= set(CANDIDATES)


def _singles_only(result):
    """A copy of `result` without its combinations, so they can be built again on it."""
    copy = deepcopy(result)
    copy.models = {n: m for n, m in copy.models.items() if not m.combination}
    return copy


def _poison_towards_the_worst(result, cut: int):
    """A copy of `result` whose actuals from `cut` on equal the forecasts of the single
    model ranked last at the cut: any rule that reads them ranks that model up — the
    poison changes the ranking, not only the numbers."""
    ranked = selection.best_singles(result, cut, RULE)
    worst = _runs(result, ranked[-1])
    poisoned = _singles_only(result)
    for model in poisoned.models.values():
        for run in model.runs:
            hours = run.position + np.arange(len(run.actual))
            after = hours >= cut
            if after.any() and run.position in worst:
                run.actual = run.actual.copy()
                run.actual[after] = worst[run.position].raw["mean"].to_numpy()[after]
                run._metrics = None
    return poisoned


def _leaking(monkeypatch: pytest.MonkeyPatch, name: str, shift: int) -> None:
    """Make selection.`name` look `shift` hours further than it is asked to: a leak."""
    original = getattr(selection, name)
    monkeypatch.setattr(
        selection, name, lambda result, at, rule: original(result, at + shift, rule)
    )


def _online(result) -> list[tuple]:
    return [
        (run.position, name, run.members, run.calibrated.to_numpy().round(9).tobytes())
        for name, run in online_runs(result, RULE)
    ]


def test_online_runs_are_unchanged_by_actuals_after_the_origin_and_would_show_a_leak(
    backtests, monkeypatch: pytest.MonkeyPatch
) -> None:
    clean, _, cut = backtests
    clean = _singles_only(clean)
    poisoned = _poison_towards_the_worst(clean, cut)
    before = [row for row in _online(clean) if row[0] <= cut]
    assert before, "scored origins before the cut"
    assert before == [row for row in _online(poisoned) if row[0] <= cut]
    negative = _singles_only(backtests[1])  # the series itself poisoned below zero
    assert before == [row for row in _online(negative) if row[0] <= cut]
    # The same comparison catches a window that looks one horizon ahead. (Inside the window
    # every origin has closed, so nothing the choice calls can read further than it.)
    with monkeypatch.context() as leak:
        _leaking(leak, "window_before", HORIZON)
        leaky = [row for row in _online(poisoned) if row[0] <= cut]
    assert leaky != before, "a leak in window_before went unseen"


def test_the_online_non_negative_clip_is_decided_from_the_training_window(
    backtests, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Origins still open at the cut have negative actuals ahead of them in the poisoned
    series; their forecasts are clipped at zero all the same, because the training window
    before each origin is non-negative. (Intervals are widened below zero so the clip binds.)"""
    _, poisoned, cut = backtests
    original = selection.calibrate

    def wide(raw, scores):
        out = original(raw, scores)
        return out.assign(**{"lo-95": out["mean"] - 1e6, "lo-80": out["mean"] - 1e5})

    monkeypatch.setattr(selection, "calibrate", wide)
    runs = [run for _, run in online_runs(_singles_only(poisoned), RULE) if run.position <= cut]
    assert any(run.position + HORIZON > cut for run in runs), "origins open at the cut"
    assert all((run.calibrated["lo-95"] >= 0).all() for run in runs)


def test_combination_members_are_unchanged_by_actuals_after_the_origin_and_would_show_a_leak(
    backtests, monkeypatch: pytest.MonkeyPatch
) -> None:
    clean, _, cut = backtests
    clean = _singles_only(clean)
    poisoned = _poison_towards_the_worst(clean, cut)

    def members(result) -> dict:
        result = deepcopy(result)
        add_combinations(result, RULE)
        return {
            (name, r.position): r.members
            for name, m in result.models.items()
            if m.combination
            for r in m.runs
            if r.position <= cut
        }

    assert members(clean) and members(clean) == members(poisoned)

    # Each combination run ranks the singles at its own origin, and every loss read there
    # belongs to an origin closed by then; the spy sees it when the ranking looks a horizon
    # ahead (a leak the poison above is too weak to show at this cut).
    def rankings(result) -> list[tuple[int, list[int]]]:
        seen, original = [], selection.best_singles
        read: list[int] = []
        loss = selection._loss
        with monkeypatch.context() as spy:
            spy.setattr(selection, "_loss", lambda run: read.append(run.position) or loss(run))

            def ranking(result, at, rule):
                read.clear()
                out = original(result, at, rule)
                seen.append((at, list(read)))
                return out

            spy.setattr(selection, "best_singles", ranking)
            add_combinations(_singles_only(result), RULE)
        return seen

    built = [r.position for r in clean.models["snaive"].runs]
    seen = rankings(clean)
    assert [at for at, _ in seen] == built * len(RULE.combine)
    assert all(p + HORIZON <= at for at, read in seen for p in read)
    with monkeypatch.context() as leak:
        _leaking(leak, "best_singles", HORIZON)
        leaked = rankings(clean)
    assert any(
        p + HORIZON > at for (at, _), (_, read) in zip(seen, leaked, strict=True) for p in read
    )


def test_each_online_choice_sees_only_the_origins_closed_at_it(
    backtests, monkeypatch: pytest.MonkeyPatch
) -> None:
    clean, _, _ = backtests
    seen: list[tuple[int, list[int]]] = []
    original = selection.final_choice

    def spy(backtest, at, rule):
        seen.append((at, [r.position for m in backtest.models.values() for r in m.runs]))
        return original(backtest, at, rule)

    monkeypatch.setattr(selection, "final_choice", spy)
    online_runs(clean, RULE)
    decided = [next(r.position for r in clean.models["snaive"].runs if r.origin == o)
               for o in clean.origins]  # fmt: skip
    assert [at for at, _ in seen] == decided
    for at, positions in seen:
        assert positions and all(p + HORIZON <= at for p in positions), at
        assert len(set(positions)) <= RULE.window


def test_the_backtest_scores_what_a_production_fit_at_that_origin_forecasts(backtests) -> None:
    """One rule: the online run the CLI scores at an origin is the forecast fit-forecasts
    makes there from the window it reads (FitOptions.read_hours) — same candidate, same
    members, same calibrated numbers."""
    clean, _, _ = backtests
    y, X = load()
    options = FitOptions(
        models=SINGLES, horizon=HORIZON, step=STEP, origins=RULE.window, warmup=0,
        train_hours=3 * 168, combine=RULE.combine,
    )  # fmt: skip
    for pick, run in online_runs(clean, RULE)[-3:]:
        history = y.iloc[run.position - options.read_hours : run.position]
        fit = options.fit("load", history, X)
        assert (fit.model, fit.members) == (pick, run.members)
        np.testing.assert_allclose(
            fit.forecast[list(COLUMNS)].to_numpy(), run.calibrated.to_numpy(), rtol=1e-9
        )
