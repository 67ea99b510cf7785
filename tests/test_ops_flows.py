"""plan-wedding-ops, prewarm-weddings and capacity-floor against a real Prefect API,
PostgreSQL, Redis and the sandbox app."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import httpx
import psycopg
import pytest
import redis

from wedperf.config import reset_settings_cache

pytestmark = pytest.mark.usefixtures("prefect_harness")
ZONES = ["America/New_York", "America/Chicago", "America/Los_Angeles", "Europe/London"]


def register_deployments() -> None:
    from flows.capacity_floor import capacity_floor
    from flows.collect_metrics import collect_metrics
    from flows.prewarm_weddings import prewarm_weddings
    from flows.watch_wedding_day import watch_wedding_day

    for flow, name in (
        (prewarm_weddings, "prewarm-weddings"),
        (capacity_floor, "capacity-floor"),
        (collect_metrics, "collect-metrics-live"),
        (watch_wedding_day, "watch-wedding-day-live"),
    ):
        flow.to_deployment(name=name).apply()


def planned_runs(tag: str = "wedding-ops") -> list:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterTags

    runs, offset = [], 0
    with get_client(sync_client=True) as client:
        while True:
            page = client.read_flow_runs(
                flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=[tag])),
                limit=200,
                offset=offset,
            )
            runs += page
            if len(page) < 200:
                return runs
            offset += 200


def test_planning_a_peak_saturday(
    migrated_database_url: str, redis_url: str, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flows.plan_wedding_ops import plan_wedding_ops

    monkeypatch.setenv("WEDPERF_DATABASE_URL", migrated_database_url)
    monkeypatch.setenv("WEDPERF_REDIS_URL", redis_url)
    monkeypatch.setenv("WEDPERF_DATA_DIR", str(tmp_path))
    reset_settings_cache()
    day = (datetime.now(UTC) + timedelta(days=2)).replace(hour=0, minute=0, second=0, microsecond=0)
    with (
        psycopg.connect(migrated_database_url) as conn,
        conn.cursor().copy(
            "COPY perf.weddings (wedding_id, source, starts_at, ends_at, timezone, guest_count, "
            "status) FROM STDIN"
        ) as copy,
    ):
        for i in range(2000):
            starts = day + timedelta(hours=14, minutes=5 * (i % 60))
            copy.write_row(
                (
                    f"w{i}",
                    "test",
                    starts,
                    starts + timedelta(hours=6),
                    ZONES[i % 4],
                    80 + i % 90,
                    "confirmed",
                )
            )
    register_deployments()

    dry = plan_wedding_ops(dry_run=True)
    assert dry["weddings"] == 2000 and planned_runs() == []
    began = time.perf_counter()
    first = plan_wedding_ops()
    print(f"planning 2,000 weddings: {time.perf_counter() - began:.1f} s")  # see bench/plan.py
    created = sum(c["created"] for c in first["reconciled"].values() if "created" in c)
    assert created == len(first["runs"]) == len(dry["runs"]) <= 60
    runs = planned_runs()
    assert len(runs) == len(first["runs"])
    assert all(r.state.is_scheduled() for r in runs)
    assert {r.name.split("-")[0] for r in runs} == {"prewarm", "floor"}

    again = plan_wedding_ops()
    assert all(
        c.get("created", 0) == 0 and c.get("cancelled", 0) == 0
        for c in again["reconciled"].values()
    )
    assert len(planned_runs()) == len(runs)

    with psycopg.connect(migrated_database_url) as conn:
        conn.execute(
            "UPDATE perf.weddings SET starts_at = starts_at + interval '3 hours', "
            "ends_at = ends_at + interval '3 hours' WHERE wedding_id = 'w0'"
        )
        conn.execute("UPDATE perf.weddings SET status = 'cancelled' WHERE wedding_id = 'w1'")
    third = plan_wedding_ops()
    floor = third["reconciled"]["capacity-floor/capacity-floor"]
    assert floor["cancelled"] >= 2 and floor["created"] >= 2
    after = planned_runs()
    scheduled = [r for r in after if r.state.is_scheduled()]
    cancelled = [r for r in after if r.state.is_cancelled()]
    assert cancelled and all("w1" not in r.parameters["wedding_ids"] for r in scheduled)
    assert sum("w0" in r.parameters["wedding_ids"] for r in scheduled) == 3  # moved, not lost
    reset_settings_cache()


def test_prewarm_and_floor_close_the_loop_on_the_sandbox(
    platform: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flows.capacity_floor import capacity_floor
    from flows.prewarm_weddings import prewarm_weddings
    from flows.sync_calendar import sync_calendar

    # Small replicas, so three weddings need more than the sandbox's default 8 slots.
    monkeypatch.setenv(
        "WEDPERF_OPS__TARGETS", '[{"name": "sandbox", "per_replica_rps": 2, "max_replicas": 40}]'
    )
    reset_settings_cache()

    sync_calendar(plan_collection=False)
    ids = [str(w) for w in platform["live"]]
    warmed = prewarm_weddings(wedding_ids=ids, plan_id="loop")
    assert warmed["weddings"] == 3 and warmed["http_failures"] == 0
    assert warmed["redis_keys"] == 3 * 4
    # The effect is measured and reported (no timing assert: CI shares its cores); what must
    # hold is that the app's own cache now has every wedding's guest list.
    assert warmed["guest_list_p95_before_ms"] > 0 and warmed["guest_list_p95_after_ms"] > 0
    cache = redis.Redis.from_url(platform["redis_url"])
    assert all(cache.exists(f"wedperf:wedding:{w}:guest_list") for w in ids)

    capacity = f"{platform['base_url']}/admin/capacity"
    before = httpx.get(capacity).json()["replicas"]
    raised = capacity_floor(target="sandbox", action="raise", wedding_ids=ids, plan_id="loop")
    assert raised["outcome"] == "done" and httpx.get(capacity).json()["replicas"] == raised["after"]
    assert raised["after"] >= before

    restore = capacity_floor(
        target="sandbox", action="restore", wedding_ids=ids, plan_id="loop-restore"
    )
    assert restore["outcome"] == "skipped" and "live" in restore["reason"]  # weddings are live
    with psycopg.connect(platform["url"]) as conn:
        kinds = dict(
            conn.execute(
                "SELECT kind, outcome FROM perf.actions WHERE plan_id LIKE 'loop%'"
            ).fetchall()
        )
    assert kinds["prewarm_redis"] == "done" and kinds["prewarm_http"] == "done"
    assert kinds["capacity_raise"] == "done" and kinds["capacity_restore"] == "skipped"
