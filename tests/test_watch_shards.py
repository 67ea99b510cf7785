"""A watch round in shards: a failing shard is retried, and no wedding is skipped or doubled
(real PostgreSQL and Prefect; the shards run in-process, as subflows, with no worker)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from typer.testing import CliRunner

from cli import app
from wedperf.calendar.model import Wedding
from wedperf.config import reset_settings_cache
from wedperf.critical_path.round import WatchShard, shard_round

pytestmark = pytest.mark.usefixtures("prefect_harness")


def shard_runs(parent_id) -> list:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterParentFlowRunId

    with get_client(sync_client=True) as client:
        return client.read_flow_runs(
            flow_run_filter=FlowRunFilter(
                parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[parent_id])
            )
        )


def checks_per_wedding(url: str, at: datetime) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        return dict(
            conn.execute(
                "SELECT wedding_id, count(*) FROM perf.critical_path_checks "
                "WHERE evaluated_at = %s GROUP BY wedding_id",
                (at,),
            ).fetchall()
        )


def test_shard_round_is_a_partition() -> None:
    def wedding(wedding_id: str) -> Wedding:
        start = datetime(2026, 10, 17, 18, tzinfo=UTC)
        return Wedding(wedding_id, start, start + timedelta(hours=6), "UTC", None, 120, "confirmed")

    live = [wedding(f"w{i:03d}") for i in range(10)]
    closed = [wedding("w100"), live[3]]
    shards = shard_round(live, closed, 4)
    assert [s.label for s in shards] == ["1-of-3", "2-of-3", "3-of-3"]
    checked = [w for s in shards for w in s.wedding_ids]
    assert sorted(checked) == sorted(w.wedding_id for w in live)  # each exactly once
    assert sorted(b for s in shards for b in s.budget_ids) == ["w003", "w100"]
    assert shard_round(list(reversed(live)), closed, 4) == shards  # same calendar, same shards
    assert isinstance(shards[0], WatchShard) and shard_round([], [], 4) == []
    with pytest.raises(ValueError, match="shard_size"):
        shard_round(live, [], 0)


def test_failed_shard_is_retried_without_skipping_or_doubling_a_wedding(
    platform: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    import flows.watch_wedding_shard as shard_module
    from flows.watch_wedding_day import watch_wedding_day

    monkeypatch.setenv("WEDPERF_CRITICAL_PATH__SHARD_SIZE", "1")
    reset_settings_cache()
    assert CliRunner().invoke(app, ["calendar", "sync", "--no-plan"]).exit_code == 0
    victim = str(platform["live"][1])
    at = datetime.now(UTC).replace(second=0, microsecond=0)
    at = at - timedelta(minutes=at.minute % 5)

    # The victim's shard fails once after its checks and alerts are stored (as a worker lost
    # while publishing would): its retry evaluates and writes the same rows again.
    real_record = shard_module.record_published
    failures = []

    def record_once(conn, done, results, at):
        if victim in done and not failures:
            failures.append(victim)
            raise RuntimeError("lost the database after storing the checks")
        return real_record(conn, done, results, at)

    monkeypatch.setattr(shard_module, "record_published", record_once)
    state = watch_wedding_day(at=at, return_state=True)
    summary = state.result()
    assert failures == [victim]
    assert summary["weddings"] >= 3 and summary["shards"] >= summary["weddings"]
    assert summary["shards_failed"] == [] and summary["shards_late"] == []
    assert summary["evaluated"] == summary["weddings"] and summary["duplicates"] == 0

    per_wedding = checks_per_wedding(platform["url"], at)
    assert len(per_wedding) == summary["weddings"]  # none skipped
    assert len(set(per_wedding.values())) == 1  # none doubled: same checks for each wedding
    runs = shard_runs(state.state_details.flow_run_id)
    assert len(runs) == summary["shards"]  # one run per shard, even for the retried one
    assert sorted(r.run_count for r in runs)[-2:] == [1, 2]  # exactly one ran twice
    assert all(r.state.is_completed() for r in runs)

    # A shard that keeps failing is reported after its retries; the others are not held.
    later = at + timedelta(minutes=5)
    real_by_id = shard_module.weddings_by_id

    def victim_unreadable(conn, ids, **kwargs):
        if victim in ids:
            raise RuntimeError("victim's rows unreadable")
        return real_by_id(conn, ids, **kwargs)

    monkeypatch.setattr(shard_module, "weddings_by_id", victim_unreadable)
    state = watch_wedding_day(at=later, return_state=True)
    again = state.result()
    assert len(again["shards_failed"]) == 1
    assert again["evaluated"] == again["weddings"] - 1 and again["duplicates"] == 0
    per_wedding = checks_per_wedding(platform["url"], later)
    assert victim not in per_wedding and len(per_wedding) == again["weddings"] - 1
    failed = [r for r in shard_runs(state.state_details.flow_run_id) if r.state.is_failed()]
    assert len(failed) == 1 and failed[0].run_count == 3  # the first try and two retries
