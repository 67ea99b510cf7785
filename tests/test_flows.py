"""The sync-calendar and collect-metrics flows against a real Prefect API, PostgreSQL, Redis
and the sandbox app served over real HTTP."""

from __future__ import annotations

import http.server
import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from wedperf.config import reset_settings_cache
from wedperf.sandbox.load import drive_load

pytestmark = pytest.mark.usefixtures("prefect_harness")


def scalar(url: str, query: str, params: tuple = ()) -> object:
    with psycopg.connect(url) as conn:
        return conn.execute(query, params).fetchone()[0]


def test_sync_calendar_flow_mirrors_the_app_and_plans_live_collection(
    platform: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterDeploymentId,
        FlowRunFilterTags,
    )

    from flows.collect_metrics import collect_metrics
    from flows.sync_calendar import sync_calendar

    deployment_id = collect_metrics.to_deployment(name="collect-metrics-live").apply()
    monkeypatch.setenv("WEDPERF_COLLECT_PLAN_HORIZON", "PT40M")
    reset_settings_cache()

    result = sync_calendar()
    url = platform["url"]
    assert result["inserted"] == scalar(url, "SELECT count(*) FROM app.weddings")
    assert scalar(url, "SELECT count(*) FROM perf.weddings") == result["inserted"]
    # Three weddings are in their day window now: one collection run per minute, 40 min ahead.
    assert 39 <= result["planned_runs"] <= 40

    again = sync_calendar()
    assert (again["inserted"], again["updated"]) == (0, 0)
    # Re-planning creates nothing already planned; at most the minute the horizon moved on.
    assert again["planned_runs"] <= 1

    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            # This deployment's runs only: other tests of the session plan calendar runs too.
            flow_run_filter=FlowRunFilter(
                tags=FlowRunFilterTags(all_=["calendar-planned"]),
                deployment_id=FlowRunFilterDeploymentId(any_=[deployment_id]),
            ),
            limit=200,
        )
    assert len(runs) == result["planned_runs"] + again["planned_runs"]
    first = min(runs, key=lambda r: r.expected_start_time)
    assert first.state.is_scheduled()
    assert first.name.startswith("collect-live-")
    assert first.expected_start_time.second == 0


def test_collect_flow_stores_attributed_samples_once(platform: dict) -> None:
    from flows.collect_metrics import collect_metrics
    from flows.sync_calendar import sync_calendar

    sync_calendar(plan_collection=False)
    drive_load(platform["base_url"], platform["live"], requests=120, concurrency=8, seed=1)
    end = datetime.now(UTC) + timedelta(minutes=1)

    first = collect_metrics(lookback_minutes=10, end=end)
    url = platform["url"]
    assert first["failed_sources"] == {}
    assert first["live_weddings"] >= 3
    by_source = dict(
        psycopg.connect(url)
        .execute("SELECT source || ':' || attributed_by, count(*) FROM perf.samples GROUP BY 1")
        .fetchall()
    )
    assert by_source.get("app_db:row", 0) > 0, "vendor notifications from the app DB"
    assert by_source.get("probe:url", 0) >= 2 * 3, "per-wedding probes of live weddings"
    probed = {
        row[0]
        for row in psycopg.connect(url).execute(
            "SELECT DISTINCT wedding_id FROM perf.samples WHERE source = 'probe' "
            "AND wedding_id IS NOT NULL"
        )
    }
    assert {str(w) for w in platform["live"]} <= probed
    artifact = _latest_artifact("collect-metrics")
    assert artifact.type == "table"
    rows = artifact.data if isinstance(artifact.data, list) else json.loads(artifact.data)
    assert {"operation", "weddings", "samples", "p95_ms"} <= set(rows[0])
    guest_rows = [r for r in rows if r["operation"] == "guest_list"]
    assert guest_rows and guest_rows[0]["weddings"] >= 3 and guest_rows[0]["p95_ms"] > 0
    wedding_rollups = scalar(
        url,
        "SELECT count(*) FROM perf.rollups_minute WHERE wedding_id = %s AND operation = "
        "'guest_list'",
        (str(platform["live"][0]),),
    )
    assert wedding_rollups >= 1

    # The same window again: re-read sources add nothing; only the new probe round is new.
    app_rows = scalar(url, "SELECT count(*) FROM perf.samples WHERE source = 'app_db'")
    total = scalar(url, "SELECT count(*) FROM perf.samples")
    second = collect_metrics(lookback_minutes=10, end=end)
    assert second["failed_sources"] == {}
    assert scalar(url, "SELECT count(*) FROM perf.samples WHERE source = 'app_db'") == app_rows
    assert second["new_samples"] == second["samples"] - app_rows
    assert scalar(url, "SELECT count(*) FROM perf.samples") == total + second["new_samples"]


def _latest_artifact(key: str):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])), limit=50
        )
    assert artifacts, f"no artifact with key {key}"
    return max(artifacts, key=lambda a: a.created)


class _BrokenPrometheus(http.server.BaseHTTPRequestHandler):
    mode = "hang"

    def do_GET(self) -> None:
        if self.mode == "hang":
            time.sleep(3)
        body = b"<html><body>502 Bad Gateway</body></html>"
        self.send_response(200)
        self.send_header("content-type", "text/html")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def broken_prometheus(request: pytest.FixtureRequest) -> Iterator[str]:
    handler = type("Handler", (_BrokenPrometheus,), {"mode": request.param})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.mark.parametrize(
    ("broken_prometheus", "reason"),
    [("hang", "timed out after 0.5s"), ("garbage", "non-JSON body")],
    indirect=["broken_prometheus"],
)
def test_a_failing_source_fails_alone(
    platform: dict, broken_prometheus: str, reason: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flows.collect_metrics import collect_metrics
    from flows.sync_calendar import sync_calendar

    monkeypatch.setenv("WEDPERF_PROMETHEUS__URL", broken_prometheus)
    monkeypatch.setenv("WEDPERF_PROMETHEUS__TIMEOUT_SECONDS", "0.5")
    reset_settings_cache()
    sync_calendar(plan_collection=False)
    drive_load(platform["base_url"], platform["live"], requests=40, concurrency=4, seed=2)

    state = collect_metrics(lookback_minutes=10, return_state=True)

    assert state.is_failed()
    assert "prometheus" in state.message and reason in state.message
    summary = state.result(raise_on_failure=False)
    assert set(summary["failed_sources"]) == {"prometheus"}
    url = platform["url"]
    assert scalar(url, "SELECT count(*) FROM perf.samples WHERE source = 'probe'") > 0
    assert scalar(url, "SELECT count(*) FROM perf.samples WHERE source = 'prometheus'") == 0


def test_rollup_of_a_past_window_stops_one_dense_interval_after_it() -> None:
    """A round rolls up its window and the dense interval after it (its own probes, stamped
    after the window's end), never past now: a week-old window rolls up its own minutes."""
    from tasks.metrics import rollup_end
    from wedperf.metrics.model import CollectWindow

    now = datetime(2026, 10, 17, 20, 0, 30, tzinfo=UTC)
    minute = timedelta(minutes=1)
    live = CollectWindow(start=now - timedelta(minutes=15), end=now.replace(second=0))
    assert rollup_end(live, minute, now) == now  # the round's own probes up to now
    past = CollectWindow(start=now - timedelta(days=7, minutes=15), end=now - timedelta(days=7))
    assert rollup_end(past, minute, now) == past.end + minute
    ahead = CollectWindow(start=now, end=now + timedelta(minutes=5))
    assert rollup_end(ahead, minute, now) == ahead.end
