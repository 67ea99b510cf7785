"""Collection and pre-warm in shards, like the watch round: each wedding touched exactly once
in k shards, and a failing shard retried without skipping or doubling a wedding (real
PostgreSQL, Redis and Prefect; the shards run in-process, as subflows, with no worker)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest
import redis

from wedperf.calendar.model import Wedding
from wedperf.config import reset_settings_cache
from wedperf.metrics.collect import merge_summaries
from wedperf.sandbox.live import bring_weddings_live
from wedperf.shards import Shard, ShardedRound, shard_key, shard_requests, split

pytestmark = pytest.mark.usefixtures("prefect_harness")

TEMPLATE = "test:sharded:{wedding_id}:{dataset}"


def shard_runs(parent_id) -> list:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterParentFlowRunId

    with get_client(sync_client=True) as client:
        return client.read_flow_runs(
            flow_run_filter=FlowRunFilter(
                parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[parent_id])
            )
        )


def test_split_is_a_stable_partition_with_keys_per_round() -> None:
    ids = [f"w{i:02d}" for i in (7, 3, 1, 9, 3, 5, 2)]
    shards = split(ids, 2)
    assert [s.label for s in shards] == ["1-of-3", "2-of-3", "3-of-3"]
    assert [w for s in shards for w in s.wedding_ids] == sorted(set(ids))  # once each
    assert split(reversed(ids), 2) == shards and split([], 2) == []
    at = datetime(2026, 10, 17, 18, 5, tzinfo=UTC)
    requests = shard_requests("d/x", at, shards, lambda s: {"ids": s.wedding_ids})
    assert requests[1].key == shard_key("d/x", at, shards[1])
    assert requests[1].key.startswith(f"d/x|{at.isoformat()}|2-of-3|")
    assert len({r.key for r in requests}) == 3
    # A retry over the same weddings asks for the same runs; another round at the same
    # instant over other weddings (same shard count) must not be handed these runs.
    again = shard_requests("d/x", at, split(ids, 2), lambda s: {})
    assert [r.key for r in again] == [r.key for r in requests]
    other = split([f"w{i:02d}" for i in (4, 6, 8, 10, 11, 12)], 2)
    assert not {r.key for r in shard_requests("d/x", at, other, lambda s: {})} & {
        r.key for r in requests
    }
    assert requests[0].parameters == {"ids": ["w01", "w02"]}
    with pytest.raises(ValueError, match="shard_size"):
        split(ids, 0)


def test_sharded_round_adds_up_and_counts_duplicates() -> None:
    from tasks.shards import ShardOutcome

    # What a shard did (`probed`) is counted, not the weddings it was given: "c" was given
    # but not probed, "b" probed by two shards.
    outcomes = [
        ShardOutcome("1-of-3", "completed", {"weddings": ["a", "c"], "probed": ["a", "b"]}),
        ShardOutcome("2-of-3", "completed", {"weddings": ["b"], "probed": ["b"], "samples": 1}),
        ShardOutcome("3-of-3", "failed", message="Failed: boom"),
    ]
    outcomes[0].result["samples"] = 4
    sharded = ShardedRound("in-process", outcomes, touched="probed")
    assert sharded.summary(counted="probed") == {
        "shards": 3,
        "shards_failed": ["3-of-3"],
        "shards_late": [],
        "shards_unread": [],
        "probed": 2,
        "duplicates": 1,
    }
    assert sharded.total("samples") == 5 and "3-of-3 failed: Failed: boom" in sharded.markdown()
    assert isinstance(split(["a"], 1)[0], Shard)


def test_merged_summaries_add_counts_and_keep_the_worst_p95() -> None:
    parts = [
        [{"operation": "guest_list", "weddings": 2, "samples": 4, "events": 4, "p95_ms": 12.0}],
        [
            {"operation": "guest_list", "weddings": 1, "samples": 2, "events": 2, "p95_ms": 30.0},
            {"operation": "platform", "weddings": 0, "samples": 1, "events": 1, "p95_ms": None},
        ],
    ]
    assert merge_summaries(parts) == [
        {"operation": "guest_list", "weddings": 3, "samples": 6, "events": 6, "p95_ms": 30.0},
        {"operation": "platform", "weddings": 0, "samples": 1, "events": 1, "p95_ms": None},
    ]


def probe_samples(url: str) -> dict[tuple[str, str], int]:
    """(wedding, per-wedding probe series) -> samples stored."""
    with psycopg.connect(url) as conn:
        return {
            (w, s): n
            for w, s, n in conn.execute(
                "SELECT wedding_id, series, count(*) FROM perf.samples "
                "WHERE source = 'probe' AND wedding_id IS NOT NULL GROUP BY 1, 2"
            )
        }


def test_collection_in_shards_probes_each_wedding_once_and_retries_a_failed_shard(
    platform: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    import flows.collect_metrics_shard as shard_module
    from flows.collect_metrics import collect_metrics
    from flows.sync_calendar import sync_calendar

    with psycopg.connect(platform["url"]) as conn:
        bring_weddings_live(conn, count=4, now=platform["now"], seed=12)
    monkeypatch.setenv("WEDPERF_COLLECT_SHARD_SIZE", "2")
    reset_settings_cache()
    sync_calendar(plan_collection=False)
    victim = str(platform["live"][1])

    # The victim's shard loses the database while storing, once: its retry probes again and
    # stores once (storing is a shard's last step, so the failed try stored nothing).
    real_store = shard_module.store_samples_task
    failures = []

    def store_once(samples):
        if not failures and any(s.wedding_id == victim for s in samples):
            failures.append(victim)
            raise psycopg.OperationalError("server closed the connection unexpectedly")
        return real_store(samples)

    monkeypatch.setattr(shard_module, "store_samples_task", store_once)
    # Probes are stamped when they run: a window ending minutes ahead holds every shard's.
    end = datetime.now(UTC) + timedelta(minutes=5)
    state = collect_metrics(lookback_minutes=10, end=end, return_state=True)
    summary = state.result()
    assert state.is_completed(), state.message
    assert failures == [victim]
    live = summary["live_weddings"]
    assert live >= 5 and summary["shards"] == (live + 1) // 2
    assert summary["shards_failed"] == [] and summary["failed_sources"] == {}

    # Counted in perf.samples, not in the partition the shards were given.
    per_series = probe_samples(platform["url"])
    assert len({w for w, _ in per_series}) == live  # none skipped
    assert set(per_series.values()) == {1}  # none doubled: one sample per wedding x target
    assert len(per_series) == 2 * live  # the two default per-wedding targets
    # The round reports what was stored: the weddings with a probe sample, none twice.
    assert summary["evaluated"] == len({w for w, _ in per_series})
    assert summary["duplicates"] == 0
    runs = shard_runs(state.state_details.flow_run_id)
    assert len(runs) == summary["shards"]
    assert sorted(r.run_count for r in runs)[-2:] == [1, 2]  # exactly one ran twice
    with psycopg.connect(platform["url"]) as conn:
        rolled = conn.execute(
            "SELECT count(DISTINCT wedding_id) FROM perf.rollups_minute "
            "WHERE operation = 'guest_list' AND wedding_id IS NOT NULL"
        ).fetchone()[0]
    assert rolled == live  # the round rolled up every shard's samples

    # A shard that keeps failing is reported like a broken source; the others are stored.
    def store_never(samples):
        if any(s.wedding_id == victim for s in samples):
            raise psycopg.OperationalError("server closed the connection unexpectedly")
        return real_store(samples)

    monkeypatch.setattr(shard_module, "store_samples_task", store_never)
    state = collect_metrics(lookback_minutes=10, end=end + timedelta(minutes=1), return_state=True)
    assert state.is_failed() and "probe shard" in state.message
    again = state.result(raise_on_failure=False)
    [held] = [
        len(c.wedding_ids) for c in split({w for w, _ in per_series}, 2) if victim in c.wedding_ids
    ]
    after = probe_samples(platform["url"])
    assert after[(victim, f"guest-list:{victim}")] == 1  # nothing stored for its shard
    assert sum(after.values()) == sum(per_series.values()) + 2 * (live - held)
    stored_again = {w for (w, s), n in after.items() if n > per_series.get((w, s), 0)}
    assert len(stored_again) == live - held and victim not in stored_again
    assert len(again["shards_failed"]) == 1 and again["evaluated"] == len(stored_again)

    # A wedding its shard was given but got no probe sample for is not counted: the round
    # counts what was stored, not the partition.
    real_collect = shard_module.collect_from_source
    monkeypatch.setattr(shard_module, "store_samples_task", real_store)
    monkeypatch.setattr(
        shard_module,
        "collect_from_source",
        lambda source, window: [s for s in real_collect(source, window) if s.wedding_id != victim],
    )
    state = collect_metrics(lookback_minutes=10, end=end + timedelta(minutes=2), return_state=True)
    third = state.result()
    assert state.is_completed(), state.message
    latest = probe_samples(platform["url"])
    stored_third = {w for (w, s), n in latest.items() if n > after.get((w, s), 0)}
    assert victim not in stored_third and len(stored_third) == live - 1
    assert third["evaluated"] == len(stored_third) and third["duplicates"] == 0
    assert third["shards_failed"] == []


@pytest.fixture
def slot(make_database, redis_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path):
    """Seven upcoming weddings of a seeded sandbox, wedperf pointed at it in act mode."""
    from datetime import date

    from wedperf.calendar import AppDbCalendarSource, sync_calendar
    from wedperf.sandbox.seed import seed_sandbox

    url = make_database()
    now = datetime(2026, 10, 10, 8, 0, tzinfo=UTC)
    with psycopg.connect(url) as conn:
        seed_sandbox(conn, weddings=30, days=14, seed=3, start=date(2026, 10, 5), now=now)
        sync_calendar(conn, AppDbCalendarSource(url), now=now)
        rows = conn.execute(
            "SELECT wedding_id, starts_at, ends_at, timezone, venue, guest_count, status "
            "FROM perf.weddings WHERE starts_at > %s AND status <> 'cancelled' "
            "ORDER BY starts_at LIMIT 7",
            (now,),
        ).fetchall()
    monkeypatch.setenv("WEDPERF_DATABASE_URL", url)
    monkeypatch.setenv("WEDPERF_REDIS_URL", redis_url)
    monkeypatch.setenv("WEDPERF_PROBES__BASE_URL", "http://127.0.0.1:1")
    monkeypatch.setenv("WEDPERF_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("WEDPERF_OPS__MODE", "act")
    monkeypatch.setenv("WEDPERF_OPS__PREWARM_KEY_TEMPLATE", TEMPLATE)
    monkeypatch.setenv("WEDPERF_PREWARM__SHARD_SIZE", "3")
    reset_settings_cache()
    client = redis.Redis.from_url(redis_url)
    client.delete(*client.keys("test:sharded:*") or ["none"])
    yield {"url": url, "weddings": [Wedding(*r) for r in rows], "redis": client}
    client.delete(*client.keys("test:sharded:*") or ["none"])
    reset_settings_cache()


def redis_steps(url: str, plan_id: str) -> list[tuple[str, list[str], str]]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT target, wedding_ids, outcome FROM perf.actions "
            "WHERE plan_id = %s AND kind = 'prewarm_redis' ORDER BY target",
            (plan_id,),
        ).fetchall()


def warmed_in_redis(client: redis.Redis) -> set[str]:
    """The weddings with a pre-warmed key in Redis."""
    return {k.decode().split(":")[2] for k in client.keys("test:sharded:*")}


def test_prewarm_in_shards_warms_each_wedding_once_and_retries_a_failed_shard(
    slot: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    import flows.prewarm_weddings as module
    import flows.prewarm_weddings_shard as shard_module
    import tasks.prewarm
    from flows.prewarm_weddings import prewarm_weddings

    ids = [w.wedding_id for w in slot["weddings"]]
    victim = sorted(ids)[4]  # in the second of three shards
    # Redis goes away under the victim's shard once; the shard's own retry warms it. (The
    # task's retries, and their delays, are not what is tested here.)
    monkeypatch.setattr(shard_module, "warm_redis", shard_module.warm_redis.with_options(retries=0))
    monkeypatch.setattr(
        module,
        "prewarm_weddings_shard",
        module.prewarm_weddings_shard.with_options(retry_delay_seconds=0),
    )
    real_prewarm = tasks.prewarm.prewarm_redis
    failures = []

    def redis_lost_once(client, app_conn, weddings, **kwargs):
        if not failures and victim in [w.wedding_id for w in weddings]:
            failures.append(victim)
            raise redis.ConnectionError("Connection reset by peer")
        return real_prewarm(client, app_conn, weddings, **kwargs)

    monkeypatch.setattr(tasks.prewarm, "prewarm_redis", redis_lost_once)
    state = prewarm_weddings(wedding_ids=ids, plan_id="sharded", return_state=True)
    assert state.is_completed(), state.message
    summary = state.result()
    assert failures == [victim]
    assert summary["weddings"] == 7 and summary["shards"] == 3
    assert summary["shards_failed"] == [] and summary["redis_keys"] > 0

    steps = redis_steps(slot["url"], "sharded")
    assert [t for t, _, _ in steps] == ["redis [1-of-3]", "redis [2-of-3]", "redis [3-of-3]"]
    assert all(outcome == "done" for _, _, outcome in steps)  # the retry overwrote "failed"
    warmed = [w for _, weddings, _ in steps for w in weddings]
    assert sorted(warmed) == sorted(ids)  # each wedding in exactly one shard's step
    keyed = warmed_in_redis(slot["redis"])
    assert keyed == set(ids)  # none skipped
    # The run reports the weddings whose keys Redis holds, none twice.
    assert summary["warmed"] == len(keyed) and summary["duplicates"] == 0
    runs = shard_runs(state.state_details.flow_run_id)
    assert len(runs) == 3 and sorted(r.run_count for r in runs) == [1, 1, 2]

    # A shard that keeps failing fails the slot's run, naming it; the others are warmed.
    def redis_lost(client, app_conn, weddings, **kwargs):
        if victim in [w.wedding_id for w in weddings]:
            raise redis.ConnectionError("Connection reset by peer")
        return real_prewarm(client, app_conn, weddings, **kwargs)

    monkeypatch.setattr(tasks.prewarm, "prewarm_redis", redis_lost)
    slot["redis"].delete(*slot["redis"].keys("test:sharded:*"))
    state = prewarm_weddings(wedding_ids=ids, plan_id="sharded-down", return_state=True)
    assert state.is_failed() and "2-of-3" in state.message
    again = state.result(raise_on_failure=False)
    keyed = warmed_in_redis(slot["redis"])
    assert len(keyed) == 4 and victim not in keyed
    assert again["shards_failed"] == ["2-of-3"] and again["warmed"] == len(keyed)
    outcomes = {t: o for t, _, o in redis_steps(slot["url"], "sharded-down")}
    assert outcomes == {
        "redis [1-of-3]": "done",
        "redis [2-of-3]": "failed",
        "redis [3-of-3]": "done",
    }
