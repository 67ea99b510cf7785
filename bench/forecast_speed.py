"""Forecast refit benchmark: 100 hourly series of production length, each with model selection.

Every series goes through `FitOptions.fit` with the default settings — what the fit-series
task of the fit-forecasts flow runs: a rolling-origin backtest of every default candidate
model (14 origins a day apart), the combinations of the best two and three, the online
choice, the final refit of the chosen candidate (its members for a combination), conformal
calibration.
The series are synthetic but wedding-shaped: a shared wedding calendar (Saturday-heavy,
autumn sizes from docs/sandbox.md) drives each series with its own sensitivity on top of a
weekly profile and AR noise, so the calendar models have something to find.

    uv run python bench/forecast_speed.py [--series 100] [--hours N] [--workers 2]
                                          [--mode process|thread|serial]

Each series is as long as a production round reads (`FitOptions.read_hours`: 12 weeks of
training for the oldest backtest origin plus the origins, 2,376 h on the defaults) unless
--hours says otherwise.

Processes are started before the clock (a worker pool is long-lived in production); the
time is from the first submission to the last result; CPU seconds are the fits' own
(summed over workers). Last line: {"series": N, "seconds": ..., "cpu_seconds": ...,
"mode": ..., "workers": ..., "hours_per_series": ..., "selected": {model: count}}
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import pandas as pd

from bench._common import progress, report
from wedperf.calendar.model import Wedding
from wedperf.forecast.events import phase_weights, wedding_phase_events
from wedperf.forecast.features import calendar_features
from wedperf.forecast.inputs import FitOptions
from wedperf.forecast.settings import ForecastSettings, PhaseWeights
from wedperf.forecast.threads import single_threaded_blas

START = pd.Timestamp("2026-08-03", tz="UTC")  # a Monday


def wedding_calendar(hours: int, seed: int) -> list[Wedding]:
    """~25 weddings a week, 65% on Saturdays, ceremonies 14:00-18:00 UTC, guests ~115."""
    rng = np.random.default_rng(seed)
    weddings = []
    for day in range(hours // 24 + 3):
        date = START + pd.Timedelta(days=day)
        count = rng.poisson({5: 16, 4: 4, 6: 4}.get(date.dayofweek, 0.4))
        for k in range(count):
            ceremony = date + pd.Timedelta(minutes=int(rng.integers(14 * 60, 18 * 60)))
            weddings.append(
                Wedding(
                    wedding_id=f"w{day}-{k}",
                    starts_at=ceremony.to_pydatetime(),
                    ends_at=(
                        ceremony + pd.Timedelta(minutes=int(rng.integers(300, 420)))
                    ).to_pydatetime(),
                    timezone="UTC",
                    venue=None,
                    guest_count=int(rng.lognormal(np.log(105), 0.4)),
                    status="confirmed",
                )
            )
    return weddings


def synthetic_series(features: pd.DataFrame, hours: int, rng: np.random.Generator) -> pd.Series:
    """Weekly profile x level, plus this series' response to the calendar, plus AR noise."""
    how = features["hour_of_week"].to_numpy()[:hours]
    phase = rng.uniform(0, 2 * np.pi, 3)
    profile = (
        1
        + 0.5 * np.sin(2 * np.pi * how / 24 + phase[0])
        + 0.2 * np.sin(2 * np.pi * how / 168 + phase[1])
        + 0.1 * np.sin(4 * np.pi * how / 24 + phase[2])
    )
    level = rng.uniform(20, 500)
    response = rng.uniform(0, 0.3) * features["guests_active"].to_numpy()[:hours]
    noise = np.zeros(hours)
    shocks = rng.normal(0, 0.08, hours)
    for t in range(1, hours):
        noise[t] = 0.8 * noise[t - 1] + shocks[t]
    values = np.maximum(level * profile * np.exp(noise) + response, 0)
    return pd.Series(rng.poisson(values).astype(float), index=features.index[:hours])


def fit_one(args: tuple) -> tuple[str, str, float, float]:
    name, y, features, options = args
    single_threaded_blas()
    began, began_cpu = time.perf_counter(), time.process_time()
    fit = options.fit(name, y, features)
    return name, fit.model, time.perf_counter() - began, time.process_time() - began_cpu


def _warm(_: int) -> int:
    single_threaded_blas()
    return 0


def make_executor(mode: str, workers: int) -> Executor | None:
    if mode == "serial":
        return None
    if mode == "thread":
        return ThreadPoolExecutor(workers)
    return ProcessPoolExecutor(workers)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=100)
    parser.add_argument(
        "--hours", type=int, default=None,
        help="history per series (default: what a production round reads)",
    )  # fmt: skip
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--mode", choices=("process", "thread", "serial"), default="process")
    args = parser.parse_args()

    settings = ForecastSettings()
    options = FitOptions.from_settings(settings)
    hours = args.hours or options.read_hours
    index = pd.date_range(START, periods=hours + options.horizon, freq="h")
    phases = wedding_phase_events(wedding_calendar(hours + options.horizon, seed=1))
    features = calendar_features(
        index, wedding_phases=phases, phase_weights=phase_weights(PhaseWeights())
    )
    rng = np.random.default_rng(7)
    jobs = [
        (f"s{i:03d}", synthetic_series(features, hours, rng), features, options)
        for i in range(args.series)
    ]
    progress(f"{args.series} series x {hours} h; mode {args.mode}, {args.workers} workers")

    executor = make_executor(args.mode, args.workers)
    if executor is not None:
        list(executor.map(_warm, range(args.workers)))  # start workers before the clock
    single_threaded_blas()
    began = time.perf_counter()
    if executor is None:
        results = [fit_one(job) for job in jobs]
    else:
        with executor:
            results = list(executor.map(fit_one, jobs))
    seconds = time.perf_counter() - began
    per_series = [r[2] for r in results]
    cpu_seconds = float(sum(r[3] for r in results))
    progress(
        f"{seconds:.1f} s wall, {cpu_seconds:.1f} s CPU; per series mean "
        f"{np.mean(per_series):.2f} s, max {np.max(per_series):.2f} s"
    )
    report(
        {
            "series": len(results),
            "seconds": round(seconds, 2),
            "cpu_seconds": round(cpu_seconds, 2),
            "mode": args.mode,
            "workers": 1 if executor is None else args.workers,
            "hours_per_series": hours,
            "selected": dict(Counter(r[1] for r in results)),
        }
    )


if __name__ == "__main__":
    main()
