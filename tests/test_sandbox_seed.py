"""The sandbox seed: deterministic, calibrated, DST-correct, and exposing only the contract."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta

import numpy as np
import psycopg
import pytest
import redis
from psycopg import sql
from typer.testing import CliRunner

from cli.sandbox import app as sandbox_cli
from wedperf.config import reset_settings_cache
from wedperf.sandbox.seed import LOAD_ORDER, SeedSummary, seed_sandbox
from wedperf.sandbox.wedding_dates import date_weights, draw_dates, dst_change_days

CONTRACT = {
    "weddings": [
        "wedding_id",
        "starts_at",
        "ends_at",
        "timezone",
        "venue",
        "guest_count",
        "status",
    ],
    "guest_checkins": ["wedding_id", "guest_id", "checked_in_at"],
    "timeline_items": ["wedding_id", "item", "scheduled_at", "started_at", "completed_at"],
    "vendor_notifications": [
        "wedding_id",
        "vendor_id",
        "sent_at",
        "delivered_at",
        "acknowledged_at",
    ],
    "incidents": ["wedding_id", "severity", "opened_at", "first_response_at", "resolved_at"],
    "guest_list": ["wedding_id", "guest_id", "rsvp", "table_no"],
    "vendors": ["wedding_id", "vendor_id", "kind"],
    "seating": ["wedding_id", "table_no", "seats"],
    "guest_engagement": ["wedding_id", "rsvp", "app_installed_at", "guest_list_opened_at"],
}


def _seed(url: str, **kwargs: object) -> SeedSummary:
    with psycopg.connect(url) as conn:
        return seed_sandbox(conn, **kwargs)  # type: ignore[arg-type]


def _fingerprints(url: str) -> dict[str, str]:
    """md5 of every app table's rows in a stable order."""
    out = {}
    with psycopg.connect(url) as conn:
        for table in LOAD_ORDER:
            query = sql.SQL(
                "SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM {} AS t"
            ).format(sql.Identifier("app", table))
            out[table] = conn.execute(query).fetchone()[0]
    return out


def _scalar(conn: psycopg.Connection, query: str, params: tuple = ()) -> object:
    return conn.execute(query, params).fetchone()[0]


def test_same_seed_gives_identical_rows_and_reseeding_is_clean(empty_database_url: str) -> None:
    args = {"weddings": 80, "days": 90, "start": date(2026, 8, 1)}
    now = datetime(2026, 9, 15, 12, tzinfo=UTC)
    first = _seed(empty_database_url, seed=7, now=now, **args)
    first_rows = _fingerprints(empty_database_url)
    again = _seed(empty_database_url, seed=7, now=now, **args)
    assert again == first  # counts, date range, statuses (elapsed time is not compared)
    assert _fingerprints(empty_database_url) == first_rows
    with psycopg.connect(empty_database_url) as conn:
        # Reseeding replaced the data instead of adding to it.
        for table, count in first.counts.items():
            query = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier("app", table))
            assert conn.execute(query).fetchone()[0] == count
        # The app's own inserts get ids after the seeded ones.
        next_id = _scalar(
            conn,
            "INSERT INTO app.photos (wedding_id, bytes, uploaded_at) "
            "VALUES (1, 10, now()) RETURNING id",
        )
        assert next_id == first.counts["photos"] + 1
    _seed(empty_database_url, seed=8, now=now, **args)
    other = _fingerprints(empty_database_url)
    assert other["weddings"] != first_rows["weddings"]
    assert other["guests"] != first_rows["guests"]


def test_a_year_of_weddings_follows_the_published_calendar(empty_database_url: str) -> None:
    began = time.perf_counter()
    summary = _seed(
        empty_database_url,
        weddings=2000,
        days=365,
        seed=42,
        start=date(2026, 1, 1),
        now=datetime(2026, 7, 1, tzinfo=UTC),
    )
    print(f"seeded 2000 weddings / 365 days in {time.perf_counter() - began:.2f} s")
    assert summary.counts["weddings"] == 2000
    with psycopg.connect(empty_database_url) as conn:
        rows = conn.execute(
            "SELECT extract(month FROM starts_at AT TIME ZONE timezone)::int, "
            "extract(isodow FROM starts_at AT TIME ZONE timezone)::int, "
            "guest_count, ends_at - starts_at, timezone, status "
            "FROM wedperf_src.weddings"
        ).fetchall()
        vendors = _scalar(conn, "SELECT count(*) FROM wedperf_src.vendors")
        guests = _scalar(conn, "SELECT count(*) FROM wedperf_src.guest_list")
    n = len(rows)

    def share(predicate: object) -> float:
        return sum(1 for r in rows if predicate(r)) / n  # type: ignore[operator]

    # docs/sandbox.md, "When weddings happen": the sandbox's month and weekday shares.
    assert 0.45 <= share(lambda r: r[0] in (9, 10, 11)) <= 0.55
    assert 0.18 <= share(lambda r: r[0] == 10) <= 0.20
    assert 0.03 <= share(lambda r: r[0] == 1) <= 0.04
    assert 0.03 <= share(lambda r: r[0] == 2) <= 0.04
    assert 0.65 <= share(lambda r: r[1] == 6) <= 0.70
    assert 0.11 <= share(lambda r: r[1] == 5) <= 0.15
    assert 0.11 <= share(lambda r: r[1] == 7) <= 0.15
    # Size: lognormal guest counts with mean ~115, ~14 vendors per wedding.
    mean_guests = sum(r[2] for r in rows) / n
    assert 105 <= mean_guests <= 125
    assert min(r[2] for r in rows) >= 2
    assert guests == sum(r[2] for r in rows)
    assert 13 <= vendors / n <= 15
    # Reception ends 5.5-6.5 h after the ceremony starts.
    assert all(timedelta(hours=5.5) <= r[3] <= timedelta(hours=6.5) for r in rows)
    assert len({r[4] for r in rows}) >= 5
    assert 0.01 <= share(lambda r: r[5] == "cancelled") <= 0.035
    # One wedding per DST change day per zone: 4 US zones x 2, London x 2, Sydney x 2.
    assert summary.dst_day_weddings == 12


def test_dst_change_days_are_found_per_zone() -> None:
    year = (date(2026, 1, 1), 365)
    assert dst_change_days("America/New_York", *year) == [date(2026, 3, 8), date(2026, 11, 1)]
    assert dst_change_days("Europe/London", *year) == [date(2026, 3, 29), date(2026, 10, 25)]
    assert dst_change_days("Australia/Sydney", *year) == [date(2026, 4, 5), date(2026, 10, 4)]
    assert dst_change_days("America/Phoenix", *year) == []


# 16:00 local on each zone's DST change days of 2026, and the UTC instant it must be.
DST_CASES = [
    # Spring forward: 16:00 EDT (UTC-4); fall back: 16:00 EST (UTC-5).
    ("America/New_York", date(2026, 3, 8), datetime(2026, 3, 8, 20, tzinfo=UTC)),
    ("America/New_York", date(2026, 11, 1), datetime(2026, 11, 1, 21, tzinfo=UTC)),
    ("America/Los_Angeles", date(2026, 11, 1), datetime(2026, 11, 2, 0, tzinfo=UTC)),
    ("Europe/London", date(2026, 3, 29), datetime(2026, 3, 29, 15, tzinfo=UTC)),
    ("Australia/Sydney", date(2026, 4, 5), datetime(2026, 4, 5, 6, tzinfo=UTC)),
    ("Australia/Sydney", date(2026, 10, 4), datetime(2026, 10, 4, 5, tzinfo=UTC)),
]


def test_dst_day_ceremonies_land_on_the_right_utc_instant(empty_database_url: str) -> None:
    # 30 weddings over 2026: the 12 DST-day weddings count within them.
    _seed(
        empty_database_url,
        weddings=30,
        days=365,
        seed=3,
        start=date(2026, 1, 1),
        now=datetime(2026, 6, 1, tzinfo=UTC),
    )
    with psycopg.connect(empty_database_url) as conn:
        for zone, local_day, expected_utc in DST_CASES:
            starts = [
                row[0]
                for row in conn.execute(
                    "SELECT starts_at FROM wedperf_src.weddings "
                    "WHERE timezone = %s AND (starts_at AT TIME ZONE timezone)::date = %s "
                    "AND (starts_at AT TIME ZONE timezone)::time = '16:00'",
                    (zone, local_day),
                )
            ]
            assert expected_utc in starts, (zone, local_day, starts)
        assert _scalar(conn, "SELECT count(*) FROM wedperf_src.weddings") == 30


def test_past_weddings_are_complete_and_upcoming_ones_untouched(empty_database_url: str) -> None:
    now = datetime(2026, 10, 1, tzinfo=UTC)
    _seed(empty_database_url, weddings=150, days=120, seed=5, start=date(2026, 8, 15), now=now)
    with psycopg.connect(empty_database_url) as conn:
        weddings = conn.execute(
            "SELECT w.wedding_id, w.starts_at, w.ends_at, w.guest_count, w.status, "
            " (SELECT count(*) FROM wedperf_src.guest_checkins c "
            "   WHERE c.wedding_id = w.wedding_id),"
            " (SELECT count(*) FROM wedperf_src.timeline_items t "
            "   WHERE t.wedding_id = w.wedding_id AND t.completed_at IS NOT NULL),"
            " (SELECT count(*) FROM wedperf_src.timeline_items t "
            "   WHERE t.wedding_id = w.wedding_id AND t.started_at IS NOT NULL),"
            " (SELECT count(*) FROM wedperf_src.vendor_notifications n "
            "   WHERE n.wedding_id = w.wedding_id) "
            "FROM wedperf_src.weddings w"
        ).fetchall()
        outside_hour = _scalar(
            conn,
            "SELECT count(*) FROM wedperf_src.guest_checkins c "
            "JOIN wedperf_src.weddings w USING (wedding_id) "
            "WHERE c.checked_in_at NOT BETWEEN w.starts_at - interval '60 minutes' "
            "AND w.starts_at + interval '5 minutes'",
        )
        bad_delivery = _scalar(
            conn,
            "SELECT count(*) FROM wedperf_src.vendor_notifications "
            "WHERE delivered_at < sent_at OR acknowledged_at < delivered_at",
        )
        latest = conn.execute(
            "SELECT greatest(max(checked_in_at), (SELECT max(greatest(started_at, completed_at)) "
            "FROM wedperf_src.timeline_items), (SELECT max(greatest(sent_at, delivered_at, "
            "acknowledged_at)) FROM wedperf_src.vendor_notifications), (SELECT max(greatest("
            "opened_at, first_response_at, resolved_at)) FROM wedperf_src.incidents)) "
            "FROM wedperf_src.guest_checkins"
        ).fetchone()[0]
    completed = [w for w in weddings if w[4] == "completed"]
    upcoming = [w for w in weddings if w[1] > now + timedelta(days=1)]
    assert completed and upcoming
    for _id, _starts, ends, guest_count, _status, checkins, done, _started, notes in completed:
        assert ends <= now
        assert 0.85 <= checkins / guest_count <= 0.96
        assert done == 9  # every timeline item completed
        assert notes > 0
    for _id, _starts, _ends, _guests, status, checkins, _done, started, notes in upcoming:
        assert status in ("scheduled", "confirmed", "cancelled")
        assert (checkins, started, notes) == (0, 0, 0)
    # Non-cancelled weddings are completed exactly when their reception has ended.
    for w in weddings:
        if w[4] != "cancelled":
            assert (w[4] == "completed") == (w[2] <= now)
    assert outside_hour == 0  # check-ins cluster in the hour before the ceremony
    assert bad_delivery == 0
    assert latest <= now  # the seed is a snapshot at `now`: nothing from the future


def test_views_expose_exactly_the_contract_and_no_personal_data(empty_database_url: str) -> None:
    now = datetime(2026, 9, 1, tzinfo=UTC)
    # Reseeding drops schema app and with it the previous views, so check each right away.
    for schema in ("custom_src", "wedperf_src"):
        _seed(
            empty_database_url,
            weddings=10,
            days=20,
            seed=1,
            start=date(2026, 8, 20),
            now=now,
            schema=schema,
        )
        with psycopg.connect(empty_database_url) as conn:
            columns: dict[str, list[str]] = {}
            for view, column, data_type in conn.execute(
                "SELECT table_name, column_name, data_type FROM information_schema.columns "
                "WHERE table_schema = %s ORDER BY table_name, ordinal_position",
                (schema,),
            ):
                columns.setdefault(view, []).append(column)
                assert "name" not in column and "email" not in column
                if column.endswith("_at"):
                    assert data_type == "timestamp with time zone", (view, column)
            assert columns == CONTRACT
    with psycopg.connect(empty_database_url) as conn:
        # Views pass rows through unfiltered.
        assert _scalar(conn, "SELECT count(*) FROM wedperf_src.guest_list") == _scalar(
            conn, "SELECT count(*) FROM app.guests"
        )


def test_short_ranges_renormalise_the_calendar_weights() -> None:
    weights = date_weights(date(2026, 10, 1), 14)
    assert len(weights) == 14 and abs(weights.sum() - 1) < 1e-9
    # Saturdays (Oct 3 and 10) carry most of the weight of any two weeks.
    assert weights[2] + weights[9] > 0.6
    dates = draw_dates(np.random.default_rng(0), date(2026, 10, 1), 14, 100)
    assert all(date(2026, 10, 1) <= d < date(2026, 10, 15) for d in dates)


def test_cli_seed_fills_the_app_database_and_clears_the_cache(
    empty_database_url: str, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WEDPERF_DATABASE_URL", empty_database_url)
    monkeypatch.setenv("WEDPERF_REDIS_URL", redis_url)
    monkeypatch.delenv("WEDPERF_APP_DATABASE_URL", raising=False)
    monkeypatch.delenv("WEDPERF_SOURCE_SCHEMA", raising=False)
    stale = redis.Redis.from_url(redis_url)
    stale.set("sandbox:wedding:1:guests", b"{}")
    reset_settings_cache()
    try:
        result = CliRunner().invoke(
            sandbox_cli,
            ["seed", "--weddings", "20", "--days", "30", "--seed", "5", "--start", "2026-05-01"]
            + ["--now", "2026-05-15T00:00:00Z"],
        )
    finally:
        reset_settings_cache()
    assert result.exit_code == 0, result.output
    assert "app.guests" in result.output
    assert stale.exists("sandbox:wedding:1:guests") == 0
    stale.close()
    with psycopg.connect(empty_database_url) as conn:
        assert _scalar(conn, "SELECT count(*) FROM wedperf_src.weddings") == 20
