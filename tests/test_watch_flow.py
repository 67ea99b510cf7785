"""The watch-wedding-day flow and `wedperf watch`, against real Prefect and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from typer.testing import CliRunner

from cli import app
from wedperf.config import reset_settings_cache

pytestmark = pytest.mark.usefixtures("prefect_harness")


def artifacts(prefix: str) -> list:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    with get_client(sync_client=True) as client:
        return client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(like_=prefix)), limit=200
        )


def inject_latency(url: str, wedding_id: str, at: datetime, value: float) -> None:
    with psycopg.connect(url) as conn:
        conn.execute("SELECT perf.ensure_sample_partitions(%s, %s)", (at.date(), at.date()))
        for i in range(10):
            conn.execute(
                "INSERT INTO perf.samples VALUES (%s, 'probe', 'latency_s', 'guest_list', %s, "
                "%s, 'url', %s)",
                (at - timedelta(seconds=20 * (i + 1)), f"spike:{value}:{i}", wedding_id, value),
            )


def test_watch_round_evaluates_live_weddings_and_alerts_once(
    platform: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flows.sync_calendar import sync_calendar
    from flows.watch_wedding_day import watch_wedding_day

    monkeypatch.setenv("WEDPERF_COLLECT_PLAN_HORIZON", "PT40M")
    reset_settings_cache()
    watch_wedding_day.to_deployment(name="watch-wedding-day-live").apply()
    synced = sync_calendar()
    assert 8 <= synced["planned_watch_runs"] <= 9  # every 5 minutes over 40 minutes

    url, spiking = platform["url"], str(platform["live"][0])
    at = datetime.now(UTC).replace(second=0, microsecond=0)
    at = at - timedelta(minutes=at.minute % 5)
    inject_latency(url, spiking, at, 3.0)

    first = watch_wedding_day(at=at)
    assert first["weddings"] >= 3
    assert first["artifacts_published_for"] == first["weddings"]  # everyone's first round
    assert first["breaches"].get("latency_guest_list") == 1
    assert first["alerts_fired"] >= 1
    again = watch_wedding_day(at=at + timedelta(seconds=90))  # same grid slot: a retry
    assert again["at"] == first["at"] and again["alerts_fired"] == 0

    with psycopg.connect(url) as conn:
        alerts = conn.execute(
            "SELECT labels ->> 'check', status FROM perf.alerts WHERE wedding_id = %s",
            (spiking,),
        ).fetchall()
        rounds = conn.execute(
            "SELECT count(DISTINCT evaluated_at), count(DISTINCT wedding_id) "
            "FROM perf.critical_path_checks"
        ).fetchone()
    assert ("latency_guest_list", "firing") in alerts
    assert [a for a in alerts if a[0] == "latency_guest_list"] == [("latency_guest_list", "firing")]
    assert rounds == (1, first["weddings"])
    # The round's error-budget step: one stored budget per live wedding and SLO, keyed by
    # the round's instant (the retry above rewrote them, it did not add any).
    from wedperf.config import get_settings

    with psycopg.connect(url) as conn:
        budgets = conn.execute(
            "SELECT count(*), count(DISTINCT wedding_id), count(DISTINCT evaluated_at) "
            "FROM perf.slo_budgets"
        ).fetchone()
    assert budgets[1] >= first["weddings"] and budgets[2] == 1
    assert budgets[0] == budgets[1] * len(get_settings().slo.definitions)
    assert {"budgets_paging", "budgets_ticketing", "budget_alerts_fired"} <= set(first)

    table = [a for a in artifacts(f"wedding-{spiking}-critical-path") if a.type == "table"]
    assert table, "per-wedding table artifact"
    assert "latency_guest_list" in (table[0].description or "")
    assert artifacts(f"wedding-{spiking}-summary")

    # What the artifacts show is remembered; a wedding whose record is lost (as after a
    # failed publish) is republished by the next round, the others only if changed or due.
    with psycopg.connect(url) as conn:
        shown = dict(
            conn.execute("SELECT wedding_id, evaluated_at FROM perf.critical_path_published")
        )
        assert {str(w) for w in platform["live"]} <= set(shown)
        assert len(shown) == first["weddings"]
        conn.execute("DELETE FROM perf.critical_path_published WHERE wedding_id = %s", (spiking,))
    later = watch_wedding_day(at=at + timedelta(minutes=5))
    with psycopg.connect(url) as conn:
        republished = {
            w
            for (w,) in conn.execute(
                "SELECT wedding_id FROM perf.critical_path_published WHERE evaluated_at = %s",
                (at + timedelta(minutes=5),),
            )
        }
    assert spiking in republished
    assert later["artifacts_published_for"] == len(republished)


def test_watch_cli_prints_one_wedding(platform: dict) -> None:
    runner = CliRunner()
    runner.invoke(app, ["calendar", "sync", "--no-plan"])
    wedding = str(platform["live"][1])
    result = runner.invoke(app, ["watch", "--wedding", wedding])
    assert result.exit_code in (0, 2), result.output
    assert f"wedding {wedding}: ceremony" in result.output
    for check in ("guest_arrival", "timeline_drift", "vendor_unresponsive", "latency_guest_list"):
        assert check in result.output
    # Each SLO's budget and burn rate, below the checks.
    assert "error budgets over the day window" in result.output
    for slo in ("guest-list-latency", "vendor-delivery", "mobile-guest-list"):
        assert slo in result.output
    assert "remaining" in result.output and "burn" in result.output
    missing = runner.invoke(app, ["watch", "--wedding", "no-such-wedding"])
    assert missing.exit_code == 1 and "no wedding 'no-such-wedding'" in missing.output


def test_watch_cli_records_on_the_watch_grid(platform: dict) -> None:
    # `wedperf watch --record` at instants off the 5-minute grid records the round of the
    # grid slot they fall in: the same natural keys a scheduled round has, so repeating it
    # (or the scheduled round of that slot) rewrites the rows instead of adding a round.
    runner = CliRunner()
    runner.invoke(app, ["calendar", "sync", "--no-plan"])
    wedding = str(platform["live"][2])
    slot = datetime.now(UTC).replace(second=0, microsecond=0)
    slot -= timedelta(minutes=slot.minute % 5)
    for offset in (timedelta(minutes=1, seconds=17), timedelta(minutes=3, seconds=41)):
        at = (slot + offset).isoformat()
        result = runner.invoke(app, ["watch", "--wedding", wedding, "--at", at, "--record"])
        assert result.exit_code in (0, 2), result.output
        assert f"recording the round at {slot:%Y-%m-%d %H:%M:%S} UTC" in result.output
    with psycopg.connect(platform["url"]) as conn:
        budgets = conn.execute(
            "SELECT DISTINCT evaluated_at FROM perf.slo_budgets WHERE wedding_id = %s", (wedding,)
        ).fetchall()
        checks = conn.execute(
            "SELECT DISTINCT evaluated_at FROM perf.critical_path_checks WHERE wedding_id = %s",
            (wedding,),
        ).fetchall()
    assert budgets == [(slot,)] and checks == [(slot,)]
