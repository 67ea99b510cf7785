"""Forecast benchmark on real data: NAB's NYC taxi series with its known events.

The taxi series (passengers per 30 min, Jul 2014 - Jan 2015) is summed to passengers per
hour (`--agg sum`: a count per interval adds up). Every model is backtested over rolling
origins whose 48-hour forecasts start within the last 8 weeks (Dec 2014 - Jan 2015:
Christmas, New Year, the blizzard), one origin a day, each model refitted on the 12 weeks
before its origin, with 14 earlier origins used only to calibrate intervals. Events:
`nyc_taxi_events.csv` (marathon, Thanksgiving, Christmas, New Year, blizzard); public
holidays: US, New York. Exactly what

    uv run wedperf forecast backtest --series nyc_taxi.csv --events nyc_taxi_events.csv \\
        --horizon 48 --step 24 --weeks 8 --subdiv NY --json

prints, plus the comparison with the seasonal naive.

    uv run python bench/forecast_real.py [--nab DIR]

Last line: {"selected_model": ..., "selected_mase": ..., "snaive_mase": ..., "mase_ratio":
..., "coverage_95": ..., "coverage_80": ..., "online_selection_mase": ..., "models": {...}}
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import progress, report
from wedperf.forecast.evaluate import BacktestOptions, backtest_files
from wedperf.forecast.threads import single_threaded_blas

DEFAULT_NAB = Path(__file__).resolve().parents[2] / "shared" / "data" / "nab"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nab", type=Path, default=DEFAULT_NAB, help="folder of the NAB CSVs")
    parser.add_argument("--weeks", type=float, default=8.0)
    args = parser.parse_args()
    series, events = args.nab / "nyc_taxi.csv", args.nab / "nyc_taxi_events.csv"
    if not series.exists():
        raise SystemExit(f"{series} not found (pass --nab DIR)")

    single_threaded_blas()
    options = BacktestOptions(
        horizon=48, step=24, weeks=args.weeks, warmup=14, agg="sum", holiday_subdivision="NY"
    )
    began = time.perf_counter()
    result = backtest_files(series, events, options)
    seconds = time.perf_counter() - began
    progress(
        f"{result['origins']} origins (+{result['warmup_origins']} warm-up), "
        f"{result['hours']} hours, {seconds:.1f} s"
    )
    for name, m in result["models"].items():
        progress(
            f"  {name:<13} MASE {m['mase']:.3f}  sMAPE {m['smape']:.2f}%  "
            f"cov80 {m['coverage_80']:.1%}  cov95 {m['coverage_95']:.1%}  "
            f"fit {m['fit_seconds']:.3f} s"
        )
    selected = result["selected"]
    chosen, naive = result["models"][selected], result["models"]["snaive"]
    report(
        {
            "selected_model": selected,
            "selected_mase": round(chosen["mase"], 4),
            "snaive_mase": round(naive["mase"], 4),
            "mase_ratio": round(chosen["mase"] / naive["mase"], 4),
            "coverage_95": round(chosen["coverage_95"], 4),
            "coverage_80": round(chosen["coverage_80"], 4),
            "online_selection_mase": round(result["online_selection_mase"], 4),
            "origins": result["origins"],
            "seconds": round(seconds, 1),
            "models": {
                name: {k: None if v is None else round(v, 4) for k, v in m.items()}
                for name, m in result["models"].items()
            },
        }
    )


if __name__ == "__main__":
    main()
