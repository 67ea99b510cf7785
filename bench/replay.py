"""Replay benchmark: a year of calendar-driven load through three capacity policies.

Two load series, minute by minute:

- the sandbox year: the sandbox's 2,000 weddings over 365 days (seeded in a scratch database),
  each adding load over its day window shaped by its phases (check-ins before the ceremony,
  quiet ceremony, dinner, photo uploads after dinner) with a per-wedding intensity the
  policies cannot know, on top of a daily/weekly platform baseline with noise;
- the NAB taxi series (../shared/data/nab/nyc_taxi.csv, 30-min) with its known events.

Policies (wedperf.capacity.replay): reactive target tracking only; wedperf's predictive floor
(forecast upper bound, refitted weekly on the trailing 8 weeks with the calendar as
regressors, exactly as `fit-forecasts` does, raised 10 minutes before each window) with the
same reactive autoscaler on top; and the oracle. Under-provisioned minutes are counted inside
wedding/event windows, after the first 8 weeks (training).

    uv run python bench/replay.py [--nab-dir ../shared/data/nab] [--quantile 95]

Last line: {"reactive": {...}, "wedperf": {...}, "oracle": {...}, "replica_hours_ratio": ...,
"calendar_bound": [{margin, under_provisioned_minutes, replica_hours, replica_hours_ratio}],
"nab_taxi": {same keys but calendar_bound}}

`calendar_bound` is a reference line, not a policy: floors from the sandbox's true expected
load (what the calendar can know) times a margin. It shows what any calendar-driven floor can
reach on this synthetic load, where each wedding's intensity (lognormal sigma 0.3) and the
minute noise (sigma 0.08) are unknowable.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import pandas as pd
import psycopg

from bench._common import progress, report, scratch_database
from wedperf.calendar import AppDbCalendarSource, sync_calendar
from wedperf.calendar.model import Wedding
from wedperf.capacity.replay import ReactiveConfig, evaluate, floor_from_forecast, oracle, reactive
from wedperf.forecast.events import read_events_csv, wedding_phase_events
from wedperf.forecast.features import calendar_features
from wedperf.forecast.pipeline import fit_series

TRAIN_WEEKS = 8
REFIT_DAYS = 7
HEADROOM = 0.2
BUFFER_MIN = 10
MODELS = ["snaive_cal", "snaive", "calendar_reg", "mstl_reg"]
REACTIVE = ReactiveConfig()
START = date(2026, 1, 1)


# --- the sandbox year -------------------------------------------------------------------------


def sandbox_weddings() -> list[Wedding]:
    with scratch_database("wedperf_replay") as url, psycopg.connect(url) as conn:
        seed_now = datetime.combine(START, datetime.min.time(), UTC)
        from wedperf.sandbox.seed import seed_sandbox

        seed_sandbox(conn, weddings=2000, days=365, seed=2026, start=START, now=seed_now)
        sync_calendar(conn, AppDbCalendarSource(url), now=seed_now)
        rows = conn.execute(
            "SELECT wedding_id, starts_at, ends_at, timezone, venue, guest_count, status "
            "FROM perf.weddings WHERE status <> 'cancelled' ORDER BY starts_at"
        ).fetchall()
    return [Wedding(*r) for r in rows]


def sandbox_load(weddings: list[Wedding], minutes: pd.DatetimeIndex, seed: int = 7):
    """Per-minute requests/s, the wedding windows (minute offsets), and the expected load: what
    the calendar alone can know (baseline and each wedding's phases at mean intensity)."""
    rng = np.random.default_rng(seed)
    n = len(minutes)
    eastern = minutes.tz_convert("America/New_York")
    hour = eastern.hour.to_numpy() + eastern.minute.to_numpy() / 60
    diurnal = 0.35 + 0.65 * np.clip(np.sin(np.pi * (hour - 6) / 18), 0, None)
    weekend = np.where(eastern.day_of_week.to_numpy() >= 5, 1.25, 1.0)
    load = 20.0 * diurnal * weekend
    expected = load.copy()
    start0 = minutes[0]
    windows = []
    per_guest = 0.05  # peak requests/s per guest (the ops default)
    for w in weddings:
        c = int((w.starts_at - start0).total_seconds() // 60)
        end = int((w.ends_at - start0).total_seconds() // 60)
        lo = c - 180
        if end <= 0 or lo >= n:
            continue
        offsets = np.arange(lo, end) - c
        shape = np.select(
            [offsets < -60, offsets < 0, offsets < 45, offsets < 180],
            [0.2 + 0.4 * (offsets + 180) / 120, 1.0, 0.4, 0.7],
            1.1,  # photo uploads after dinner
        )
        intensity = rng.lognormal(-0.045, 0.3)  # mean 1; unknown to every policy
        a, b = max(lo, 0), min(end, n)
        load[a:b] += w.guest_count * per_guest * intensity * shape[a - lo : b - lo]
        expected[a:b] += w.guest_count * per_guest * shape[a - lo : b - lo]
        windows.append((lo, end))
    load *= rng.lognormal(-0.003, 0.08, size=n)
    return load, windows, expected


# --- NAB taxi -------------------------------------------------------------------------------


def taxi_load(nab_dir: Path):
    raw = pd.read_csv(nab_dir / "nyc_taxi.csv", parse_dates=["timestamp"])
    # NAB publishes local wall-clock times; read them (and the events) as UTC so the daylight-
    # saving hours stay unambiguous. Only alignment between series and events matters here.
    series = raw.set_index("timestamp")["value"].tz_localize(UTC)
    minutes = pd.date_range(
        series.index[0], series.index[-1] + pd.Timedelta(minutes=29), freq="min"
    )
    # Requests per minute = count / the real length of its bucket. NAB counts by New York
    # wall clock, so on the autumn daylight-saving change the 01:00 and 01:30 buckets each
    # hold two real half-hours; reading them as 30 minutes would invent a doubled peak.
    local = series.index.tz_localize(None).tz_localize(
        "America/New_York", ambiguous=np.zeros(len(series), dtype=bool), nonexistent="shift_forward"
    )
    repeated = pd.Series(
        local.tz_convert(UTC)
        != local.tz_localize(None)
        .tz_localize(
            "America/New_York",
            ambiguous=np.ones(len(series), dtype=bool),
            nonexistent="shift_forward",
        )
        .tz_convert(UTC),
        index=series.index,
    )
    per_minute = series / np.where(repeated, 60.0, 30.0)
    load = per_minute.reindex(minutes, method="ffill").to_numpy(dtype=float)
    events = read_events_csv(nab_dir / "nyc_taxi_events.csv", tz="UTC")
    windows = [
        (
            int((e.start - minutes[0]).total_seconds() // 60),
            int((e.end - minutes[0]).total_seconds() // 60),
        )
        for e in events
    ]
    return minutes, load, windows, events


# --- policies --------------------------------------------------------------------------------


def forecast_upper(minutes, load, features, quantile: int, name: str) -> np.ndarray:
    """Hourly forecast upper bound of the hourly peak load, refitted every week on the
    trailing 8 weeks, spread over the minutes. NaN during the training weeks."""
    hourly = pd.Series(load, index=minutes).resample("h").max()
    upper = pd.Series(np.nan, index=hourly.index)
    train = TRAIN_WEEKS * 168
    origin = train
    fits = 0
    began = time.perf_counter()
    while origin < len(hourly):
        horizon = min(REFIT_DAYS * 24, len(hourly) - origin)
        y = hourly.iloc[origin - train : origin]
        X = features.iloc[origin - train : origin + horizon]
        fit = fit_series(
            name, y, X, models=MODELS, horizon=horizon, step=24, origins=3, train_hours=train
        )
        upper.iloc[origin : origin + horizon] = fit.forecast[f"hi-{quantile}"].to_numpy()
        origin += horizon
        fits += 1
    progress(f"{name}: {fits} weekly fits in {time.perf_counter() - began:.0f} s")
    return upper.reindex(minutes, method="ffill").to_numpy()


def scored_windows(windows, n: int) -> tuple[int, list[tuple[int, int]], np.ndarray]:
    """The first scored minute (after the training weeks), the windows scored, and the
    minutes inside them."""
    start = TRAIN_WEEKS * 7 * 24 * 60
    scored = [(a, b) for a, b in windows if a >= start and b <= n]
    in_window = np.zeros(n, dtype=bool)
    for a, b in scored:
        in_window[max(a, 0) : b] = True
    return start, scored, in_window


def calendar_bound(load, windows, expected, capacity: float) -> list[dict]:
    """A reference, not a policy: floors from the *true* expected load minute by minute (the
    calendar's shape and the baseline known exactly; only each wedding's intensity and the
    minute noise unknown) times a margin, with the same reactive autoscaler on top. What the
    best calendar-only floor could achieve on this load, whatever the forecast."""
    n = len(load)
    start, scored, in_window = scored_windows(windows, n)
    oracle_hours = evaluate(
        oracle(load, capacity)[start:], load[start:], capacity, in_window[start:]
    ).replica_hours
    rows = []
    for margin in (1.1, 1.2, 1.3, 1.4, 1.5):
        floor = floor_from_forecast(
            n, scored, expected * margin, capacity=capacity, headroom=0.0, buffer=BUFFER_MIN
        )
        result = evaluate(
            reactive(load, capacity, REACTIVE, floor=floor)[start:],
            load[start:],
            capacity,
            in_window[start:],
        )
        rows.append(
            {
                "margin": margin,
                **result.summary(),
                "replica_hours_ratio": round(result.replica_hours / oracle_hours, 3),
            }
        )
    return rows


def replay(minutes, load, windows, upper, capacity: float) -> dict:
    n = len(load)
    start, scored, in_window = scored_windows(windows, n)
    floor = floor_from_forecast(
        n, scored, upper, capacity=capacity, headroom=HEADROOM, buffer=BUFFER_MIN
    )
    policies = {
        "reactive": reactive(load, capacity, REACTIVE),
        "wedperf": reactive(load, capacity, REACTIVE, floor=floor),
        "oracle": oracle(load, capacity),
    }
    out = {}
    for name, replicas in policies.items():
        out[name] = evaluate(replicas[start:], load[start:], capacity, in_window[start:]).summary()
    out["replica_hours_ratio"] = round(
        out["wedperf"]["replica_hours"] / out["oracle"]["replica_hours"], 3
    )
    out["window_minutes"] = int(in_window[start:].sum())
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--nab-dir",
        type=Path,
        default=Path(__file__).resolve().parents[2] / "shared" / "data" / "nab",
    )
    parser.add_argument("--quantile", type=int, choices=(80, 95), default=95)
    args = parser.parse_args()

    progress("seeding the sandbox year (2,000 weddings)")
    weddings = sandbox_weddings()
    minutes = pd.date_range(pd.Timestamp(START, tz=UTC), periods=365 * 24 * 60, freq="min")
    load, windows, expected = sandbox_load(weddings, minutes)
    hours = pd.date_range(minutes[0], minutes[-1], freq="h")
    features = calendar_features(
        hours, wedding_phases=wedding_phase_events(weddings), tz="America/New_York"
    )
    upper = forecast_upper(minutes, load, features, args.quantile, "sandbox")
    sandbox = replay(minutes, load, windows, upper, capacity=10.0)
    progress(f"sandbox year: {sandbox}")
    sandbox["calendar_bound"] = calendar_bound(load, windows, expected, capacity=10.0)
    progress(f"calendar-only bound (true expected load x margin): {sandbox['calendar_bound']}")

    figures = dict(sandbox)
    if (args.nab_dir / "nyc_taxi.csv").exists():
        t_minutes, t_load, t_windows, events = taxi_load(args.nab_dir)
        t_hours = pd.date_range(t_minutes[0], t_minutes[-1], freq="h")
        t_features = calendar_features(t_hours, events=events, tz="UTC")
        t_upper = forecast_upper(t_minutes, t_load, t_features, args.quantile, "nyc_taxi")
        figures["nab_taxi"] = replay(t_minutes, t_load, t_windows, t_upper, capacity=50.0)
        progress(f"nab taxi: {figures['nab_taxi']}")
    else:
        progress(f"NAB data not found at {args.nab_dir}; nab_taxi skipped")
    figures["quantile"] = args.quantile
    report(figures)


if __name__ == "__main__":
    main()
