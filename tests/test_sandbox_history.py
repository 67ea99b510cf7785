"""The demo's days on the sandbox: live ceremonies in the afternoon local time, weddings that
have happened moved onto a past day with all their rows, and that day's modelled requests
stored and rolled up by wedperf's store code."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import psycopg
import pytest

from wedperf.calendar.model import Wedding
from wedperf.metrics.histogram import ROLLUP_BOUNDS
from wedperf.metrics.model import LATENCY_BUCKET
from wedperf.metrics.store import rollup_minutes, write_samples
from wedperf.sandbox.history import SOURCE, modelled_samples, request_shares, round_instants
from wedperf.sandbox.live import AFTERNOON, bring_weddings_live, bring_weddings_to_day
from wedperf.sandbox.seed import seed_sandbox

NOW = datetime(2030, 6, 14, 18, 40, tzinfo=UTC)


@pytest.fixture
def seeded(migrated_database_url: str) -> str:
    with psycopg.connect(migrated_database_url) as conn:
        seed_sandbox(conn, weddings=120, days=40, seed=5, start=date(2030, 5, 25), now=NOW)
    return migrated_database_url


def _local(conn, ids) -> dict[int, tuple[datetime, str]]:
    rows = conn.execute(
        "SELECT id, ceremony_at, timezone FROM app.weddings WHERE id = ANY(%s)", (ids,)
    ).fetchall()
    return {i: (at.astimezone(ZoneInfo(zone)), zone) for i, at, zone in rows}


@pytest.mark.parametrize("hour", [18, 9, 3])
def test_live_ceremonies_are_in_the_afternoon_local_time(seeded: str, hour: int) -> None:
    # 18:40 UTC: afternoon in the Americas; 09:40: in none of the sandbox's zones (a venue
    # further east is chosen); 03:40: in Sydney.
    now = NOW.replace(hour=hour)
    with psycopg.connect(seeded) as conn:
        ids = bring_weddings_live(conn, count=3, now=now, seed=2)
        local = _local(conn, ids)
    assert len(ids) == 3
    for at, _zone in local.values():
        assert AFTERNOON[0] <= at.time() < AFTERNOON[1], at
        assert now + timedelta(minutes=59) <= at.astimezone(UTC) <= now + timedelta(hours=2)


def test_weddings_that_happened_move_onto_the_day_with_their_rows(seeded: str) -> None:
    day = date(2030, 6, 13)
    with psycopg.connect(seeded) as conn:
        before = dict(
            conn.execute(
                "SELECT w.id, (SELECT count(*) FROM app.guest_checkins c "
                "WHERE c.wedding_id = w.id) "
                "FROM app.weddings w"
            ).fetchall()
        )
        old = {
            i: (at, reception)
            for i, at, reception in conn.execute(
                "SELECT id, ceremony_at, reception_ends_at FROM app.weddings"
            ).fetchall()
        }
        ids = bring_weddings_to_day(
            conn, count=3, day=day, now=NOW, zones=["America/New_York", "America/Chicago"]
        )
        local = _local(conn, ids)
        moved = conn.execute(
            "SELECT w.id, w.reception_ends_at, count(c.*), "
            "       min(c.checked_in_at - w.ceremony_at), max(c.checked_in_at - w.ceremony_at) "
            "FROM app.weddings w LEFT JOIN app.guest_checkins c ON c.wedding_id = w.id "
            "WHERE w.id = ANY(%s) GROUP BY w.id, w.reception_ends_at",
            (ids,),
        ).fetchall()
    assert len(ids) == 3
    for wedding_id, (at, zone) in local.items():
        assert at.date() == day and zone in ("America/New_York", "America/Chicago")
        assert AFTERNOON[0] <= at.time() < AFTERNOON[1]
        was = old[wedding_id][0].astimezone(ZoneInfo(zone))
        assert at.time() == was.time()  # same local ceremony time, another day
    for wedding_id, ends, checkins, first, last in moved:
        assert ends < NOW
        assert checkins == before[wedding_id] > 0  # every check-in moved with the wedding
        assert timedelta(minutes=-61) <= first and last <= timedelta(minutes=6)


def _wedding(wedding_id: str, ceremony: datetime, guests: int = 150) -> Wedding:
    return Wedding(
        wedding_id=wedding_id,
        starts_at=ceremony,
        ends_at=ceremony + timedelta(hours=6),
        timezone="America/New_York",
        venue=None,
        guest_count=guests,
        status="completed",
    )


def test_modelled_requests_are_histograms_that_roll_up_to_the_same_events(
    migrated_database_url: str,
) -> None:
    day = datetime(2030, 6, 13, 4, 0, tzinfo=UTC)
    weddings = [
        _wedding("w1", datetime.combine(day.date(), time(20, 0), UTC)),
        _wedding("w2", datetime.combine(day.date(), time(21, 30), UTC), guests=90),
    ]
    end = day + timedelta(days=1)
    span = modelled_samples(weddings, day, end, replicas=2, seed=4)
    again = modelled_samples(weddings, day, end, replicas=2, seed=4)
    assert span.samples == again.samples and span.requests > 1000
    assert {s.metric for s in span.samples} == {LATENCY_BUCKET}
    assert {s.wedding_id for s in span.samples} == {"w1", "w2"}
    assert {s.operation for s in span.samples} == set(request_shares())
    assert all(s.source == SOURCE and s.le in ROLLUP_BOUNDS for s in span.samples)
    # Nothing outside a wedding's day window (3 h before the ceremony to the end).
    for w in weddings:
        mine = [s.ts for s in span.samples if s.wedding_id == w.wedding_id]
        assert min(mine) >= w.starts_at - timedelta(hours=3) and max(mine) < w.ends_at

    with psycopg.connect(migrated_database_url) as conn:
        for w in weddings:
            conn.execute(
                "INSERT INTO perf.weddings (wedding_id, source, starts_at, ends_at, timezone,"
                " guest_count, status) VALUES (%s, 'test', %s, %s, %s, %s, %s)",
                (w.wedding_id, w.starts_at, w.ends_at, w.timezone, w.guest_count, w.status),
            )
        conn.commit()
        assert write_samples(conn, span.samples) == len(span.samples)
        rollup_minutes(conn, day, end, before=timedelta(hours=3), after=timedelta(0))
        events = conn.execute(
            "SELECT sum(events) FROM perf.rollups_minute "
            "WHERE wedding_id IS NOT NULL AND client = 'all'"
        ).fetchone()[0]
        slow = conn.execute(
            "SELECT sum(events - bucket_events[array_position(bucket_le, 1.0::float8)]) "
            "FROM perf.rollups_minute WHERE wedding_id IS NOT NULL AND client = 'all'"
        ).fetchone()[0]
    assert events == span.requests
    assert 0 <= slow < 0.05 * span.requests  # most requests within 1 s at 2 replicas


def test_round_instants_are_the_watch_grid() -> None:
    start = datetime(2030, 6, 13, 4, 2, tzinfo=UTC)
    instants = round_instants(start, start + timedelta(minutes=20), timedelta(minutes=5))
    assert [t.minute for t in instants] == [5, 10, 15, 20]
