"""`wedperf forecast backtest` on CSV files: the documented JSON shape, the table, bad
input, and a quick run on the real NAB taxi series."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from bench._common import datasets_dir
from cli import app
from wedperf.forecast.settings import DEFAULT_MODELS

runner = CliRunner()
MODEL_KEYS = {
    "mase",
    "mase_event_hours",
    "mase_ordinary_hours",
    "smape",
    "coverage_80",
    "coverage_95",
    "fit_seconds",
}
CANDIDATES = {*DEFAULT_MODELS, "top2_mean", "top3_mean"}
SHARED_DATA = datasets_dir()  # WEDPERF_DATASETS_DIR, as the benchmarks read it


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
        app, [*args, "--horizon", "24", "--weeks", "2", "--warmup", "2", "--json"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert set(report["models"]) == CANDIDATES
    for scores in report["models"].values():
        assert set(scores) == MODEL_KEYS
        assert all(isinstance(v, float) for v in scores.values())
        assert 0 <= scores["coverage_80"] <= scores["coverage_95"] <= 1
    # The fair (2026-09-30) is inside the scored origins' hours: event hours are scored apart.
    naive = report["models"]["snaive"]
    assert naive["mase_event_hours"] != naive["mase_ordinary_hours"]
    assert report["selected"] in report["models"]
    assert report["in_sample_pick"] in report["models"]
    online = report["online_selection"]
    assert online["origins"] == 14 and online["mase"] == report["online_selection_mase"]
    assert set(online) >= MODEL_KEYS - {"fit_seconds"} and sum(online["picks"].values()) == 14
    assert set(report["combinations"]) == {"top2_mean", "top3_mean"}
    assert isinstance(report["profile_baseline_mase"], float)
    assert report["origins"] == 14 and report["horizon"] == 24 and report["step"] == 24
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
    lines = result.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if "MASE" in line)
    assert lines[header + 1].startswith("online selection"), "the honest figure comes first"
    assert "in-sample pick (hindsight)" in result.stdout
    assert "next forecast: " in result.stdout
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


@pytest.mark.parametrize(
    ("folder", "series", "events", "extra"),
    [
        ("nab", "nyc_taxi.csv", "nyc_taxi_events.csv", ["--subdiv", "NY"]),
        ("pjm", "pjme_hourly.csv", "pjme_events.csv", []),
    ],
    ids=["nab-taxi", "pjm-east"],
)
def test_online_selection_meets_the_acceptance_bar_on_real_series(
    folder: str, series: str, events: str, extra: list[str]
) -> None:
    """The CLI's own protocol (55 origins a day apart, 48 h, 12 weeks of training): online
    selection beats the seasonal naive by a quarter and the profile baseline by 5%, with
    intervals that cover what they say."""
    data = SHARED_DATA / folder
    if not data.is_dir():
        pytest.skip(f"real data not found at {data} (set WEDPERF_DATASETS_DIR)")
    result = runner.invoke(
        app,
        ["forecast", "backtest", "--series", str(data / series), "--events",
         str(data / events), "--horizon", "48", *extra, "--json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    online = report["online_selection"]
    assert report["origins"] == 55 and online["origins"] == 55
    assert online["mase"] <= 0.75 * report["models"]["snaive"]["mase"]
    assert online["mase"] <= 0.95 * report["profile_baseline_mase"]
    assert 0.75 <= online["coverage_80"] <= 0.85
    assert 0.90 <= online["coverage_95"] <= 0.98
