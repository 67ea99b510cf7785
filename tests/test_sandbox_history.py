"""The demo's days on the sandbox: live ceremonies in the afternoon local time, weddings that
have happened moved onto a past day with all their rows, and that day's modelled requests
stored and rolled up by wedperf's store code."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import psycopg
import pytest
from conftest import store_weddings

from wedperf.calendar import AppDbCalendarSource, sync_calendar
from wedperf.calendar.model import Wedding
from wedperf.config import Settings
from wedperf.critical_path.round import run_round
from wedperf.metrics.histogram import ROLLUP_BOUNDS
from wedperf.metrics.model import LATENCY_BUCKET
from wedperf.metrics.store import rollup_minutes, write_samples
from wedperf.sandbox.day_events import TIMELINE
from wedperf.sandbox.history import SOURCE, modelled_samples, request_shares, round_instants
from wedperf.sandbox.live import (
    AFTERNOON,
    bring_weddings_live,
    bring_weddings_to_day,
    item_timings,
    start_due_items,
)
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
        store_weddings(conn, weddings)
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


def _items(conn, ids) -> dict[int, tuple]:
    rows = conn.execute(
        "SELECT id, wedding_id, item, scheduled_at, started_at, completed_at "
        "FROM app.timeline_items WHERE wedding_id = ANY(%s) ORDER BY id",
        (ids,),
    ).fetchall()
    return {r[0]: r[1:] for r in rows}


def test_live_weddings_start_their_items_as_they_come_due(seeded: str) -> None:
    """The items due by `now` started at their own times (the morning happened), each a few
    minutes off its schedule, completed only once their duration ran; nothing after `now`."""
    with psycopg.connect(seeded) as conn:
        ids = bring_weddings_live(conn, count=4, now=NOW, seed=2)
        items = _items(conn, ids)
    assert len(items) == 4 * 9
    started = [(i, s, at, c) for _, i, s, at, c in items.values() if at is not None]
    # Every wedding's getting ready (ceremony - 4 h) and the first ones' first looks are due.
    assert {i for i, *_ in started} >= {"getting ready"}
    assert sum(1 for i, *_ in started if i == "getting ready") == 4
    for wedding_id, item, scheduled, at, completed in items.values():
        if scheduled + timedelta(minutes=60) <= NOW:  # well past due: started by now
            assert at is not None, (wedding_id, item)
        if at is None:
            assert completed is None and scheduled > NOW - timedelta(minutes=60)
            continue
        assert scheduled - timedelta(minutes=1) <= at <= NOW
        assert at - scheduled < timedelta(minutes=30)  # this seed has no late morning
        assert completed is None or at < completed <= NOW
    # Their own times, not "now": the getting-ready items started hours ago, apart.
    ready = sorted(at for i, _, at, _ in started if i == "getting ready")
    assert ready[-1] < NOW - timedelta(hours=2) and len(set(ready)) == 4


def test_starting_due_items_again_never_unstarts_or_restarts_them(seeded: str) -> None:
    with psycopg.connect(seeded) as conn:
        ids = bring_weddings_live(conn, count=4, now=NOW, seed=2)
        first = _items(conn, ids)
        assert start_due_items(conn, ids, now=NOW, seed=2) == 0  # nothing new at `now`
        assert _items(conn, ids) == first
        # A coordinator marked one of the items due later by hand: it keeps their time.
        hand = next(i for i, (_, item, *_rest) in first.items() if item == "ceremony")
        marked = first[hand][2] + timedelta(minutes=2)
        conn.execute("UPDATE app.timeline_items SET started_at = %s WHERE id = %s", (marked, hand))
        later = NOW + timedelta(hours=3)
        changed = start_due_items(conn, ids, now=later, seed=2)
        after = _items(conn, ids)
        assert start_due_items(conn, ids, now=later, seed=2) == 0
    assert changed > 0 and after[hand][3] == marked
    for item_id, (wedding_id, item, scheduled, at, completed) in after.items():
        was = first[item_id]
        if was[3] is not None:
            assert at == was[3]  # started once, at the same time
        if was[4] is not None:
            assert completed == was[4]
        if at is not None and item_id != hand:
            assert scheduled - timedelta(minutes=1) <= at <= later
            # Started at its own time, not at the later call's `now`.
            assert at - scheduled < timedelta(minutes=60), (wedding_id, item)
        if scheduled <= later - timedelta(minutes=60):
            assert at is not None


def test_the_watch_rounds_of_the_morning_see_a_day_on_time(seeded: str) -> None:
    """The critical path's timeline_drift, reading started_at through the contract views,
    over every 5-minute round from the first day window opening to `now`: no breach, and a
    value that is each item's own few minutes, not the hours since the first item was due."""
    with psycopg.connect(seeded) as conn:
        ids = bring_weddings_live(conn, count=4, now=NOW, seed=2)
        sync_calendar(conn, AppDbCalendarSource(seeded), now=NOW)
        weddings = [
            Wedding(*r)
            for r in conn.execute(
                "SELECT wedding_id, starts_at, ends_at, timezone, venue, guest_count, status "
                "FROM perf.weddings WHERE wedding_id = ANY(%s) ORDER BY starts_at",
                ([str(i) for i in ids],),
            ).fetchall()
        ]
        at = min(w.starts_at for w in weddings) - timedelta(hours=3)
        values = []
        while at <= NOW:
            round_ = run_round(conn, conn, weddings, at, Settings(), record=False)
            drift = round_.results[round_.results["check_name"] == "timeline_drift"]
            assert set(drift["status"]) <= {"ok", "warn"}, drift.to_dict("records")
            values += [v for v in drift["value"].tolist() if v == v]
            at += timedelta(minutes=5)
    assert values and max(values) < 30 and sorted(values)[len(values) // 2] < 10


def test_item_delays_are_mostly_small_and_the_ceremony_is_late_as_the_load_model_has_it() -> None:
    items = [item for item, _, _ in TIMELINE]
    timings = [item_timings(2, wedding_id, items) for wedding_id in range(1, 2001)]
    ceremony = np.array([t[items.index("ceremony")][0].total_seconds() / 60 for t in timings])
    others = np.array(
        [d.total_seconds() / 60 for t in timings for i, (d, _) in enumerate(t) if i != 2]
    )
    assert abs(ceremony.mean() - 10) < 0.5  # gamma(2, 5), demand.day_rates_v2's
    assert 0.15 < (ceremony >= 15).mean() < 0.25 and (ceremony >= 30).mean() < 0.03
    assert abs(others.mean() - 3) < 0.2 and (others >= 15).mean() < 0.01 and others.min() >= -1
    assert item_timings(2, 7, items) == item_timings(2, 7, items) != item_timings(3, 7, items)
    durations = [d.total_seconds() / 60 for t in timings for _, d in t]
    assert min(durations) >= 0.85 * 6 and max(durations) <= 1.25 * 180
