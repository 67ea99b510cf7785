"""perf.samples writes on real PostgreSQL: idempotent, retried, rolled up."""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta

import numpy as np
import psycopg

from wedperf.db.connection import get_pool
from wedperf.metrics.model import LATENCY, Sample
from wedperf.metrics.store import merged_histogram, rollup_minutes, store_samples, write_samples

T0 = datetime(2026, 10, 17, 20, 0, tzinfo=UTC)


def make_samples(n: int, *, source: str = "probe", start: datetime = T0) -> list[Sample]:
    return [
        Sample(
            ts=start + timedelta(milliseconds=10 * i),
            source=source,
            metric=LATENCY,
            operation="guest_list",
            series=f"guest-list:{i % 50}",
            wedding_id=str(i % 50),
            attributed_by="url",
            value=0.001 * (i % 100),
        )
        for i in range(n)
    ]


def sample_counts(url: str) -> tuple[int, int]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT count(*), count(DISTINCT (ts, source, metric, operation, series)) "
            "FROM perf.samples"
        ).fetchone()


def test_writing_the_same_window_twice_stores_each_sample_once(
    migrated_database_url: str,
) -> None:
    samples = make_samples(2_000)
    with psycopg.connect(migrated_database_url) as conn:
        assert write_samples(conn, samples) == 2_000
        assert write_samples(conn, samples) == 0
        # A later, overlapping window: only the new half is new.
        later = make_samples(2_000, start=T0 + timedelta(seconds=10))
        assert write_samples(conn, later) == 1_000
    assert sample_counts(migrated_database_url) == (3_000, 3_000)


def test_duplicates_inside_one_batch_are_stored_once(migrated_database_url: str) -> None:
    samples = make_samples(100)
    with psycopg.connect(migrated_database_url) as conn:
        assert write_samples(conn, samples + samples[:10]) == 100
    assert sample_counts(migrated_database_url) == (100, 100)


def test_partitions_are_created_for_any_day_and_ahead(migrated_database_url: str) -> None:
    far = datetime(2031, 2, 3, 12, 0, tzinfo=UTC)
    ahead = (datetime.now(UTC) + timedelta(days=12)).strftime("%Y%m%d")
    with psycopg.connect(migrated_database_url) as conn:
        assert not conn.execute(f"SELECT to_regclass('perf.samples_{ahead}')").fetchone()[0]
        assert write_samples(conn, make_samples(10, start=far), partition_days_ahead=12) == 10
        assert conn.execute("SELECT to_regclass('perf.samples_20310203')").fetchone()[0]
        assert conn.execute(f"SELECT to_regclass('perf.samples_{ahead}')").fetchone()[0]


class KillDuringCopy(Sequence[Sample]):
    """Samples that, while the writer is mid-COPY, have its backend terminated (once)."""

    def __init__(self, samples: list[Sample], kill_at: int, admin_url: str) -> None:
        self.samples = samples
        self.kill_at = kill_at
        self.admin_url = admin_url
        self.killed = 0

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index):  # type: ignore[override]
        return self.samples[index]

    def __iter__(self) -> Iterator[Sample]:
        for index, sample in enumerate(self.samples):
            if index == self.kill_at and not self.killed:
                self.killed = self._terminate_copying_backend()
            yield sample

    def _terminate_copying_backend(self) -> int:
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            return conn.execute(
                "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                "AND query LIKE 'COPY perf.samples%%' AND state = 'active'"
            ).fetchone()[0]


def test_connection_killed_mid_copy_is_retried_without_loss_or_duplicates(
    migrated_database_url: str,
) -> None:
    samples = KillDuringCopy(make_samples(60_000), kill_at=40_000, admin_url=migrated_database_url)
    stored = store_samples(get_pool(migrated_database_url), samples, delays=(0.1, 0.5, 1))
    assert samples.killed == 1, "the writer's backend was never terminated mid-COPY"
    assert stored == 60_000
    assert sample_counts(migrated_database_url) == (60_000, 60_000)


def test_concurrent_writers_of_one_window_store_it_once(migrated_database_url: str) -> None:
    samples = make_samples(20_000)
    pool = get_pool(migrated_database_url)
    results: list[int] = []
    threads = [
        threading.Thread(target=lambda: results.append(store_samples(pool, samples)))
        for _ in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(results) == 20_000
    assert sample_counts(migrated_database_url) == (20_000, 20_000)


def _add_wedding(conn: psycopg.Connection, wedding_id: str, starts_at: datetime) -> None:
    conn.execute(
        "INSERT INTO perf.weddings (wedding_id, source, starts_at, ends_at, timezone, venue, "
        "guest_count, status) VALUES (%s, 'test', %s, %s, 'UTC', NULL, 100, 'confirmed')",
        (wedding_id, starts_at, starts_at + timedelta(hours=6)),
    )


def test_rollups_attribute_by_label_and_by_day_window(migrated_database_url: str) -> None:
    minute = T0
    own = [
        Sample(
            minute + timedelta(seconds=i * 0.5),
            "prometheus",
            LATENCY,
            "guest_list",
            f"s{i}",
            "w1",
            "label",
            float(i),
        )
        for i in range(1, 101)
    ]
    platform = [
        Sample(
            minute + timedelta(seconds=1),
            "probe",
            LATENCY,
            "photo_upload",
            "upload",
            None,
            "window",
            0.25,
        )
    ]
    with psycopg.connect(migrated_database_url) as conn:
        _add_wedding(conn, "w1", minute + timedelta(hours=1))  # window opens 3 h before
        _add_wedding(conn, "w2", minute - timedelta(hours=10))  # long over
        _add_wedding(conn, "w3", minute + timedelta(hours=2))
        conn.commit()
        write_samples(conn, own + platform)
        rollup_minutes(
            conn,
            minute,
            minute + timedelta(minutes=1),
            before=timedelta(hours=3),
            after=timedelta(0),
        )
        rows = {
            (r[0], r[1]): r[2:]
            for r in conn.execute(
                "SELECT operation, wedding_id, events, bucket_le, bucket_events "
                "FROM perf.rollups_minute"
            )
        }
        # Rolling up again replaces, never adds.
        rollup_minutes(
            conn,
            minute,
            minute + timedelta(minutes=1),
            before=timedelta(hours=3),
            after=timedelta(0),
        )
        again = conn.execute("SELECT count(*), sum(events) FROM perf.rollups_minute").fetchone()
        merged = merged_histogram(
            conn,
            operation="guest_list",
            client="all",
            wedding_id="w1",
            start=minute,
            end=minute + timedelta(minutes=1),
        )

    events, bounds, counts = rows[("guest_list", "w1")]
    assert events == 100
    assert bounds[-1] == math.inf and counts[-1] == 100
    # Cumulative: 1..100 s, so 10 events <= 10 s, 30 <= 30 s, 60 <= 60 s.
    assert counts[bounds.index(10.0)] == 10 and counts[bounds.index(60.0)] == 60
    # Quantiles come from the merged histogram, within one bucket of the raw values' own.
    values = [float(i) for i in range(1, 101)]
    for q in (0.5, 0.95, 0.99):
        estimate = merged.quantile(q)
        assert abs(estimate - np.quantile(values, q)) <= merged.bucket_width_at(estimate)
    assert rows[("photo_upload", "w1")][0] == 1
    assert rows[("photo_upload", "w3")][0] == 1
    assert ("photo_upload", "w2") not in rows
    assert rows[("photo_upload", None)][0] == 1
    assert rows[("guest_list", None)][0] == 100
    assert again == (len(rows), sum(r[0] for r in rows.values()))
