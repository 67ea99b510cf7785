"""`wedperf forecast backtest` on CSV files: the documented JSON shape, the table, bad
input, and a quick run on the real NAB taxi series."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from wedperf.cli import app

runner = CliRunner()
MODEL_KEYS = {"mase", "smape", "coverage_80", "coverage_95", "fit_seconds"}


@pytest.fixture
def csv_files(tmp_path: Path) -> tuple[Path, Path]:
    """Five weeks of 15-minute load with a duplicate, a negative and a gap, and an event
    calendar with one event outside the series."""
    rng = np.random.default_rng(3)
    stamps = pd.date_range("2026-09-07", periods=5 * 168 * 4, freq="15min")
    hours = np.arange(len(stamps)) / 4
    values = 30 + 10 * np.sin(2 * np.pi * hours / 24) + rng.normal(0, 2, len(stamps))
    frame = pd.DataFrame({"timestamp": stamps, "value": values.round(2)})
    frame.loc[100, "value"] = -4.0
    frame = pd.concat([frame.drop(index=range(400, 420)), frame.iloc[[50]]])
    series = tmp_path / "series.csv"
    frame.to_csv(series, index=False)
    events = tmp_path / "events.csv"
    events.write_text(
        "name,start,end,weight\n"
        "fair,2026-09-30 00:00,2026-10-01 00:00,2\n"
        "old,2019-01-01 00:00,2019-01-02 00:00,\n"
    )
    return series, events


def test_backtest_json_has_the_documented_shape(csv_files: tuple[Path, Path]) -> None:
    series, events = csv_files
    args = ["forecast", "backtest", "--series", str(series), "--events", str(events)]
    result = runner.invoke(
        app, [*args, "--horizon", "24", "--weeks", "1", "--warmup", "2", "--json"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert set(report["models"]) == {"snaive_cal", "snaive", "calendar_reg", "mstl_reg"}
    for scores in report["models"].values():
        assert set(scores) == MODEL_KEYS
        assert all(isinstance(v, float) for v in scores.values())
        assert 0 <= scores["coverage_80"] <= scores["coverage_95"] <= 1
    assert report["selected"] in report["models"]
    assert report["origins"] == 7 and report["horizon"] == 24 and report["step"] == 24
    assert report["events"] == {"count": 2, "outside_span": 1}
    fixed = report["series_report"]
    assert fixed["duplicates"] == 1 and fixed["negatives"] == 1 and fixed["filled_hours"] >= 4


def test_backtest_table_names_the_selected_model(csv_files: tuple[Path, Path]) -> None:
    series, _ = csv_files
    result = runner.invoke(
        app,
        ["forecast", "backtest", "--series", str(series), "--horizon", "24", "--weeks", "1",
         "--warmup", "0", "--models", "snaive,calendar_reg"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "MASE" in result.stdout and "<- selected" in result.stdout
    assert "input fixed: duplicates 1, negatives 1" in result.stdout


def test_backtest_refuses_bad_input_with_a_reason(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("time,load\n2026-01-01,3\n")
    result = runner.invoke(app, ["forecast", "backtest", "--series", str(bad)])
    assert result.exit_code == 1
    assert "needs columns timestamp,value" in result.output
    tiny = tmp_path / "tiny.csv"
    tiny.write_text("timestamp,value\n2026-01-01 00:00,3\n2026-01-01 01:00,4\n")
    result = runner.invoke(app, ["forecast", "backtest", "--series", str(tiny), "--json"])
    assert result.exit_code == 1
    assert "need at least 48 hourly points to forecast, got 2" in result.output
    short = tmp_path / "short.csv"
    pd.DataFrame(
        {"timestamp": pd.date_range("2026-01-01", periods=200, freq="h"), "value": 5.0}
    ).to_csv(short, index=False)
    result = runner.invoke(app, ["forecast", "backtest", "--series", str(short), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["origins"] == 0 and report["selected"] == "snaive24"
    assert "200 h is too short to backtest: need at least 384 h" in report["fallback_reason"]
    unknown = runner.invoke(app, ["forecast", "backtest", "--series", str(tiny), "--models", "x"])
    assert unknown.exit_code == 2 and "unknown" in unknown.output


def test_calendar_model_meets_the_acceptance_bar_on_the_nab_taxi(nab_dir: Path) -> None:
    """The acceptance figures, on the two models that decide them (the full three-model
    run with timings is bench/forecast_real.py)."""
    result = runner.invoke(
        app,
        ["forecast", "backtest", "--series", str(nab_dir / "nyc_taxi.csv"),
         "--events", str(nab_dir / "nyc_taxi_events.csv"), "--horizon", "48",
         "--subdiv", "NY", "--models", "snaive,calendar_reg", "--json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["origins"] == 55 and report["selected"] == "calendar_reg"
    calendar, naive = report["models"]["calendar_reg"], report["models"]["snaive"]
    assert calendar["mase"] <= 0.8 * naive["mase"]
    assert 0.90 <= calendar["coverage_95"] <= 0.98
