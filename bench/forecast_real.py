"""Forecast benchmark on real hourly series: every model, every combination, online
selection and the simple profile baseline, on the CLI's own protocol.

For each series: rolling origins one a day whose 48-hour forecasts start within the last
8 weeks (55 origins), 14 earlier origins to warm up selection and intervals, every model
refitted on the 12 weeks before each origin; MASE scaled by the in-sample weekly seasonal
naive. Exactly what `wedperf forecast backtest --horizon 48 --json` computes (the code that
ships: wedperf.forecast.evaluate), one table over all the series:

- online selection: the candidate fit-forecasts would have chosen at each origin from the
  origins closed by then (the honest figure);
- each single model and each combination (mean of the best K by past MASE);
- the profile baseline: the median of the same hour of the week over the last 4 weeks,
  scaled half-way toward the last day's level (what an engineer writes in five minutes);

as MASE (overall, event hours, ordinary hours), as ratios to the seasonal naive and to the
baseline, 80/95% coverage and fit seconds per origin.

    uv run python bench/forecast_real.py                      # NAB taxi and PJM East
    uv run python bench/forecast_real.py --series a.csv --events a_events.csv \\
        --series b.csv --events - --country NZ --subdiv AUK --tz Pacific/Auckland

Defaults read the data sets directory (WEDPERF_DATASETS_DIR; NAB taxi with its events, US
holidays with New York's; PJM East with its holiday calendar).
--series/--events/--country/--subdiv/--tz/--agg repeat per series (given once, they apply to
every series; `-` means none). Last line:
{"series": {name: {"online_selection": ..., "profile_baseline": ..., "models": ...}}}
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import datasets_dir, progress, report
from wedperf.forecast.evaluate import BacktestOptions, backtest_files
from wedperf.forecast.threads import single_threaded_blas

DATASETS = datasets_dir()
DEFAULTS = [
    dict(series=DATASETS / "nab" / "nyc_taxi.csv", events=DATASETS / "nab" / "nyc_taxi_events.csv",
         country="US", subdiv="NY", tz="UTC", agg="sum"),
    dict(series=DATASETS / "pjm" / "pjme_hourly.csv", events=DATASETS / "pjm" / "pjme_events.csv",
         country="US", subdiv=None, tz="UTC", agg="sum"),
]  # fmt: skip


def per_series(values: list[str] | None, count: int, name: str) -> list[str | None]:
    """One value per series: given once it applies to all; `-` is none."""
    if not values:
        return [None] * count
    if len(values) == 1:
        values = values * count
    if len(values) != count:
        raise SystemExit(f"--{name} given {len(values)} times for {count} series")
    return [None if v == "-" else v for v in values]


def specs(args: argparse.Namespace) -> list[dict]:
    if not args.series:
        return DEFAULTS
    n = len(args.series)
    columns = {k: per_series(getattr(args, k), n, k) for k in ("events", "country", "subdiv")}
    columns |= {k: per_series(getattr(args, k), n, k) for k in ("tz", "agg")}
    return [
        dict(
            series=Path(path),
            events=None if columns["events"][i] is None else Path(columns["events"][i]),
            country=columns["country"][i] or "US",
            subdiv=columns["subdiv"][i],
            tz=columns["tz"][i] or "UTC",
            agg=columns["agg"][i] or "sum",
        )
        for i, path in enumerate(args.series)
    ]


def ratio(value: float | None, base: float | None) -> float | None:
    return None if value is None or not base else value / base


def cell(value: float | None, fmt: str, width: int) -> str:
    return ("-" if value is None else fmt.format(value)).rjust(width)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", action="append", help="timestamp,value CSV (repeat)")
    parser.add_argument("--events", action="append", help="name,start,end CSV or - (repeat)")
    parser.add_argument("--country", action="append", help="public holidays, e.g. US, NZ")
    parser.add_argument("--subdiv", action="append", help="holiday region, e.g. NY, AUK")
    parser.add_argument("--tz", action="append", help="zone of naive timestamps")
    parser.add_argument("--agg", action="append", help="sub-hourly points: sum or mean")
    parser.add_argument("--weeks", type=float, default=8.0, help="score the last N weeks")
    args = parser.parse_args()
    runs = specs(args)
    for spec in runs:
        if not spec["series"].exists():
            raise SystemExit(f"{spec['series']} not found (pass --series PATH)")

    single_threaded_blas()
    results = {}
    header = (
        f"{'series':<18}{'candidate':<20}{'MASE':>7}{'event':>7}{'ordin.':>7}"
        f"{'/snaive':>8}{'/basel.':>8}{'cov80':>7}{'cov95':>7}{'fit s':>7}"
    )
    lines = []
    for spec in runs:
        options = BacktestOptions(
            horizon=48, step=24, weeks=args.weeks, warmup=14, agg=spec["agg"], tz=spec["tz"],
            holiday_country=spec["country"] or None, holiday_subdivision=spec["subdiv"],
        )  # fmt: skip
        name = spec["series"].stem
        progress(f"{name}: backtesting ...")
        began = time.perf_counter()
        result = backtest_files(spec["series"], spec["events"], options)
        seconds = time.perf_counter() - began
        progress(f"{name}: {result['origins']} origins, {seconds:.0f} s")
        naive = result["models"]["snaive"]["mase"]
        baseline = result["profile_baseline_mase"]
        online = result["online_selection"]
        rows = [("online selection", online), ("profile baseline", {"mase": baseline})]
        rows += [(candidate, m) for candidate, m in result["models"].items()]
        for label, m in rows:
            lines.append(
                f"{name[:17]:<18}{label:<20}"
                + cell(m.get("mase"), "{:.3f}", 7)
                + cell(m.get("mase_event_hours"), "{:.3f}", 7)
                + cell(m.get("mase_ordinary_hours"), "{:.3f}", 7)
                + cell(ratio(m.get("mase"), naive), "{:.3f}", 8)
                + cell(ratio(m.get("mase"), baseline), "{:.3f}", 8)
                + cell(m.get("coverage_80"), "{:.1%}", 7)
                + cell(m.get("coverage_95"), "{:.1%}", 7)
                + cell(m.get("fit_seconds"), "{:.3f}", 7)
            )
        results[name] = {
            "origins": result["origins"],
            "snaive_mase": naive,
            "profile_baseline_mase": baseline,
            "online_selection": online,
            "online_vs_snaive": ratio(online["mase"], naive),
            "online_vs_baseline": ratio(online["mase"], baseline),
            "models": result["models"],
            "combinations_now": result["combinations"],
            "seconds": round(seconds, 1),
        }
    print(header)
    for line in lines:
        print(line)
    report({"series": results})


if __name__ == "__main__":
    main()
