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

- `reactive`: target tracking at its default utilisation (0.9);
- `reactive_equal_cost`: target utilisation searched until its replica-hours are within 2%
  of wedperf's at wedperf's defaults;
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
- `oracle`: exactly the replicas each minute needs.

Scored: minutes inside event windows (wedding day windows; taxi events) after the first
forecast round; replica-hours over the same period. Sweeps wedperf's floor (quantile x
headroom), its event utilisation x lead (floor off) and event utilisation with the floor at
its defaults, reactive's utilisation and calendar_free's headroom; `cost_at_10_minutes` /
`cost_at_0_minutes` are the lowest replica-hours / oracle at which a policy has <= 10 / 0
under-provisioned event minutes (null when no setting reaches it). Draws the frontier as a
PNG.

    uv run python bench/replay.py [--nab-dir DIR] [--out-dir DIR] [--cache-dir DIR]
                                  [--series sandbox,sandbox_v1,nab_taxi]
    uv run python bench/replay.py --nowcast

--nowcast measures only the watch rounds' intensity nowcast (docs/capacity.md, "Re-sizing
during the day"): sandbox v2, pod start 3, the event-window utilisation alone at several
utilisations, with and without each nowcast variant (`NOWCAST_VARIANTS`) as a floor under
it; prints its table and ends with {"nowcast": {...}} (no forecast fits: 1.5-4 minutes).

DIR defaults: $WEDPERF_NAB_DIR, else nab/ in $WEDPERF_DATASETS_DIR; the PNG goes to
--out-dir (default: the current directory). Takes ~35 minutes on 2 cores the first time (a
year of daily production fits per series), ~20 with --cache-dir holding them.
Last line: {"series": {name: {"policies": {policy:
{"under_provisioned_minutes", "replica_hours_ratio", "cost_at_10_minutes",
"cost_at_0_minutes"}}, "pod_start": {"1": {...}, "6": {...}}, ...}}, "frontier_png": path}
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
    ReactiveConfig,
    calendar_free_floor,
    evaluate,
    fit_times,
    forecast_rounds,
    newest_fit,
    oracle,
    production_floor,
    production_utilisation,
    reactive,
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
# Floor and utilisation schedules do not depend on the pod start: computed once per setting.
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


def run_policy(series, replicas, start, in_window, oracle_hours) -> dict:
    result = evaluate(replicas[start:], series.load[start:], series.capacity, in_window[start:])
    return {
        "under_provisioned_minutes": int(result.under_provisioned_minutes),
        "replica_hours_ratio": round(result.replica_hours / oracle_hours, 4),
    }


def cost_at(points: list[dict], minutes: int) -> float | None:
    ok = [p["replica_hours_ratio"] for p in points if p["under_provisioned_minutes"] <= minutes]
    return min(ok) if ok else None


def evaluate_series(series: Series, rounds, pod_start: int) -> dict:
    config = ReactiveConfig(pod_start=pod_start)
    forecast_at = newest_fit(rounds)
    start, in_window = scored(series, rounds[0][0])
    oracle_hours = evaluate(oracle(series.load, series.capacity)[start:], series.load[start:],
                            series.capacity, in_window[start:]).replica_hours  # fmt: skip
    target = series.settings.ops.targets[0]
    baseline = round(config.target_utilisation * 100)  # the HPA's own target, %

    def wedperf(*, floor: str | None = None, quantile: int | None = None,
                headroom: float | None = None, utilisation: int | None = None,
                lead: int | None = None) -> dict:  # fmt: skip
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
                SCHEDULES[key] = schedule / 100.0
            per_minute = SCHEDULES[key]
        replicas = reactive(series.load, series.capacity, config, floor=levels,
                            utilisation=per_minute)  # fmt: skip
        return {
            "floor": floor,
            "quantile": ops.quantile if floor else None,
            "headroom": ops.headroom if floor else None,
            "event_utilisation": event.utilisation if event.enabled else None,
            "lead_minutes": int(event.lead.total_seconds() // 60) if event.enabled else None,
            **run_policy(series, replicas, start, in_window, oracle_hours),
        }

    def reactive_at(utilisation: float) -> dict:
        replicas = reactive(series.load, series.capacity,
                            replace(config, target_utilisation=utilisation))  # fmt: skip
        return {"target_utilisation": utilisation,
                **run_policy(series, replicas, start, in_window, oracle_hours)}  # fmt: skip

    def calendar_free(headroom: float) -> dict:
        floor = calendar_free_floor(series.minutes, series.load, capacity=series.capacity,
                                    headroom=headroom)  # fmt: skip
        replicas = reactive(series.load, series.capacity, config, floor=floor)
        return {"headroom": headroom,
                **run_policy(series, replicas, start, in_window, oracle_hours)}  # fmt: skip

    # The shipped defaults, the floor alone (the previous policy), then the sweeps: the
    # floor's quantile x headroom; the event-window utilisation alone (floor off) x lead;
    # the floor at its defaults plus the event-window utilisation.
    defaults = series.settings.ops
    default_wedperf = wedperf()
    floor_only = wedperf(utilisation=0)
    sweep_floor = [wedperf(quantile=q, headroom=h, utilisation=0)
                   for q in QUANTILES for h in HEADROOMS]  # fmt: skip
    sweep_utilisation = [wedperf(floor="never", utilisation=u, lead=lead)
                         for u in EVENT_UTILISATIONS for lead in LEADS]  # fmt: skip
    sweep_both = [wedperf(floor="always", utilisation=u) for u in EVENT_UTILISATIONS]
    sweep_wedperf = sweep_floor + sweep_utilisation + sweep_both
    sweep_reactive = [reactive_at(u) for u in UTILISATIONS]
    sweep_calendar_free = [calendar_free(h) for h in HEADROOMS]

    # Reactive at wedperf's cost: bisect the utilisation until replica-hours match (2%).
    goal = default_wedperf["replica_hours_ratio"]
    lo, hi = 0.2, 0.99
    equal = reactive_at(0.9)
    for _ in range(14):
        mid = (lo + hi) / 2
        equal = reactive_at(round(mid, 4))
        if abs(equal["replica_hours_ratio"] / goal - 1) <= 0.02:
            break
        lo, hi = (mid, hi) if equal["replica_hours_ratio"] > goal else (lo, mid)

    policies = {
        "reactive": {**next(p for p in sweep_reactive if p["target_utilisation"] == 0.9),
                     "cost_at_10_minutes": cost_at(sweep_reactive, 10),
                     "cost_at_0_minutes": cost_at(sweep_reactive, 0)},
        "reactive_equal_cost": equal,
        "calendar_free": {**next(p for p in sweep_calendar_free if p["headroom"] == 0.2),
                          "cost_at_10_minutes": cost_at(sweep_calendar_free, 10),
                          "cost_at_0_minutes": cost_at(sweep_calendar_free, 0)},
        "wedperf": {**default_wedperf,
                    "cost_at_10_minutes": cost_at(sweep_wedperf, 10),
                    "cost_at_0_minutes": cost_at(sweep_wedperf, 0)},
        "wedperf_floor_only": {**floor_only,
                               "cost_at_10_minutes": cost_at(sweep_floor, 10),
                               "cost_at_0_minutes": cost_at(sweep_floor, 0)},
        "wedperf_utilisation_only": {
            **next(p for p in sweep_utilisation
                   if p["event_utilisation"] == defaults.event_utilisation.utilisation
                   and p["lead_minutes"] == defaults.event_utilisation.lead.seconds // 60),
            "cost_at_10_minutes": cost_at(sweep_utilisation, 10),
            "cost_at_0_minutes": cost_at(sweep_utilisation, 0)},
        "oracle": {"under_provisioned_minutes": 0, "replica_hours_ratio": 1.0},
    }  # fmt: skip
    return {
        "policies": policies,
        "sweep": {
            "wedperf": sweep_wedperf,
            "wedperf_floor": sweep_floor,
            "wedperf_utilisation": sweep_utilisation,
            "wedperf_floor_utilisation": sweep_both,
            "reactive": sweep_reactive,
            "calendar_free": sweep_calendar_free,
        },  # fmt: skip
        "event_minutes": int(in_window[start:].sum()),
        "scored_from": str(series.minutes[start]),
    }


def draw_frontier(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    names = list(results)
    figure = Figure(figsize=(6 * len(names), 4.5))
    for k, name in enumerate(names):
        axes = figure.add_subplot(1, len(names), k + 1)
        sweep = results[name]["pod_start"]["3"]["sweep"]
        for policy, marker, label in (
            ("reactive", "o", "reactive (utilisation)"),
            ("calendar_free", "^", "calendar_free (headroom)"),
            ("wedperf_floor", "s", "wedperf floor (quantile x headroom)"),
            ("wedperf_utilisation", "D", "wedperf event utilisation (x lead)"),
            ("wedperf_floor_utilisation", "P", "wedperf floor + event utilisation"),
        ):
            points = sorted(sweep[policy], key=lambda p: p["replica_hours_ratio"])
            axes.plot(
                [p["replica_hours_ratio"] for p in points],
                [p["under_provisioned_minutes"] for p in points],
                marker=marker, linestyle="-" if policy in ("reactive", "calendar_free") else "",
                label=label,
            )  # fmt: skip
            if policy == "wedperf_utilisation":
                for p in points:
                    if p["lead_minutes"] == Settings().ops.event_utilisation.lead.seconds // 60:
                        axes.annotate(f"{p['event_utilisation']}%", (
                            p["replica_hours_ratio"], p["under_provisioned_minutes"]),
                            fontsize=7, textcoords="offset points", xytext=(3, 3))  # fmt: skip
        chosen = results[name]["pod_start"]["3"]["policies"]["wedperf"]
        axes.plot([chosen["replica_hours_ratio"]], [chosen["under_provisioned_minutes"]],
                  marker="*", markersize=14, linestyle="", color="black",
                  label="wedperf (shipped defaults)")  # fmt: skip
        axes.set_xlabel("replica-hours / oracle")
        axes.set_ylabel("under-provisioned event minutes")
        axes.set_yscale("symlog", linthresh=10)
        axes.set_title(f"{name} (pod start 3 min)")
        axes.grid(True, alpha=0.3)
        axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)


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
        "--nowcast",
        action="store_true",
        help="measure the nowcast on the sandbox year only (its docs table)",
    )
    args = parser.parse_args()
    if args.nowcast:
        report({"nowcast": measure_nowcast()})
        return
    wanted = args.series.split(",")

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
        series = makers[name]()
        rounds = sized_on_peaks(
            series, forecasts_for(series, args.cache_dir), FitOptions.from_settings(series.forecast)
        )
        results[name] = {"pod_start": {}}
        for pod_start in POD_STARTS:
            figures = evaluate_series(series, rounds, pod_start)
            results[name]["pod_start"][str(pod_start)] = figures
            progress(f"{name}, pod start {pod_start} min: " + ", ".join(
                f"{p} {v['under_provisioned_minutes']} min at {v['replica_hours_ratio']:.3f}x"
                f" (cost@10 {v.get('cost_at_10_minutes')}, cost@0 {v.get('cost_at_0_minutes')})"
                for p, v in figures["policies"].items()
            ))  # fmt: skip
        results[name] |= {
            "policies": results[name]["pod_start"]["3"]["policies"],
            "event_minutes": results[name]["pod_start"]["3"]["event_minutes"],
        }
    args.out_dir.mkdir(parents=True, exist_ok=True)
    png = args.out_dir / "replay_frontier.png"
    draw_frontier(results, png)
    progress(f"frontier: {png}")
    report({"series": results, "frontier_png": str(png)})


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


def first_fit_round(series: Series) -> pd.Timestamp:
    """When the first fit-forecasts round with enough history runs (`forecast_rounds`
    skips the ones before): where the main replay starts scoring, without fitting."""
    options = FitOptions.from_settings(series.forecast)
    first_hour = series.minutes[0]
    for at in fit_times(series.minutes[0], series.minutes[-1]):
        if (at.floor("h") - first_hour) // pd.Timedelta(hours=1) >= options.train_hours:
            return at
    raise ValueError("the series is shorter than the fit's training history")


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
    start, in_window = scored(series, first_fit_round(series))
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
