"""Replay benchmark: real and sandbox load through the capacity policy that ships, against
fair baselines, with the cost/risk frontier.

Series, minute by minute (requests/s):

- `sandbox`: the sandbox year — its 2,000 weddings over 365 days (seeded in a scratch
  database) — through the sandbox's load model v2 (wedperf.sandbox.demand): load from each
  wedding's active guests, timings that jitter (late ceremonies, long dinners), a rate per
  phase, a decaying photo burst, AR(1) minute noise, on a daily/weekly platform baseline;
- `sandbox_v1`: the same calendar through load model v1 (phase steps exactly at the offsets
  the forecast features encode, invited guests, independent noise: partly circular);
- `nab_taxi`: the NAB New York taxi series (30-minute counts, interpolated linearly between
  bucket midpoints so a lagging policy is not penalised for steps that are not in the
  data), its known events as the calendar.

Policies (wedperf.capacity.replay), each under the same reactive autoscaler model (metric
lag 2 min, pod start 3 min, scale-in stabilisation 5 min; also at pod start 1 and 6 min):

- `reactive`: target tracking at its default utilisation (0.9); its cost_at_10/0_minutes at
  the threshold utilisations bisected to 0.001 between the points of a 10-point grid
  (`*_grid`: the grid's own), and in whole % around them (`*_whole_percent`: deployable,
  HPA averageUtilization being a whole %);
- `reactive_equal_cost`: target utilisation searched until its replica-hours are at most
  0.5% above wedperf's at wedperf's defaults, never below (else the closest setting at or
  above: `search` says which);
- `scheduled_weekly`: scheduled scaling without a calendar, as two CronJobs would do it:
  the HPA's target lowered every week in a fixed New York window (Friday 12:00 to Monday
  00:00, Saturday 08:00 to Sunday 02:00, Thursday 12:00 to Monday 06:00), the HPA's 90%
  outside, the lowered value swept as wedperf's; `scheduled_weekly_two_level`: each window
  at one value, the rest of the week at another, both in whole % (`two_level_search`);
- `calendar_free`: a floor from an hourly forecast of the last 14 days, 48 h ahead,
  refreshed every 6 h, launched 10 min early, no calendar (cloud predictive scaling's shape);
- `wedperf`: what production does at its shipped defaults (OpsSettings) — on the replay's
  HPA target the event-window target utilisation (`capacity.utilisation`: the plan's
  `utilisation-lower` / `-restore` runs, lowered from `lead` before each ceremony to the
  end of its day window, restored to the HPA's own 90% outside), with the floor where the
  defaults apply it (`ops.floor`: auto = only where the utilisation does not) — under the
  same reactive autoscaler;
- `wedperf_floor_only`: the floor alone (the previous headline): the plan's floor runs
  (slots, lead times), each raise sized on the newest daily fit-forecasts round (12 weeks
  of training, 48 h ahead, the production fit and options) of the hourly request counts,
  times the within-hour peak-to-mean ratio learned from the hours that round read (as for
  a Prometheus request-rate series), or on the calendar; restores after the day;
- `wedperf_utilisation_only`: the event-window utilisation alone, at its defaults;
- `oracle`: exactly the replicas each minute needs;
- `strongest_rival`: per budget, the cheapest of reactive (whole %; `_bisected`: at its
  bisected thresholds) and the weekly schedules, and wedperf's cost over it.

Scored: minutes inside event windows (wedding day windows; taxi events) after the first
forecast round; replica-hours over the same period. Sweeps wedperf's floor (quantile x
headroom), its event utilisation x lead (floor off; at the shipped lead also every whole %
around its thresholds) and event utilisation with the floor at its defaults, reactive's
utilisation, the weekly schedules' utilisation (whole % around their thresholds) and
calendar_free's headroom; `cost_at_10_minutes` / `cost_at_0_minutes` are the lowest
replica-hours / oracle at which a policy has <= 10 / 0 under-provisioned event minutes
(null when no setting reaches it). Each point also carries
`under_provisioned_minutes_outside_events`: short minutes outside the event windows, not
scored, reported. Draws the frontier as a PNG.

Also, at the first pod start: a held-out check (each family's setting chosen on the scored
minutes before 1 July, scored on the rest: `held_out_check`), and on the sandbox other seeds
of its load model (`OTHER_SEEDS`: the policies that need no forecast, at the first pod
start).

    uv run python bench/replay.py [--nab-dir DIR] [--out-dir DIR] [--cache-dir DIR]
                                  [--series sandbox,sandbox_v1,nab_taxi] [--quick]
                                  [--pod-starts 3,1,6]
    uv run python bench/replay.py --nowcast

--nowcast measures only the watch rounds' intensity nowcast (docs/capacity.md, "Re-sizing
during the day"): sandbox v2, pod start 3, the event-window utilisation alone at several
utilisations, with and without each nowcast variant (`NOWCAST_VARIANTS`) as a floor under
it; prints its table and ends with {"nowcast": {...}} (no forecast fits: 1.5-4 minutes).

DIR defaults: $WEDPERF_NAB_DIR, else nab/ in $WEDPERF_DATASETS_DIR; the PNG goes to
--out-dir (default: the current directory). Takes ~35 minutes on 2 cores the first time (a
year of daily production fits per series), less with --cache-dir holding them; --quick fits
nothing and leaves out the floor's settings (a few minutes per series).
Last line: {"series": {name: {"policies": {policy:
{"under_provisioned_minutes", "replica_hours_ratio", "cost_at_10_minutes",
"cost_at_0_minutes", ...}}, "pod_start": {"3": {..., "sweep": {...}}, "1": ..., "6": ...},
"held_out": {...}, "seeds": {"8/2027": {...}, ...}, ...}}, "frontier_png": path,
"quick": bool}
"""

from __future__ import annotations

import argparse
import hashlib
import os
import pickle
import sys
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import pandas as pd
import psycopg

from bench._common import datasets_dir, progress, report, scratch_database
from wedperf.calendar import AppDbCalendarSource, sync_calendar
from wedperf.calendar.model import Wedding
from wedperf.capacity.replay import (
    FIT_TZ,
    ReactiveConfig,
    WeeklyWindow,
    bisect_threshold,
    calendar_free_floor,
    evaluate,
    fit_times,
    forecast_rounds,
    newest_fit,
    oracle,
    production_floor,
    production_utilisation,
    reactive,
    weekly_utilisation,
    with_peak_to_mean,
)
from wedperf.capacity.utilisation import acts_on_utilisation, raises_floor
from wedperf.config import CapacityTarget, Settings
from wedperf.forecast.events import read_events_csv, wedding_phase_events
from wedperf.forecast.inputs import FitOptions, round_features
from wedperf.forecast.settings import ForecastSettings
from wedperf.sandbox.demand import demand, with_active_guests

START = date(2026, 1, 1)
HEADROOMS = (0.0, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0, 1.5)
QUANTILES = (80, 95)
UTILISATIONS = (0.25, 0.3, 0.35, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95)
POD_STARTS = (3, 1, 6)  # the default first
EVENT_UTILISATIONS = (25, 30, 35, 40, 45, 50, 60, 70, 80)  # HPA averageUtilization inside, %
LEADS = (30, 60, 180, 240, 300)  # minutes before the ceremony (180: the day window opens)
BUDGETS = (10, 0)  # under-provisioned event minutes a year: cost_at_10_minutes, cost_at_0_minutes
# Scheduled scaling without a calendar: the HPA's target lowered every week by two CronJobs.
WEEKLY_WINDOWS = {
    "fri_mon": WeeklyWindow(opens=(4, 12, 0), closes=(0, 0, 0)),  # Friday 12:00 to Monday 00:00
    "sat_sun": WeeklyWindow(opens=(5, 8, 0), closes=(6, 2, 0)),  # Saturday 08:00 to Sunday 02:00
    "thu_mon": WeeklyWindow(opens=(3, 12, 0), closes=(0, 6, 0)),  # Thursday 12:00 to Monday 06:00
}
DEFAULT_WEEKLY = ("fri_mon", 35)  # the window and utilisation (%) reported as its default
# The same with the rest of the week's target lowered too (a second HPA setting, still no
# calendar): Friday to Monday at one level, the rest of the week at another (%).
TWO_LEVEL_OUTSIDE = (30, 35, 40, 45, 50, 60, 70, 80, 90)
# The held-out check: settings are chosen on the scored minutes before this day (New York
# time) and scored on the rest of the year, over these settings per policy family.
SELECTION_ENDS = date(2026, 7, 1)
HELD_OUT_REACTIVE = tuple(k / 100 for k in range(25, 96))
HELD_OUT_UTILISATIONS = tuple(range(25, 81))  # %
# The two-level schedule's inside level in whole %, its outside level on a grid (a few
# hundred settings per window would otherwise make this check the bench's slowest part).
HELD_OUT_TWO_LEVEL = tuple(range(25, 51))
HELD_OUT_OUTSIDE = (30, 35, 40, 45, 50, 60, 70, 80, 90)
# Other seeds of the sandbox's load model v2 (the demand's noise and timings, the active
# guests), besides the shipped (7, 2026), on the same calendar.
OTHER_SEEDS = ((8, 2027), (9, 2028))
# Floor and utilisation schedules do not depend on the pod start: computed once per setting
# (utilisation schedules kept in %, as small integers).
SCHEDULES: dict[tuple, np.ndarray] = {}


@dataclass
class Series:
    name: str
    minutes: pd.DatetimeIndex
    load: np.ndarray
    windows: list[tuple[int, int]]  # scored event windows, minute offsets
    weddings: list[Wedding]  # the calendar the plan acts on
    capacity: float  # requests/s a replica serves
    settings: Settings
    forecast: ForecastSettings
    events: list = None


# --- the sandbox year (load model v1) ----------------------------------------------------


def sandbox_weddings() -> list[Wedding]:
    """The sandbox year's calendar as the sync stores it, in ceremony order (ids break
    ties: the order the load model's draws follow). Seeded and synced as of the end of the
    year, so every wedding has an active-guest estimate from the app signals before its
    `active_guests.cutoff` — with its day-of RSVPs, not those as of the cutoff (the seed
    draws RSVPs by how far a wedding is from its `now`: a seed per day would be needed;
    docs/capacity.md, "Active guests"). Statuses say completed; only cancelled ones matter
    to the replay."""
    with scratch_database("wedperf_replay") as url, psycopg.connect(url) as conn:
        from wedperf.calendar.settings import ActiveGuestSettings
        from wedperf.sandbox.seed import seed_sandbox

        year_end = datetime.combine(START + timedelta(days=366), datetime.min.time(), UTC)
        seed_sandbox(conn, weddings=2000, days=365, seed=2026, start=START, now=year_end)
        # Signals read for the whole year (a live sync reads only the last day's weddings).
        whole_year = ActiveGuestSettings(signals_lookback=timedelta(days=400))
        sync_calendar(conn, AppDbCalendarSource(url), now=year_end, active_guests=whole_year)
        rows = conn.execute(
            "SELECT wedding_id, starts_at, ends_at, timezone, venue, guest_count, status, "
            "active_guests FROM perf.weddings WHERE status <> 'cancelled' "
            "ORDER BY starts_at, wedding_id::bigint"
        ).fetchall()
    return [Wedding(*r) for r in rows]


def sandbox(version: str) -> Series:
    progress(f"seeding the sandbox year (2,000 weddings), load model {version}")
    weddings = sandbox_weddings()
    minutes = pd.date_range(pd.Timestamp(START, tz=UTC), periods=365 * 24 * 60, freq="min")
    load, windows = demand(with_active_guests(weddings, seed=2026), minutes, version=version)
    target = CapacityTarget(name="replay", kind="kubernetes-hpa", resource="replay",
                            per_replica_rps=10.0, max_replicas=1000,
                            forecast_series="replay")  # fmt: skip
    settings = Settings(ops={"targets": [target]})
    name = "sandbox" if version == "v2" else f"sandbox_{version}"
    return Series(name, minutes, load, windows, weddings, 10.0, settings, ForecastSettings())


# --- NAB taxi ------------------------------------------------------------------------------


def nab_taxi(nab_dir: Path) -> Series:
    raw = pd.read_csv(nab_dir / "nyc_taxi.csv", parse_dates=["timestamp"])
    # NAB publishes New York wall-clock times: localise them (the autumn change's repeated
    # hour is read as its first occurrence, the spring gap shifted forward) and divide each
    # count by its bucket's real length.
    local = pd.DatetimeIndex(raw["timestamp"]).tz_localize(
        "America/New_York", ambiguous="NaT", nonexistent="shift_forward"
    )
    counts = pd.Series(raw["value"].to_numpy(dtype=float), index=local).dropna()
    counts = counts[counts.index.notna()].tz_convert(UTC)
    counts = counts[~counts.index.duplicated()]
    length = counts.index.to_series().diff().shift(-1).dt.total_seconds().fillna(1800)
    rate = counts / length.clip(upper=3600).to_numpy()  # requests/s over each bucket
    # Interpolate between bucket midpoints: the data says nothing about steps inside.
    mid = rate.copy()
    mid.index = mid.index + pd.to_timedelta(length.clip(upper=3600).to_numpy() / 2, unit="s")
    minutes = pd.date_range(counts.index[0], counts.index[-1] + pd.Timedelta(minutes=29),
                            freq="min")  # fmt: skip
    load = (
        mid.reindex(mid.index.union(minutes)).interpolate("time").reindex(minutes)
        .bfill().ffill().to_numpy(dtype=float)
    )  # fmt: skip
    events = read_events_csv(nab_dir / "nyc_taxi_events.csv", tz="America/New_York")
    weddings = [
        Wedding(f"event-{k}", e.start.to_pydatetime(), e.end.to_pydatetime(),
                "America/New_York", None, 0, "confirmed")
        for k, e in enumerate(events)
    ]  # fmt: skip
    windows = [
        (int((e.start - minutes[0]).total_seconds() // 60),
         int((e.end - minutes[0]).total_seconds() // 60))
        for e in events
    ]  # fmt: skip
    target = CapacityTarget(name="replay", kind="kubernetes-hpa", resource="replay",
                            per_replica_rps=0.5, max_replicas=1000,
                            forecast_series="replay")  # fmt: skip
    # Events are calendar windows already: no day window around them.
    settings = Settings(
        ops={"targets": [target]}, day_window_before=timedelta(0), day_window_after=timedelta(0)
    )
    forecast = ForecastSettings(holiday_country="US", holiday_subdivision="NY",
                                timezone="America/New_York")  # fmt: skip
    return Series("nab_taxi", minutes, load, windows, weddings, 0.5, settings, forecast, events)


def reseeded(series: Series, demand_seed: int, guests_seed: int) -> Series:
    """The sandbox series' calendar through load model v2 with other seeds: `demand_seed`
    for its timings, intensities and minute noise, `guests_seed` for each wedding's active
    guests (the shipped series uses 7 and 2026)."""
    guests = with_active_guests(series.weddings, seed=guests_seed)
    load, windows = demand(guests, series.minutes, version="v2", seed=demand_seed)
    return replace(series, name=f"{series.name}_seed_{demand_seed}_{guests_seed}", load=load,
                   windows=windows)  # fmt: skip


# --- running the policies ------------------------------------------------------------------


def forecasts_for(series: Series, cache_dir: Path | None = None):
    """The production fit-forecasts rounds over the series (hourly request counts)."""
    hourly = pd.Series(series.load * 60.0, index=series.minutes).resample("h").sum()
    hours = pd.date_range(hourly.index[0], hourly.index[-1] + pd.Timedelta(hours=72), freq="h")
    phases = wedding_phase_events(
        [w for w in series.weddings if w.guest_count > 0],
        arrival_before=series.forecast.arrival_before,
        ceremony_length=series.forecast.ceremony_length,
    )
    features = round_features(hours, series.forecast, events=series.events or [],
                              wedding_phases=phases)  # fmt: skip
    options = FitOptions.from_settings(series.forecast)
    times = fit_times(series.minutes[0], series.minutes[-1])

    def tick(done: int, total: int) -> None:
        if done % 30 == 0 or done == total:
            progress(f"{series.name}: fit-forecasts round {done}/{total}")

    cache = None
    if cache_dir is not None:
        digest = hashlib.sha1(hourly.to_numpy().tobytes() + repr(options).encode()).hexdigest()
        cache = cache_dir / f"replay-rounds-{series.name}-{digest[:12]}.pkl"
        if cache.exists():
            progress(f"{series.name}: forecast rounds from {cache}")
            return pickle.loads(cache.read_bytes())
    rounds = forecast_rounds(hourly, features, options, times, on_fit=tick)
    if cache is not None:
        cache.write_bytes(pickle.dumps(rounds))
    return rounds


def sized_on_peaks(series: Series, rounds, options: FitOptions):
    """The rounds with the within-hour peak-to-mean ratio the production fit stores for a
    request-rate series (learned from the minutes before each origin)."""
    per_minute = pd.Series(series.load, index=series.minutes)
    counts = per_minute.resample("h").mean() * 3600
    peaks = per_minute.resample("h").max()
    return with_peak_to_mean(rounds, counts, peaks, options.read_hours)


def scored(series: Series, first: pd.Timestamp) -> tuple[int, np.ndarray]:
    start = int(series.minutes.searchsorted(first))
    n = len(series.load)
    in_window = np.zeros(n, dtype=bool)
    for a, b in series.windows:
        if a >= start and b <= n:
            in_window[a:b] = True
    return start, in_window


def first_round(series: Series) -> pd.Timestamp:
    """When the replay's first fit-forecasts round happens (`forecast_rounds` leaves out
    rounds with less than `train_hours` of history), found without fitting: scoring starts
    there, whether or not the floor's forecasts are fitted."""
    options = FitOptions.from_settings(series.forecast)
    hours = series.minutes.floor("h").unique()
    for at in fit_times(series.minutes[0], series.minutes[-1]):
        origin = at.floor("h")
        read = (hours >= origin - options.read_hours * pd.Timedelta(hours=1)) & (hours < origin)
        if read.sum() >= options.train_hours:
            return at
    raise ValueError(f"{series.name}: no fit-forecasts round has enough history")


def run_policy(series, replicas, start, in_window, oracle_hours) -> dict:
    result = evaluate(replicas[start:], series.load[start:], series.capacity, in_window[start:])
    # Not scored (the budgets count event minutes only), reported so the trade is visible.
    outside = evaluate(replicas[start:], series.load[start:], series.capacity,
                       ~in_window[start:]).under_provisioned_minutes  # fmt: skip
    return {
        "under_provisioned_minutes": int(result.under_provisioned_minutes),
        "replica_hours_ratio": round(result.replica_hours / oracle_hours, 4),
        "under_provisioned_minutes_outside_events": int(outside),
    }


def cheapest(points: list[dict], minutes: float) -> dict | None:
    """The cheapest point with at most `minutes` under-provisioned event minutes."""
    ok = [p for p in points if p["under_provisioned_minutes"] <= minutes]
    return min(ok, key=lambda p: p["replica_hours_ratio"]) if ok else None


def cost_at(points: list[dict], minutes: int) -> float | None:
    best = cheapest(points, minutes)
    return best["replica_hours_ratio"] if best else None


def bracket(points: list[dict], key: str, minutes: int) -> tuple[float | None, float | None]:
    """Around a threshold on a grid of one setting (`key`), higher = cheaper and riskier:
    the grid's highest value with at most `minutes` under-provisioned event minutes below
    its lowest value with more (None: there is none)."""
    over = [p[key] for p in points if p["under_provisioned_minutes"] > minutes]
    hi = min(over) if over else None
    within = [
        p[key] for p in points
        if p["under_provisioned_minutes"] <= minutes and (hi is None or p[key] < hi)
    ]  # fmt: skip
    return (max(within) if within else None), hi


def reactive_threshold(reactive_at, grid: list[dict], minutes: int) -> dict | None:
    """Reactive's highest target utilisation with at most `minutes` under-provisioned event
    minutes: bisected to 0.001 between the grid points around it (up to 1.0; None: not even
    the grid's lowest). Assumes the minutes grow with the utilisation between those points;
    every point tried is kept, and the costs are taken over all of them."""
    lo, hi = bracket(grid, "target_utilisation", minutes)
    if lo is None:
        return None
    if hi is None:
        if reactive_at(1.0)["under_provisioned_minutes"] <= minutes:
            return reactive_at(1.0)
        hi = 1.0
    found = bisect_threshold(
        lambda u: reactive_at(u)["under_provisioned_minutes"] <= minutes, lo, hi, tolerance=0.001
    )
    return reactive_at(found)


def integer_scan(point_at, grid: list[dict], key: str) -> list[dict]:
    """Every whole % strictly between the grid values around each budget's threshold."""
    points = {}
    for minutes in BUDGETS:
        lo, hi = bracket(grid, key, minutes)
        if lo is not None and hi is not None:
            points |= {u: point_at(u) for u in range(int(lo) + 1, int(hi)) if u not in points}
    return list(points.values())


def thresholds(points: list[dict], key: str) -> dict:
    """cost_at_{10,0}_minutes over `points` and the setting (`key`) each is reached at."""
    out = {}
    for minutes in BUDGETS:
        best = cheapest(points, minutes)
        out[f"cost_at_{minutes}_minutes"] = best["replica_hours_ratio"] if best else None
        out[f"{key}_at_{minutes}_minutes"] = best[key] if best else None
    return out


def split_at(series: Series, start: int, in_window: np.ndarray) -> int | None:
    """The held-out half's first minute: the first from SELECTION_ENDS (New York midnight)
    at which no scored event window is open, so each window falls wholly in one half (None:
    that day is not inside the scored period)."""
    k = int(series.minutes.searchsorted(pd.Timestamp(SELECTION_ENDS).tz_localize(FIT_TZ)))
    if k <= start or k >= len(series.load):
        return None
    while k < len(series.load) and in_window[k]:
        k += 1
    return k


def held_out_check(series: Series, start: int, in_window: np.ndarray, families: dict,
                   defaults: dict) -> dict | None:  # fmt: skip
    """Choose each family's setting on the selection half, score it on the held-out half.

    `families`: name -> [(setting, replicas())]. The selection half is the scored minutes
    from `start` to the split (`split_at`), the held-out half the rest. Rule: the cheapest
    setting on the selection half (replica-hours / the oracle's over that half) with at most
    10 x (selection event minutes / scored event minutes) under-provisioned event minutes
    there — the yearly 10-minute bar pro rata; with none, the fewest minutes, then the
    cheapest. `defaults`: name -> the shipped setting, also scored on each half. The
    hindsight choice (the same rule on the held-out half, its own pro-rata bar) says what
    the selection's choice left on the table."""
    split = split_at(series, start, in_window)
    if split is None:
        return None
    n = len(series.load)
    halves = {"selection": (start, split), "held_out": (split, n)}
    total = int(in_window[start:].sum())
    event_minutes = {h: int(in_window[a:b].sum()) for h, (a, b) in halves.items()}
    bar = {h: 10 * event_minutes[h] / total for h in halves}
    load, capacity = series.load, series.capacity
    oracle_hours = {
        h: evaluate(oracle(load[a:b], capacity), load[a:b], capacity, in_window[a:b]).replica_hours
        for h, (a, b) in halves.items()
    }

    def score(replicas: np.ndarray) -> dict:
        out = {}
        for h, (a, b) in halves.items():
            result = evaluate(replicas[a:b], load[a:b], capacity, in_window[a:b])
            out[h] = {
                "under_provisioned_minutes": int(result.under_provisioned_minutes),
                "replica_hours_ratio": round(result.replica_hours / oracle_hours[h], 4),
            }
        return out

    def choose(points: list[dict], half: str) -> dict:
        within = [p for p in points if p[half]["under_provisioned_minutes"] <= bar[half]]
        pool = within or points
        return min(pool, key=lambda p: (p[half]["under_provisioned_minutes"] if not within else 0,
                                        p[half]["replica_hours_ratio"]))  # fmt: skip

    chosen = {}
    for name, candidates in families.items():
        points = [{"setting": setting, **score(replicas())} for setting, replicas in candidates]
        pick, hindsight = choose(points, "selection"), choose(points, "held_out")
        default = next(p for p in points if p["setting"] == defaults[name])
        chosen[name] = {
            "chosen": pick["setting"],
            "met_the_bar": pick["selection"]["under_provisioned_minutes"] <= bar["selection"],
            "selection": pick["selection"],
            "held_out": pick["held_out"],
            "hindsight": {"setting": hindsight["setting"], **hindsight["held_out"]},
            "shipped_default": {"setting": default["setting"], **default["held_out"]},
            "shipped_default_selection": default["selection"],
            "settings_tried": len(points),
        }
        progress(f"{series.name} held-out {name}: chose {pick['setting']} on the selection "
                 f"half ({pick['selection']}); held out: {pick['held_out']}; the shipped "
                 f"{default['setting']} held out: {default['held_out']}")  # fmt: skip
    return {
        "rule": "cheapest on the selection half with at most 10 x selection / scored event "
        "minutes under-provisioned event minutes there",
        "selection": [str(series.minutes[start]), str(series.minutes[split])],
        "held_out": [str(series.minutes[split]), str(series.minutes[-1])],
        "event_minutes": event_minutes,
        "bar_minutes": {h: round(v, 2) for h, v in bar.items()},
        "families": chosen,
    }


def integer_threshold(ok, lo: int, hi: int) -> int | None:
    """The highest whole x in [lo, hi] at which `ok` holds, for an `ok` that holds up to a
    point and fails above it (None: not even at `lo`)."""
    if not ok(lo):
        return None
    if ok(hi):
        return hi
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if ok(mid) else (lo, mid)
    return lo


def two_level_search(point_at) -> list[dict]:
    """The two-level weekly schedule (`point_at(inside %, outside %)`) searched in whole %:
    for each outside level on TWO_LEVEL_OUTSIDE, then for every whole % between the grid
    neighbours of each budget's cheapest outside level, the highest whole % inside (at most
    the outside level) within the budget, found by bisection. Assumes the minutes grow with
    either level, the other fixed (so that threshold falls as the outside level rises and
    bounds the bisection). Every point tried is returned."""
    tried: dict[tuple[int, int], dict] = {}
    found: dict[tuple[int, int], int | None] = {}  # (outside, budget) -> inside threshold

    def at(u: int, o: int) -> dict:
        if (u, o) not in tried:
            tried[u, o] = {**point_at(u, o), "outside_utilisation": o}
        return tried[u, o]

    def bound(outside: int, minutes: int) -> int | None:
        """The threshold at `outside` as a bound for another outside level (None: none, or
        only the cap u <= outside)."""
        u = found.get((outside, minutes))
        return u if u is not None and u < outside else None

    def search(o: int, minutes: int, lo: int | None, hi: int | None) -> None:
        lo = EVENT_UTILISATIONS[0] - 5 if lo is None else lo
        hi = o if hi is None else min(o, hi)
        within = lambda u: at(u, o)["under_provisioned_minutes"] <= minutes  # noqa: E731
        found[o, minutes] = integer_threshold(within, min(lo, hi), hi)

    for minutes in BUDGETS:
        previous = None
        for o in TWO_LEVEL_OUTSIDE:
            search(o, minutes, None, previous)
            previous = bound(o, minutes) if bound(o, minutes) is not None else previous
        best = cheapest([p for p in tried.values() if p["under_provisioned_minutes"] <= minutes],
                        minutes)  # fmt: skip
        if best is None:
            continue
        o = best["outside_utilisation"]
        k = TWO_LEVEL_OUTSIDE.index(o) if o in TWO_LEVEL_OUTSIDE else None
        if k is None:
            continue
        below = TWO_LEVEL_OUTSIDE[k - 1] if k > 0 else o
        above = TWO_LEVEL_OUTSIDE[k + 1] if k + 1 < len(TWO_LEVEL_OUTSIDE) else o
        for other in range(below + 1, above):
            if other != o:
                search(other, minutes, found.get((above, minutes)), bound(below, minutes))
    return list(tried.values())


def two_level_thresholds(points: list[dict]) -> dict:
    out = thresholds(points, "event_utilisation")
    for minutes in BUDGETS:
        best = cheapest(points, minutes)
        out[f"outside_utilisation_at_{minutes}_minutes"] = (
            best["outside_utilisation"] if best else None
        )
        if best is not None and "window" in best:
            out[f"window_at_{minutes}_minutes"] = best["window"]
    return out


RIVALS = ("reactive", "scheduled_weekly", "scheduled_weekly_two_level")


def strongest_rival(policies: dict) -> dict:
    """Per budget, the cheapest of reactive (in whole %, deployable; bisected beside it) and
    the weekly schedules, and wedperf's cost over it."""
    out = {}
    for minutes in BUDGETS:
        key = f"cost_at_{minutes}_minutes"
        for label, reactive_key in (("", f"{key}_whole_percent"), ("_bisected", key)):
            costs = {name: policies[name].get(reactive_key if name == "reactive" else key)
                     for name in RIVALS}  # fmt: skip
            costs = {name: c for name, c in costs.items() if c is not None}
            if not costs:
                out[f"{key}{label}"] = out[f"policy_at_{minutes}_minutes{label}"] = None
                out[f"wedperf_ratio_at_{minutes}_minutes{label}"] = None
                continue
            name = min(costs, key=costs.get)
            ours = policies["wedperf"][key]
            out[f"{key}{label}"] = costs[name]
            out[f"policy_at_{minutes}_minutes{label}"] = name
            out[f"wedperf_ratio_at_{minutes}_minutes{label}"] = (
                round(ours / costs[name], 4) if ours is not None else None
            )
    return out


def evaluate_series(series: Series, rounds, pod_start: int, *, first: pd.Timestamp,
                    held_out: bool = False) -> dict:  # fmt: skip
    """Every policy on `series` at `pod_start`, scored from `first`. Without `rounds` (the
    quick mode) the floor's settings, which need the forecasts, are left out."""
    config = ReactiveConfig(pod_start=pod_start)
    forecast_at = newest_fit(rounds) if rounds is not None else None
    start, in_window = scored(series, first)
    oracle_hours = evaluate(oracle(series.load, series.capacity)[start:], series.load[start:],
                            series.capacity, in_window[start:]).replica_hours  # fmt: skip
    target = series.settings.ops.targets[0]
    baseline = round(config.target_utilisation * 100)  # the HPA's own target, %
    shipped = series.settings.ops.event_utilisation
    shipped_lead = int(shipped.lead.total_seconds() // 60)

    def score(replicas: np.ndarray) -> dict:
        return run_policy(series, replicas, start, in_window, oracle_hours)

    def wedperf_replicas(*, floor: str | None = None, quantile: int | None = None,
                         headroom: float | None = None, utilisation: int | None = None,
                         lead: int | None = None) -> tuple[np.ndarray, dict]:  # fmt: skip
        """wedperf as configured: None takes the shipped default (OpsSettings); utilisation
        0 switches the event-window target utilisation off; floor: ops.floor."""
        defaults = series.settings.ops
        event = defaults.event_utilisation
        event = event.model_copy(update={
            "enabled": utilisation != 0,
            "utilisation": utilisation or event.utilisation,
            "lead": timedelta(minutes=lead) if lead is not None else event.lead,
        })  # fmt: skip
        ops = defaults.model_copy(update={
            "floor": floor or defaults.floor, "event_utilisation": event,
            "quantile": quantile or defaults.quantile,
            "headroom": defaults.headroom if headroom is None else headroom,
        })  # fmt: skip
        settings = series.settings.model_copy(update={"ops": ops})
        levels = per_minute = None
        floor = raises_floor(target.kind, ops.floor, event.enabled)
        if floor:
            if forecast_at is None:
                raise ValueError("the floor needs the forecast rounds (not in the quick mode)")
            key = (series.name, "floor", ops.quantile, ops.headroom)
            if key not in SCHEDULES:
                SCHEDULES[key], _ = production_floor(series.weddings, series.minutes, target,
                                                     settings, forecast_at)  # fmt: skip
            levels = SCHEDULES[key]
        if acts_on_utilisation(target.kind, event.enabled):
            key = (series.name, "utilisation", event.utilisation, event.lead, baseline)
            if key not in SCHEDULES:
                schedule, _ = production_utilisation(series.weddings, series.minutes, target,
                                                     settings, baseline)  # fmt: skip
                SCHEDULES[key] = schedule.astype(np.uint8)
            per_minute = SCHEDULES[key] / 100.0
        replicas = reactive(series.load, series.capacity, config, floor=levels,
                            utilisation=per_minute)  # fmt: skip
        return replicas, {
            "floor": floor,
            "quantile": ops.quantile if floor else None,
            "headroom": ops.headroom if floor else None,
            "event_utilisation": event.utilisation if event.enabled else None,
            "lead_minutes": int(event.lead.total_seconds() // 60) if event.enabled else None,
        }

    def wedperf(**settings) -> dict:
        replicas, setting = wedperf_replicas(**settings)
        return {**setting, **score(replicas)}

    tried_reactive: dict[float, dict] = {}

    def reactive_replicas(utilisation: float) -> np.ndarray:
        return reactive(series.load, series.capacity,
                        replace(config, target_utilisation=utilisation))  # fmt: skip

    def reactive_at(utilisation: float) -> dict:
        utilisation = round(utilisation, 6)
        if utilisation not in tried_reactive:
            tried_reactive[utilisation] = {"target_utilisation": utilisation,
                                           **score(reactive_replicas(utilisation))}  # fmt: skip
        return tried_reactive[utilisation]

    def weekly_replicas(window: str, utilisation: int, outside: int = baseline) -> np.ndarray:
        key = (series.name, "weekly", window, utilisation, outside)
        schedule = SCHEDULES.get(key)
        if schedule is None:
            schedule = weekly_utilisation(series.minutes, WEEKLY_WINDOWS[window],
                                          utilisation=utilisation,
                                          baseline=outside).astype(np.uint8)  # fmt: skip
            if outside == baseline:  # the two-level's hundreds would fill the memory
                SCHEDULES[key] = schedule
        return reactive(series.load, series.capacity, config,
                        utilisation=schedule / 100.0)  # fmt: skip

    def scheduled(window: str, utilisation: int, outside: int = baseline) -> dict:
        """The weekly schedule's figures, with the under-provisioned event minutes that fall
        outside its window (weddings on other days, before it opens, after it closes)."""
        replicas = weekly_replicas(window, utilisation, outside)
        key = (series.name, "weekly-window", window)
        if key not in SCHEDULES:
            SCHEDULES[key] = WEEKLY_WINDOWS[window].contains(series.minutes)
        short = (replicas * series.capacity < series.load) & in_window & ~SCHEDULES[key]
        return {"window": window, "event_utilisation": utilisation,
                **({"outside_utilisation": outside} if outside != baseline else {}),
                **score(replicas),
                "under_provisioned_minutes_outside_window": int(short[start:].sum())}  # fmt: skip

    def calendar_free(headroom: float) -> dict:
        floor = calendar_free_floor(series.minutes, series.load, capacity=series.capacity,
                                    headroom=headroom)  # fmt: skip
        replicas = reactive(series.load, series.capacity, config, floor=floor)
        return {"headroom": headroom, **score(replicas)}

    # The shipped defaults, the floor alone (the previous policy), then the sweeps: the
    # floor's quantile x headroom; the event-window utilisation alone (floor off) x lead;
    # the floor at its defaults plus the event-window utilisation.
    default_wedperf = wedperf()
    sweep_utilisation = [wedperf(floor="never", utilisation=u, lead=lead)
                         for u in EVENT_UTILISATIONS for lead in LEADS]  # fmt: skip
    if forecast_at is not None:
        floor_only = wedperf(utilisation=0)
        sweep_floor = [wedperf(quantile=q, headroom=h, utilisation=0)
                       for q in QUANTILES for h in HEADROOMS]  # fmt: skip
        sweep_both = [wedperf(floor="always", utilisation=u) for u in EVENT_UTILISATIONS]
    else:
        floor_only, sweep_floor, sweep_both = None, [], []
    sweep_wedperf = sweep_floor + sweep_utilisation + sweep_both
    # wedperf's event utilisation at the shipped lead in whole %, around its thresholds.
    at_lead = [p for p in sweep_utilisation if p["lead_minutes"] == shipped_lead]
    scan = integer_scan(lambda u: wedperf(floor="never", utilisation=u, lead=shipped_lead),
                        at_lead, "event_utilisation")  # fmt: skip
    progress(f"{series.name}, pod start {pod_start}: wedperf at the {shipped_lead}-minute lead, "
             f"whole %: {thresholds(at_lead + scan, 'event_utilisation')}")  # fmt: skip

    # Reactive: the grid, then each budget's threshold bisected to 0.001.
    sweep_reactive = [reactive_at(u) for u in UTILISATIONS]
    reactive_thresholds = {m: reactive_threshold(reactive_at, sweep_reactive, m) for m in BUDGETS}
    # ... and in whole % around each (HPA averageUtilization is a whole %: the deployable).
    whole_reactive = {}
    for t in reactive_thresholds.values():
        if t is not None:
            k = int(t["target_utilisation"] * 100 + 1e-9)
            whole_reactive |= {u: reactive_at(u / 100) for u in range(k - 2, min(k + 3, 101))}
    whole_reactive = sweep_reactive + [p for u, p in whole_reactive.items()
                                       if p not in sweep_reactive]  # fmt: skip
    progress(f"{series.name}, pod start {pod_start}: reactive bisected: " + ", ".join(
        f"<= {m} min at {t['target_utilisation']} ({t['replica_hours_ratio']}x)" if t else
        f"<= {m} min: none" for m, t in reactive_thresholds.items()))  # fmt: skip

    # Reactive at wedperf's cost: bisect the utilisation until replica-hours are at most 0.5%
    # above wedperf's (never below: reactive is not given a cheaper point), else the closest
    # setting at or above wedperf's cost.
    goal = default_wedperf["replica_hours_ratio"]
    above = [u for u, p in tried_reactive.items() if p["replica_hours_ratio"] >= goal]
    below = [u for u, p in tried_reactive.items() if p["replica_hours_ratio"] < goal]
    if above and below and max(above) < min(below):
        found = bisect_threshold(
            lambda u: reactive_at(u)["replica_hours_ratio"] >= goal, max(above), min(below),
            tolerance=1e-5,
            good_enough=lambda u: 0 <= reactive_at(u)["replica_hours_ratio"] / goal - 1 <= 0.005,
        )  # fmt: skip
        equal = reactive_at(found)
    else:  # wedperf's cost outside reactive's range: the nearest end
        equal = reactive_at(max(above) if above else min(below))
    close = 0 <= equal["replica_hours_ratio"] / goal - 1 <= 0.005
    equal = {**equal, "search": "at most 0.5% above wedperf's cost" if close
             else "closest at or above wedperf's cost",
             "cost_vs_wedperf": round(equal["replica_hours_ratio"] / goal, 4)}  # fmt: skip
    progress(f"{series.name}, pod start {pod_start}: reactive_equal_cost {equal}")

    # Scheduled weekly scaling: each window's grid, then whole % around its thresholds.
    sweep_scheduled = []
    for window in WEEKLY_WINDOWS:
        grid = [scheduled(window, u) for u in EVENT_UTILISATIONS]
        sweep_scheduled += grid + integer_scan(lambda u, w=window: scheduled(w, u), grid,
                                               "event_utilisation")  # fmt: skip
    by_window = {
        w: thresholds([p for p in sweep_scheduled if p["window"] == w], "event_utilisation")
        # Scored event minutes the window does not cover: reactive alone at the HPA's target.
        | {"event_minutes_outside_window": int(
            (in_window & ~SCHEDULES[(series.name, "weekly-window", w)])[start:].sum())}
        for w in WEEKLY_WINDOWS
    }  # fmt: skip
    progress(f"{series.name}, pod start {pod_start}: scheduled_weekly {by_window}")
    # ... and with the rest of the week's target lowered too, for every window.
    sweep_two_level = []
    two_level_by_window = {}
    for window in WEEKLY_WINDOWS:
        points = two_level_search(lambda u, o, w=window: scheduled(w, u, o))
        sweep_two_level += points
        two_level_by_window[window] = two_level_thresholds(points)
    two_level = two_level_thresholds(sweep_two_level) | {"windows": two_level_by_window}
    progress(f"{series.name}, pod start {pod_start}: scheduled_weekly_two_level {two_level}")

    sweep_calendar_free = [calendar_free(h) for h in HEADROOMS]
    all_reactive = sorted(tried_reactive.values(), key=lambda p: p["target_utilisation"])
    default_weekly = next(p for p in sweep_scheduled
                          if (p["window"], p["event_utilisation"]) == DEFAULT_WEEKLY)  # fmt: skip
    policies = {
        "reactive": {**reactive_at(0.9),
                     "cost_at_10_minutes": cost_at(all_reactive, 10),
                     "cost_at_0_minutes": cost_at(all_reactive, 0),
                     "cost_at_10_minutes_grid": cost_at(sweep_reactive, 10),
                     "cost_at_0_minutes_grid": cost_at(sweep_reactive, 0),
                     **{f"{k}_whole_percent": v for k, v in
                        thresholds(whole_reactive, "target_utilisation").items()},
                     **{f"threshold_utilisation_{m}_minutes": t["target_utilisation"] if t else None
                        for m, t in reactive_thresholds.items()}},
        "reactive_equal_cost": equal,
        "scheduled_weekly": {**default_weekly,
                             "cost_at_10_minutes": cost_at(sweep_scheduled, 10),
                             "cost_at_0_minutes": cost_at(sweep_scheduled, 0),
                             "windows": by_window},
        "scheduled_weekly_two_level": two_level,
        "calendar_free": {**next(p for p in sweep_calendar_free if p["headroom"] == 0.2),
                          "cost_at_10_minutes": cost_at(sweep_calendar_free, 10),
                          "cost_at_0_minutes": cost_at(sweep_calendar_free, 0)},
        "wedperf": {**default_wedperf,
                    "cost_at_10_minutes": cost_at(sweep_wedperf + scan, 10),
                    "cost_at_0_minutes": cost_at(sweep_wedperf + scan, 0),
                    "cost_at_10_minutes_grid": cost_at(sweep_wedperf, 10),
                    "cost_at_0_minutes_grid": cost_at(sweep_wedperf, 0),
                    "at_shipped_lead": thresholds(at_lead + scan, "event_utilisation")},
        "wedperf_utilisation_only": {
            **next(p for p in sweep_utilisation
                   if p["event_utilisation"] == shipped.utilisation
                   and p["lead_minutes"] == shipped_lead),
            "cost_at_10_minutes": cost_at(sweep_utilisation + scan, 10),
            "cost_at_0_minutes": cost_at(sweep_utilisation + scan, 0)},
        "oracle": {"under_provisioned_minutes": 0, "replica_hours_ratio": 1.0},
    }  # fmt: skip
    policies["strongest_rival"] = strongest_rival(policies)
    if floor_only is not None:
        policies["wedperf_floor_only"] = {**floor_only,
                                          "cost_at_10_minutes": cost_at(sweep_floor, 10),
                                          "cost_at_0_minutes": cost_at(sweep_floor, 0)}  # fmt: skip
    figures = {
        "policies": policies,
        "sweep": {
            "wedperf": sweep_wedperf,
            "wedperf_floor": sweep_floor,
            "wedperf_utilisation": sweep_utilisation,
            "wedperf_utilisation_scan": scan,
            "wedperf_floor_utilisation": sweep_both,
            "reactive": sweep_reactive,
            "reactive_bisection": [p for p in all_reactive if p not in sweep_reactive],
            "scheduled_weekly": sweep_scheduled,
            "scheduled_weekly_two_level": sweep_two_level,
            "calendar_free": sweep_calendar_free,
        },
        "event_minutes": int(in_window[start:].sum()),
        "scored_from": str(series.minutes[start]),
    }
    if held_out:
        progress(f"{series.name}, pod start {pod_start}: held-out check")
        families = {
            "reactive": [(u, lambda u=u: reactive_replicas(u)) for u in HELD_OUT_REACTIVE],
            "scheduled_weekly": [((w, u), lambda w=w, u=u: weekly_replicas(w, u))
                                 for w in WEEKLY_WINDOWS for u in HELD_OUT_UTILISATIONS],
            "scheduled_weekly_two_level": [
                ((w, u, o), lambda w=w, u=u, o=o: weekly_replicas(w, u, o))
                for w in WEEKLY_WINDOWS for o in HELD_OUT_OUTSIDE for u in HELD_OUT_TWO_LEVEL
                if u <= o],
            "wedperf": [((u, lead), lambda u=u, lead=lead: wedperf_replicas(
                            floor="never", utilisation=u, lead=lead)[0])
                        for u in HELD_OUT_UTILISATIONS for lead in LEADS],
        }  # fmt: skip
        figures["held_out"] = held_out_check(series, start, in_window, families, {
            "reactive": config.target_utilisation, "scheduled_weekly": DEFAULT_WEEKLY,
            "scheduled_weekly_two_level": (DEFAULT_WEEKLY[0], DEFAULT_WEEKLY[1], 90),
            "wedperf": (shipped.utilisation, shipped_lead)})  # fmt: skip
    return figures


WEEKLY_COLOURS = {"fri_mon": "tab:green", "sat_sun": "tab:red", "thu_mon": "tab:olive"}


def draw_frontier(results: dict, path: Path, pod_start: str = "3") -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    names = list(results)
    figure = Figure(figsize=(6 * len(names), 6.0))
    for k, name in enumerate(names):
        axes = figure.add_subplot(1, len(names), k + 1)
        sweep = results[name]["pod_start"][pod_start]["sweep"]
        # The weekly schedule's two windows as two curves.
        weekly = {w: [p for p in sweep.get("scheduled_weekly", []) if p["window"] == w]
                  for w in WEEKLY_WINDOWS}  # fmt: skip
        curves = [
            ("reactive", sweep["reactive"] + sweep.get("reactive_bisection", []), "o",
             "tab:blue", "reactive (utilisation)"),
            ("calendar_free", sweep["calendar_free"], "^", "tab:orange",
             "calendar_free (headroom)"),
            *((f"weekly_{w}", points, "v", WEEKLY_COLOURS.get(w),
               f"scheduled_weekly {w} (utilisation)") for w, points in weekly.items()),
            ("weekly_two_level", sweep.get("scheduled_weekly_two_level", []), "<", "tab:brown",
             "scheduled_weekly two-level (rest of week lowered too)"),
            ("wedperf_floor", sweep["wedperf_floor"], "s", "tab:pink",
             "wedperf floor (quantile x headroom)"),
            ("wedperf_utilisation", sweep["wedperf_utilisation"]
             + sweep.get("wedperf_utilisation_scan", []), "D", "tab:purple",
             "wedperf event utilisation (x lead)"),
            ("wedperf_floor_utilisation", sweep["wedperf_floor_utilisation"], "P", "tab:cyan",
             "wedperf floor + event utilisation"),
        ]  # fmt: skip
        for policy, points, marker, colour, label in curves:
            if not points:  # the floor's, in the quick mode
                continue
            points = sorted(points, key=lambda p: p["replica_hours_ratio"])
            joined = (
                policy in ("reactive", "calendar_free")
                or policy.removeprefix("weekly_") in WEEKLY_WINDOWS
            )
            axes.plot(
                [p["replica_hours_ratio"] for p in points],
                [p["under_provisioned_minutes"] for p in points],
                marker=marker, linestyle="-" if joined else "", label=label, color=colour,
                markersize=4 if joined else 6,
            )  # fmt: skip
            if policy == "wedperf_utilisation":
                for p in points:
                    if (
                        p["lead_minutes"] == Settings().ops.event_utilisation.lead.seconds // 60
                        and p["event_utilisation"] in EVENT_UTILISATIONS
                    ):
                        axes.annotate(f"{p['event_utilisation']}%", (
                            p["replica_hours_ratio"], p["under_provisioned_minutes"]),
                            fontsize=7, textcoords="offset points", xytext=(3, 3))  # fmt: skip
        chosen = results[name]["pod_start"][pod_start]["policies"]["wedperf"]
        axes.plot([chosen["replica_hours_ratio"]], [chosen["under_provisioned_minutes"]],
                  marker="*", markersize=14, linestyle="", color="black",
                  label="wedperf (shipped defaults)")  # fmt: skip
        cron = results[name]["pod_start"][pod_start]["policies"]["scheduled_weekly"]
        axes.plot([cron["replica_hours_ratio"]], [cron["under_provisioned_minutes"]],
                  marker="X", markersize=11, linestyle="", color="dimgray",
                  label=f"scheduled_weekly ({cron['window']}, "
                        f"{cron['event_utilisation']}%)")  # fmt: skip
        axes.set_xlabel("replica-hours / oracle")
        axes.set_ylabel("under-provisioned event minutes")
        axes.set_yscale("symlog", linthresh=10)
        axes.set_title(f"{name} (pod start {pod_start} min)")
        axes.grid(True, alpha=0.3)
    # One legend under the panels (the series share the policies): none covers a point.
    handles, labels = figure.axes[0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="lower center", ncol=4, fontsize=8, frameon=False)
    figure.tight_layout(rect=(0, 0.16, 1, 1))
    figure.savefig(path, dpi=110)


def summary(policies: dict) -> str:
    """One progress line: each policy's point (if it has one) and its costs."""
    return ", ".join(
        f"{p}"
        + (f" {v['under_provisioned_minutes']} min at {v['replica_hours_ratio']:.3f}x"
           if "under_provisioned_minutes" in v else "")
        + f" (cost@10 {v.get('cost_at_10_minutes')}, cost@0 {v.get('cost_at_0_minutes')})"
        for p, v in policies.items()
    )  # fmt: skip


def seed_figures(series: Series, first: pd.Timestamp, pod_start: int) -> dict:
    """The policies that need no forecast on other seeds of the series' load model, at
    `pod_start` (the first of --pod-starts)."""
    out = {}
    for demand_seed, guests_seed in OTHER_SEEDS:
        SCHEDULES.clear()  # one series' schedules at a time (memory)
        other = reseeded(series, demand_seed, guests_seed)
        progress(f"{other.name}: reactive, scheduled_weekly and wedperf's utilisation")
        figures = evaluate_series(other, None, pod_start, first=first)
        lead = series.settings.ops.event_utilisation.lead.total_seconds() // 60
        at_lead = sorted((p for p in figures["sweep"]["wedperf_utilisation"]
                          + figures["sweep"]["wedperf_utilisation_scan"]
                          if p["lead_minutes"] == lead),
                         key=lambda p: p["event_utilisation"])  # fmt: skip
        out[f"{demand_seed}/{guests_seed}"] = {
            "pod_start": pod_start,
            "policies": figures["policies"],
            "event_minutes": figures["event_minutes"],
            "wedperf_utilisation_at_shipped_lead": [
                {k: p[k] for k in ("event_utilisation", "under_provisioned_minutes",
                                   "replica_hours_ratio")} for p in at_lead],
        }  # fmt: skip
        progress(f"{other.name}: {summary(figures['policies'])}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_nab = os.environ.get("WEDPERF_NAB_DIR") or datasets_dir() / "nab"
    parser.add_argument("--nab-dir", type=Path, default=Path(default_nab))
    parser.add_argument("--out-dir", type=Path, default=Path.cwd())
    parser.add_argument("--series", default="sandbox,sandbox_v1,nab_taxi")
    parser.add_argument(
        "--cache-dir", type=Path, default=None,
        help="keep the forecast rounds here and reuse them when series and options match",
    )  # fmt: skip
    parser.add_argument(
        "--nowcast", action="store_true",
        help="measure the nowcast on the sandbox year only (its docs table)",
    )  # fmt: skip
    parser.add_argument(
        "--quick", action="store_true",
        help="no forecasts: leave out the floor's settings (minutes instead of half an hour)",
    )  # fmt: skip
    parser.add_argument("--pod-starts", default=",".join(map(str, POD_STARTS)),
                        help="pod start times (minutes), the first one also held out and "
                        "drawn; default: %(default)s")  # fmt: skip
    args = parser.parse_args()
    if args.nowcast:
        report({"nowcast": measure_nowcast()})
        return
    wanted = args.series.split(",")
    pod_starts = [int(p) for p in args.pod_starts.split(",")]

    results: dict = {}
    makers = {
        "sandbox": lambda: sandbox("v2"),
        "sandbox_v1": lambda: sandbox("v1"),
        "nab_taxi": lambda: nab_taxi(args.nab_dir),
    }
    for name in wanted:
        if name == "nab_taxi" and not (args.nab_dir / "nyc_taxi.csv").exists():
            progress(f"NAB data not found at {args.nab_dir}; nab_taxi skipped")
            continue
        SCHEDULES.clear()  # one series' schedules at a time (memory)
        series = makers[name]()
        first = first_round(series)
        rounds = None
        if not args.quick:
            rounds = sized_on_peaks(series, forecasts_for(series, args.cache_dir),
                                    FitOptions.from_settings(series.forecast))  # fmt: skip
            if rounds[0][0] != first:
                raise RuntimeError(f"{name}: first round {rounds[0][0]}, expected {first}")
        results[name] = {"pod_start": {}}
        for pod_start in pod_starts:
            figures = evaluate_series(series, rounds, pod_start, first=first,
                                      held_out=pod_start == pod_starts[0])  # fmt: skip
            results[name]["pod_start"][str(pod_start)] = figures
            progress(f"{name}, pod start {pod_start} min: {summary(figures['policies'])}")
        main_figures = results[name]["pod_start"][str(pod_starts[0])]
        results[name] |= {
            "policies": main_figures["policies"],
            "event_minutes": main_figures["event_minutes"],
            "held_out": main_figures.pop("held_out"),
        }
        if name == "sandbox":
            results[name]["seeds"] = seed_figures(series, first, pod_starts[0])
    args.out_dir.mkdir(parents=True, exist_ok=True)
    png = args.out_dir / "replay_frontier.png"
    draw_frontier(results, png, str(pod_starts[0]))
    progress(f"frontier: {png}")
    report({"series": results, "frontier_png": str(png), "quick": args.quick})


def nowcast_floor(series: Series) -> np.ndarray:
    """`nowcast_schedule`'s floor."""
    return nowcast_schedule(series)[0]


def nowcast_schedule(series: Series):
    """(floor, steps): the floor the watch rounds' intensity nowcast sets on the series'
    target, minute by minute (`capacity.replay.production_nowcast`, the production
    decisions), for a sandbox series: each wedding's observed requests/s are its part of
    the load model
    (`DemandParts.wedding_rps`, the same draws as `sandbox()`: active guests seeded 2026,
    the model's default seed), what Prometheus's per-wedding rate shows. Under the
    reactive autoscaler (`reactive(..., floor=...)`) it adds to any other policy's floor
    as the maximum of the two. The nowcast is switched on here (`ops.nowcast.enabled`; off
    by default), its other settings as the series has them. Not for nab_taxi: its events
    have no per-event load."""
    from wedperf.capacity.replay import production_nowcast
    from wedperf.sandbox.demand import demand_parts

    versions = {"sandbox": "v2", "sandbox_v1": "v1"}
    if series.name not in versions:
        raise ValueError(f"no per-wedding load for series {series.name!r}: only sandbox ones")
    parts = demand_parts(with_active_guests(series.weddings, seed=2026), series.minutes,
                         version=versions[series.name])  # fmt: skip
    n = len(series.minutes)
    observed = {}
    for i, k in enumerate(parts.wedding_index):
        lo, end = parts.windows[i]
        a, b = max(lo, 0), min(end, n)
        observed[series.weddings[k].wedding_id] = (a, parts.extras[i][a - lo : b - lo]
                                                   * parts.noise[a:b])  # fmt: skip
    ops = series.settings.ops
    nowcast = ops.nowcast.model_copy(update={"enabled": True})
    settings = series.settings.model_copy(
        update={"ops": ops.model_copy(update={"nowcast": nowcast})}
    )
    schedule, steps = production_nowcast(series.weddings, series.minutes, ops.targets[0],
                                         settings, observed)  # fmt: skip
    return schedule, steps


# --- the nowcast's measurement (docs/capacity.md, "Re-sizing during the day") --------------

# ops.nowcast settings measured, by name (the defaults first); `phase_rates` as (mean, peak)
# per phase. "medians": the phase medians measured on 600 sandbox weddings.
_MEDIANS = {"before": (0.0056, 0.0067), "arrival": (0.0281, 0.0545),
            "ceremony": (0.0134, 0.0494), "reception": (0.0298, 0.0985)}  # fmt: skip
NOWCAST_VARIANTS: dict[str, dict] = {
    "defaults": {},
    "means, horizon 30 min": {"on_means": True, "horizon": timedelta(minutes=30)},
    "horizon 60 min": {"horizon": timedelta(minutes=60)},
    "threshold 1.5, horizon 30 min": {"threshold": 1.5, "horizon": timedelta(minutes=30)},
    "threshold 2.0, horizon 60 min": {"threshold": 2.0, "horizon": timedelta(minutes=60)},
    "means, threshold 2.0, horizon 60 min": {"on_means": True, "threshold": 2.0,
                                             "horizon": timedelta(minutes=60)},
    "medians": {"phase_rates": {p: {"mean": m, "peak": k} for p, (m, k) in _MEDIANS.items()}},
}  # fmt: skip
NOWCAST_UTILISATIONS = (30, 35, 40, 45, 50)  # without the nowcast; with it: 35, 40, 50
NOWCAST_WITH = (35, 40, 50)


def _nowcast_settings(series: Series, variant: dict) -> Series:
    ops = series.settings.ops
    update = {k: v for k, v in variant.items() if k != "on_means"}
    nowcast = ops.nowcast.model_validate(ops.nowcast.model_dump() | update)
    if variant.get("on_means"):
        rates = {p: r.model_copy(update={"peak": r.mean}) for p, r in nowcast.phase_rates.items()}
        nowcast = nowcast.model_copy(update={"phase_rates": rates})
    settings = series.settings.model_copy(
        update={"ops": ops.model_copy(update={"nowcast": nowcast})}
    )
    return replace(series, settings=settings)


def measure_nowcast(pod_start: int = 3) -> dict:
    """The nowcast's table: under-provisioned event minutes and replica-hours / oracle of
    the event-window utilisation alone (the shipped policy on the sandbox's HPA target,
    its default lead) at `NOWCAST_UTILISATIONS`, and with each of `NOWCAST_VARIANTS`'s
    nowcast floors under it at `NOWCAST_WITH`; scored as the main replay (event minutes
    after its first forecast round)."""
    import time as clock

    series = sandbox("v2")
    config = ReactiveConfig(pod_start=pod_start)
    start, in_window = scored(series, first_round(series))
    oracle_hours = evaluate(oracle(series.load, series.capacity)[start:], series.load[start:],
                            series.capacity, in_window[start:]).replica_hours  # fmt: skip
    target = series.settings.ops.targets[0]
    baseline = round(config.target_utilisation * 100)
    utilisation = {}
    for u in NOWCAST_UTILISATIONS:
        event = series.settings.ops.event_utilisation.model_copy(update={"utilisation": u})
        ops = series.settings.ops.model_copy(update={"event_utilisation": event})
        settings = series.settings.model_copy(update={"ops": ops})
        schedule, _ = production_utilisation(series.weddings, series.minutes, target, settings,
                                             baseline)  # fmt: skip
        utilisation[u] = schedule / 100.0

    def scored_at(u: int, floor: np.ndarray | None) -> dict:
        replicas = reactive(series.load, series.capacity, config, floor=floor,
                            utilisation=utilisation[u])  # fmt: skip
        return run_policy(series, replicas, start, in_window, oracle_hours)

    out = {"event_minutes": int(in_window[start:].sum()), "scored_from": str(series.minutes[start]),
           "without": {str(u): scored_at(u, None) for u in NOWCAST_UTILISATIONS},
           "with": {}}  # fmt: skip
    for name, variant in NOWCAST_VARIANTS.items():
        began = clock.monotonic()
        floor, steps = nowcast_schedule(_nowcast_settings(series, variant))
        raised = int((floor[start:] > target.min_replicas).sum())
        out["with"][name] = {
            "raises": sum(1 for s in steps if s.action == "raise"),
            "restores": sum(1 for s in steps if s.action == "restore"),
            "minutes_raised": raised,
            "replay_seconds": round(clock.monotonic() - began, 1),
            **{str(u): scored_at(u, floor) for u in NOWCAST_WITH},
        }
        progress(f"nowcast {name}: {out['with'][name]}")
    out["phase_medians"] = phase_medians(series)
    progress(f"phase medians per invited guest ({PHASE_SAMPLE} weddings): {out['phase_medians']}")
    print(nowcast_markdown(out))
    return out


PHASE_SAMPLE = 600  # weddings whose phases are read for `phase_medians`


def phase_medians(series: Series, count: int = PHASE_SAMPLE) -> dict[str, dict[str, float]]:
    """Per phase (`capacity.nowcast.phase_spans`), the median over the first `count`
    weddings of the series wholly inside it of their requests/s per invited guest: the
    phase's mean and its busiest minute, read from the load model's own parts (the same
    draws as `nowcast_schedule`) — what learning `ops.nowcast.phase_rates` from completed
    weddings would give, in sample."""
    from wedperf.capacity.nowcast import phase_spans
    from wedperf.sandbox.demand import demand_parts

    versions = {"sandbox": "v2", "sandbox_v1": "v1"}
    parts = demand_parts(with_active_guests(series.weddings, seed=2026), series.minutes,
                         version=versions[series.name])  # fmt: skip
    first, n = series.minutes[0], len(series.minutes)
    per_phase: dict[str, dict[str, list[float]]] = {}
    taken = 0
    for i, k in enumerate(parts.wedding_index):
        w = series.weddings[k]
        lo, end = parts.windows[i]
        if lo < 0 or end > n or w.guest_count <= 0:
            continue
        rps = parts.extras[i] * parts.noise[lo:end]
        for phase, a, b in phase_spans(w, series.settings):
            x = int((a - first) / pd.Timedelta(minutes=1)) - lo
            y = int((b - first) / pd.Timedelta(minutes=1)) - lo
            x, y = max(x, 0), min(y, len(rps))
            if y > x:
                slot = per_phase.setdefault(phase, {"mean": [], "peak": []})
                slot["mean"].append(float(rps[x:y].mean()) / w.guest_count)
                slot["peak"].append(float(rps[x:y].max()) / w.guest_count)
        taken += 1
        if taken == count:
            break
    return {phase: {k: round(float(np.median(v)), 4) for k, v in got.items()}
            for phase, got in per_phase.items()}  # fmt: skip


def nowcast_markdown(out: dict) -> str:
    """The docs table: per utilisation, minutes at replica-hours / oracle."""
    cell = lambda r: f"{r['under_provisioned_minutes']} at {r['replica_hours_ratio']:.3f}"  # noqa: E731
    names = list(out["with"])
    lines = ["| event utilisation | without nowcast | " + " | ".join(names) + " |",
             "|---" * (len(names) + 2) + "|"]  # fmt: skip
    for u in NOWCAST_UTILISATIONS:
        row = [f"{u}%", cell(out["without"][str(u)])]
        row += [cell(out["with"][n][str(u)]) if str(u) in out["with"][n] else "" for n in names]
        lines.append("| " + " | ".join(row) + " |")
    lines.append("")
    for n in names:
        w = out["with"][n]
        lines.append(f"- {n}: {w['raises']} raises, {w['restores']} restores, a raise in "
                     f"force {w['minutes_raised']} scored minutes, replayed in "
                     f"{w['replay_seconds']} s")  # fmt: skip
    return "\n".join(lines)


if __name__ == "__main__":
    main()
