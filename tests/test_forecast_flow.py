"""The fit-forecasts flow against a real Prefect API and PostgreSQL, on the sandbox app's
activity (check-ins, vendor notifications) and wedding calendar."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from cli import app
from wedperf.calendar import AppDbCalendarSource, sync_calendar
from wedperf.config import reset_settings_cache
from wedperf.forecast.settings import DEFAULT_MODELS
from wedperf.sandbox.seed import seed_sandbox

pytestmark = pytest.mark.usefixtures("prefect_harness")
NOW = datetime(2026, 10, 20, 12, 30, tzinfo=UTC)
SERIES = [
    {
        "name": "app.guest_checkins",
        "source": "app_view",
        "view": "guest_checkins",
        "timestamp_column": "checked_in_at",
    },
    {
        "name": "app.vendor_notifications",
        "source": "app_view",
        "view": "vendor_notifications",
        "timestamp_column": "sent_at",
    },
    {"name": "samples.guest_list", "source": "samples", "operation": "guest_list"},
]


@pytest.fixture
def sandbox(
    migrated_database_url: str, redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """Seven weeks of a busy autumn on the sandbox platform, synced into perf.weddings, and
    settings forecasting two app series and one series with no samples yet."""
    with psycopg.connect(migrated_database_url) as conn:
        seed_sandbox(
            conn, weddings=400, days=56, seed=3, start=(NOW - timedelta(days=49)).date(), now=NOW
        )
        sync_calendar(conn, AppDbCalendarSource(migrated_database_url, "wedperf_src"))
    monkeypatch.setenv("WEDPERF_DATABASE_URL", migrated_database_url)
    monkeypatch.setenv("WEDPERF_REDIS_URL", redis_url)
    monkeypatch.setenv("WEDPERF_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("WEDPERF_FORECAST__SERIES", json.dumps(SERIES))
    monkeypatch.setenv("WEDPERF_FORECAST__SELECTION_ORIGINS", "3")
    reset_settings_cache()
    yield migrated_database_url
    reset_settings_cache()


def test_fit_forecasts_stores_checked_forecasts_once(sandbox: str) -> None:
    from flows.fit_forecasts import fit_forecasts

    first = fit_forecasts(end=NOW)

    assert first["origin"] == "2026-10-20T12:00:00+00:00"
    assert set(first["series"]) == {"app.guest_checkins", "app.vendor_notifications"}
    # The window a round reads: 12 weeks of training for the oldest of 3 backtest origins,
    # 2 days between them and the 48 h horizon (2,112 h before the 12:00 origin).
    assert first["skipped"]["samples.guest_list"] == "no data since 2026-07-24 12:00 UTC"
    assert first["failed"] == {}
    assert first["stored_rows"] == 2 * 48
    # The wedding calendar explains check-ins: a calendar model beats the seasonal naive.
    assert first["series"]["app.guest_checkins"]["model"] != "snaive"
    with psycopg.connect(sandbox) as conn:
        rows = conn.execute(
            "SELECT series, ts, mean, lo_80, hi_80, lo_95, hi_95, backtest, origin, "
            "train_end FROM perf.forecasts ORDER BY series, ts"
        ).fetchall()
    assert len(rows) == 96
    for series, ts, mean, lo80, hi80, lo95, hi95, backtest, origin, train_end in rows:
        assert all(math.isfinite(v) for v in (mean, lo80, hi80, lo95, hi95))
        assert 0 <= lo95 <= lo80 <= mean <= hi80 <= hi95
        assert origin <= ts < origin + timedelta(hours=48)
        assert train_end == origin - timedelta(hours=1)
        # Every default model and the means of the best two and three were candidates;
        # the stored choice names the single models behind it.
        assert set(backtest["models"]) == {*DEFAULT_MODELS, "top2_mean", "top3_mean"}
        assert backtest["selected"] == first["series"][series]["model"]
        assert backtest["members"] == first["series"][series]["members"]
        assert set(backtest["members"]) <= set(DEFAULT_MODELS)

    table = _latest_artifact("forecast-backtest")
    data = table.data if isinstance(table.data, list) else json.loads(table.data)
    assert {(r["series"], r["model"]) for r in data} >= {("app.guest_checkins", "snaive")}
    assert sum(r["selected"] for r in data) == 2
    markdown = _latest_artifact("forecast-last")
    assert "app.guest_checkins" in markdown.data and "samples.guest_list" in markdown.data

    # The same round again, from the command line: replaced, not duplicated.
    again = CliRunner().invoke(app, ["forecast", "fit", "--end", NOW.isoformat(), "--json"])
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["series"] == first["series"]
    with psycopg.connect(sandbox) as conn:
        assert conn.execute("SELECT count(*) FROM perf.forecasts").fetchone()[0] == 96
        latest = conn.execute("SELECT count(*) FROM perf.latest_forecasts").fetchone()[0]
    assert latest == 96


def _latest_artifact(key: str):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])), limit=50
        )
    assert artifacts, f"no artifact with key {key}"
    return max(artifacts, key=lambda a: a.created)
