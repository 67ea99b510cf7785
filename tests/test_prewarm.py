"""Pre-warm against real Redis and PostgreSQL, and the prewarm flow's loud failure."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import psycopg
import pytest
import redis

from wedperf.calendar import AppDbCalendarSource, sync_calendar
from wedperf.calendar.model import Wedding
from wedperf.config import reset_settings_cache
from wedperf.prewarm.steps import DATASETS, prewarm_postgres, prewarm_redis
from wedperf.sandbox.seed import seed_sandbox

NOW = datetime(2026, 10, 10, 8, 0, tzinfo=UTC)
TEMPLATE = "test:prewarm:{wedding_id}:{dataset}"


@pytest.fixture(scope="module")
def sandbox_url(make_database) -> str:
    url = make_database()
    with psycopg.connect(url) as conn:
        seed_sandbox(conn, weddings=30, days=14, seed=3, start=date(2026, 10, 5), now=NOW)
        sync_calendar(conn, AppDbCalendarSource(url), now=NOW)
    return url


def upcoming(url: str, n: int = 3) -> list[Wedding]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT wedding_id, starts_at, ends_at, timezone, venue, guest_count, status "
            "FROM perf.weddings WHERE starts_at > %s AND status <> 'cancelled' "
            "ORDER BY starts_at LIMIT %s",
            (NOW, n),
        ).fetchall()
    return [Wedding(*r) for r in rows]


def test_redis_keys_hold_contract_data_with_day_long_ttls(sandbox_url: str, redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    weddings = upcoming(sandbox_url)
    with psycopg.connect(sandbox_url) as conn:
        result = prewarm_redis(
            client,
            conn,
            weddings,
            schema="wedperf_src",
            key_template=TEMPLATE,
            window_after=timedelta(0),
            now=NOW,
        )
        guests = {
            w.wedding_id: conn.execute(
                "SELECT count(*) FROM app.guests WHERE wedding_id = %s", (int(w.wedding_id),)
            ).fetchone()[0]
            for w in weddings
        }
    assert result.keys == len(weddings) * len(DATASETS)
    for w in weddings:
        key = TEMPLATE.format(wedding_id=w.wedding_id, dataset="guest_list")
        rows = json.loads(client.get(key))
        assert len(rows) == guests[w.wedding_id]
        assert set(rows[0]) == {"guest_id", "rsvp", "table_no"}  # ids only, no names
        expected_ttl = (w.ends_at + timedelta(hours=1) - NOW).total_seconds()
        assert abs(client.ttl(key) - expected_ttl) <= 5
        timeline = json.loads(
            client.get(TEMPLATE.format(wedding_id=w.wedding_id, dataset="timeline"))
        )
        assert "ceremony" in {item["item"] for item in timeline}

    # Idempotent: a second run writes the same keys with the same content.
    snapshot = {k: client.get(k) for k in client.scan_iter("test:prewarm:*")}
    with psycopg.connect(sandbox_url) as conn:
        prewarm_redis(
            client,
            conn,
            weddings,
            schema="wedperf_src",
            key_template=TEMPLATE,
            window_after=timedelta(0),
            now=NOW,
        )
    assert {k: client.get(k) for k in client.scan_iter("test:prewarm:*")} == snapshot


def test_redis_down_fails_loudly(sandbox_url: str) -> None:
    dead = redis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=1)
    with psycopg.connect(sandbox_url) as conn, pytest.raises(redis.ConnectionError):
        prewarm_redis(
            dead,
            conn,
            upcoming(sandbox_url),
            schema="wedperf_src",
            key_template=TEMPLATE,
            window_after=timedelta(0),
            now=NOW,
        )


def test_postgres_steps_skip_with_reasons(sandbox_url: str) -> None:
    with psycopg.connect(sandbox_url) as conn:
        steps = prewarm_postgres(conn, ["app.guests", "app.no_such_table"])
        has_extension = conn.execute(
            "SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'pg_prewarm')"
        ).fetchone()[0]
    by = {(s.relation, s.step): s for s in steps}
    assert by[("app.guests", "analyze")].done
    assert not by[("app.no_such_table", "pg_prewarm")].done
    assert "does not exist" in by[("app.no_such_table", "pg_prewarm")].detail
    prewarm = by[("app.guests", "pg_prewarm")]
    assert not prewarm.done and "not installed" in prewarm.detail  # not created in this db
    if has_extension:
        with psycopg.connect(sandbox_url, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS pg_prewarm")
            steps = prewarm_postgres(conn, ["app.guests"])
            conn.execute("DROP EXTENSION pg_prewarm")
        assert steps[0].done and "blocks loaded" in steps[0].detail


@pytest.mark.usefixtures("prefect_harness")
def test_prewarm_flow_with_redis_down_is_a_failed_run(
    sandbox_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    import flows.prewarm_weddings as module
    import flows.prewarm_weddings_shard as shard_module
    from flows.prewarm_weddings import prewarm_weddings

    # The retries (and their delays) are not what is tested here: the Redis step runs in the
    # slot's pre-warm shard, which has retries of its own.
    monkeypatch.setattr(shard_module, "warm_redis", shard_module.warm_redis.with_options(retries=0))
    monkeypatch.setattr(
        module, "prewarm_weddings_shard", module.prewarm_weddings_shard.with_options(retries=0)
    )
    monkeypatch.setenv("WEDPERF_DATABASE_URL", sandbox_url)
    monkeypatch.setenv("WEDPERF_REDIS_URL", "redis://127.0.0.1:1/0")
    # The run goes on to the per-database steps after its failed shard; the advisor is not
    # what is tested here (and its report would change what the next test's advisor reads).
    monkeypatch.setenv("WEDPERF_ADVISOR__ENABLED", "false")
    monkeypatch.setenv("WEDPERF_PROBES__BASE_URL", "http://127.0.0.1:1")
    monkeypatch.setenv("WEDPERF_DATA_DIR", str(tmp_path))
    reset_settings_cache()
    try:
        ids = [w.wedding_id for w in upcoming(sandbox_url, 2)]
        state = prewarm_weddings(wedding_ids=ids, plan_id="redis-down", return_state=True)
        assert state.is_failed()
        with psycopg.connect(sandbox_url) as conn:
            outcome = conn.execute(
                "SELECT outcome, detail FROM perf.actions WHERE plan_id = 'redis-down' "
                "AND kind = 'prewarm_redis'"
            ).fetchone()
        assert outcome[0] == "failed" and "Redis failed" in outcome[1]
    finally:
        reset_settings_cache()


@pytest.mark.usefixtures("prefect_harness")
def test_advisor_failure_never_fails_the_warm_ups(
    sandbox_url: str, redis_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    """The database advisor's optimisation failing (here: the app database going away under
    it) is logged and shown in the artifact; the warm-ups and the run still succeed."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        ArtifactFilterKey,
    )

    import flows.prewarm_weddings as module
    import tasks.advisor
    from flows.prewarm_weddings import prewarm_weddings

    def app_database_gone(*args, **kwargs):
        raise psycopg.OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(tasks.advisor, "run_advisor", app_database_gone)
    monkeypatch.setattr(
        module, "optimise_for_weddings", module.optimise_for_weddings.with_options(retries=0)
    )
    monkeypatch.setenv("WEDPERF_DATABASE_URL", sandbox_url)
    monkeypatch.setenv("WEDPERF_REDIS_URL", redis_url)
    monkeypatch.setenv("WEDPERF_PROBES__BASE_URL", "http://127.0.0.1:1")
    monkeypatch.setenv("WEDPERF_DATA_DIR", str(tmp_path))
    reset_settings_cache()
    try:
        ids = [w.wedding_id for w in upcoming(sandbox_url, 2)]
        state = prewarm_weddings(wedding_ids=ids, plan_id="advisor-down", return_state=True)
        assert state.is_completed(), state.message
        result = state.result()
        assert result["redis_keys"] > 0 and result["advisor_steps"] == []
        assert "server closed the connection" in result["advisor_error"]
        with get_client(sync_client=True) as client:
            [artifact] = client.read_artifacts(
                artifact_filter=ArtifactFilter(
                    key=ArtifactFilterKey(any_=["prewarm-weddings"]),
                    flow_run_id=ArtifactFilterFlowRunId(any_=[state.state_details.flow_run_id]),
                )
            )
        assert "Advisor optimisation failed" in artifact.data
        assert "## Database advisor findings" in artifact.data
        assert "server closed the connection" in artifact.data
    finally:
        reset_settings_cache()


def test_the_app_serves_the_prewarmed_payload(sandbox_url: str, redis_url: str) -> None:
    """One cache contract: pre-warm writes the keys the sandbox app reads. A pre-warmed guest
    list and timeline are answered from Redis without a query; a cold read runs the queries,
    answers the same body and (unless no-store) fills the same keys."""
    import asyncio

    import httpx

    from wedperf.config import get_settings
    from wedperf.prewarm.contract import KEY_TEMPLATE, dataset_key
    from wedperf.sandbox.app import create_app
    from wedperf.sandbox.cache import guests_key

    reset_settings_cache()
    assert get_settings().ops.prewarm_key_template == KEY_TEMPLATE
    assert guests_key(7) == KEY_TEMPLATE.format(wedding_id=7, dataset="guest_list")
    client = redis.Redis.from_url(redis_url)
    warm, cold = upcoming(sandbox_url, 2)
    client.delete(*(dataset_key(w.wedding_id, d) for w in (warm, cold) for d in DATASETS))
    with psycopg.connect(sandbox_url) as conn:
        prewarm_redis(
            client,
            conn,
            [warm],
            schema="wedperf_src",
            key_template=get_settings().ops.prewarm_key_template,
            window_after=timedelta(0),
            now=NOW,
        )
    app = create_app(sandbox_url, redis_url)
    queries = app.state.sandbox.metrics.db_queries

    async def scenario() -> dict:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as http:
            out = {}
            for name, wedding, headers in (
                ("warm", warm, {}),
                ("cold_no_store", cold, {"cache-control": "no-store"}),
                ("cold", cold, {}),
                ("cold_again", cold, {}),
            ):
                before = queries.labels("guest_list")._value.get()
                guests = await http.get(f"/weddings/{wedding.wedding_id}/guests", headers=headers)
                timeline = await http.get(f"/weddings/{wedding.wedding_id}/timeline")
                spent = queries.labels("guest_list")._value.get() - before
                out[name] = (guests, timeline, spent)
        await app.state.sandbox.aclose()
        return out

    seen = asyncio.run(scenario())
    guests, timeline, spent = seen["warm"]
    assert guests.headers["x-wedperf-cache"] == "hit" and spent == 0
    stored = json.loads(client.get(dataset_key(warm.wedding_id, "guest_list")))
    assert guests.json() == {"wedding_id": int(warm.wedding_id), "guests": stored}
    assert timeline.headers["x-wedperf-cache"] == "hit"
    assert timeline.json()["items"] == json.loads(
        client.get(dataset_key(warm.wedding_id, "timeline"))
    )

    guests, _, spent = seen["cold_no_store"]
    assert guests.headers["x-wedperf-cache"] == "miss" and spent > 0
    assert seen["cold"][0].headers["x-wedperf-cache"] == "miss"  # no-store left it cold
    assert seen["cold_again"][0].headers["x-wedperf-cache"] == "hit"
    assert seen["cold_again"][0].json() == seen["cold_no_store"][0].json()
    # The app's own fill has the contract payload: what pre-warm would have written.
    filled = client.get(dataset_key(cold.wedding_id, "guest_list"))
    with psycopg.connect(sandbox_url) as conn:
        prewarm_redis(
            client,
            conn,
            [cold],
            schema="wedperf_src",
            key_template=KEY_TEMPLATE,
            window_after=timedelta(0),
            now=NOW,
        )
    assert client.get(dataset_key(cold.wedding_id, "guest_list")) == filled


def test_default_relations_are_contract_views_and_warm_the_tables_behind(
    sandbox_url: str,
) -> None:
    from wedperf.capacity.settings import OpsSettings

    relations = OpsSettings().prewarm_relations
    assert all(r.startswith("wedperf_src.") for r in relations)
    with psycopg.connect(sandbox_url, autocommit=True) as conn:
        kinds = {
            r: conn.execute(
                "SELECT relkind FROM pg_class WHERE oid = to_regclass(%s)", (r,)
            ).fetchone()
            for r in relations
        }
        steps = prewarm_postgres(conn, relations)
    assert kinds == {r: ("v",) for r in relations}  # every default is a sandbox view
    analyzed = {s.relation for s in steps if s.step == "analyze" and s.done}
    assert analyzed == {"app.guests", "app.timeline_items", "app.vendors", "app.seating"}
