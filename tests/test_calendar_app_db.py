"""The app-DB contract view -> perf.weddings, on a full year of sandbox weddings."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import psycopg
import pytest

from wedperf.calendar import AppDbCalendarSource, CalendarSourceError, sync_calendar
from wedperf.sandbox.seed import seed_sandbox

NOW = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)
# Daylight-saving change days of 2026 in the sandbox's zones (US: 8 Mar / 1 Nov; EU: 29 Mar /
# 25 Oct; Sydney: 5 Apr / 4 Oct).
DST_DAYS = {
    "America/New_York": [date(2026, 3, 8), date(2026, 11, 1)],
    "America/Los_Angeles": [date(2026, 3, 8), date(2026, 11, 1)],
    "Europe/London": [date(2026, 3, 29), date(2026, 10, 25)],
    "Australia/Sydney": [date(2026, 4, 5), date(2026, 10, 4)],
}


@pytest.fixture(scope="module")
def year_of_weddings(make_database) -> str:
    url = make_database()
    with psycopg.connect(url) as conn:
        seed_sandbox(conn, weddings=2000, days=365, seed=2026, start=date(2026, 1, 1), now=NOW)
        report = sync_calendar(conn, AppDbCalendarSource(url), now=NOW)
    assert report.rejected == []
    return url


def test_counts_match_the_app_tables(year_of_weddings: str) -> None:
    with psycopg.connect(year_of_weddings) as conn:
        app = dict(conn.execute("SELECT status, count(*) FROM app.weddings GROUP BY 1").fetchall())
        perf = dict(
            conn.execute("SELECT status, count(*) FROM perf.weddings GROUP BY 1").fetchall()
        )
        guests_app = conn.execute("SELECT sum(guest_count) FROM app.weddings").fetchone()[0]
        guests_perf = conn.execute("SELECT sum(guest_count) FROM perf.weddings").fetchone()[0]
        mismatched = conn.execute(
            "SELECT count(*) FROM app.weddings a JOIN perf.weddings p "
            "ON p.wedding_id = a.id::text WHERE (p.starts_at, p.ends_at, p.timezone) "
            "IS DISTINCT FROM (a.ceremony_at, a.reception_ends_at, a.timezone)"
        ).fetchone()[0]
    assert sum(app.values()) == 2000
    assert perf == app
    assert guests_perf == guests_app
    assert mismatched == 0


def test_ceremonies_on_daylight_saving_days_land_at_the_right_instant(
    year_of_weddings: str,
) -> None:
    checked = 0
    with psycopg.connect(year_of_weddings) as conn:
        for zone, days in DST_DAYS.items():
            for day in days:
                rows = conn.execute(
                    "SELECT wedding_id, starts_at FROM perf.weddings WHERE timezone = %s "
                    "AND (starts_at AT TIME ZONE timezone)::date = %s "
                    "AND (starts_at AT TIME ZONE timezone)::time = '16:00'",
                    (zone, day),
                ).fetchall()
                expected = datetime(day.year, day.month, day.day, 16, tzinfo=ZoneInfo(zone))
                for _, starts_at in rows:
                    assert starts_at == expected.astimezone(UTC)
                    checked += 1
        # Spot-check the offsets themselves, independent of zoneinfo arithmetic above.
        ny_autumn = conn.execute(
            "SELECT starts_at FROM perf.weddings WHERE timezone = 'America/New_York' "
            "AND (starts_at AT TIME ZONE timezone) = '2026-11-01 16:00'"
        ).fetchall()
    assert checked >= len(DST_DAYS) * 2, "the seed places a wedding on every DST change day"
    assert ny_autumn and all(r[0] == datetime(2026, 11, 1, 21, 0, tzinfo=UTC) for r in ny_autumn)


def test_bad_app_rows_are_reported_and_skipped(migrated_database_url: str) -> None:
    with psycopg.connect(migrated_database_url) as conn:
        seed_sandbox(conn, weddings=30, days=30, seed=5, start=date(2026, 6, 1), now=NOW)
        conn.execute("UPDATE app.weddings SET timezone = 'Europe/Atlantis' WHERE id = 1")
        # An app whose status vocabulary is wider than the contract's.
        conn.execute("ALTER TABLE app.weddings DROP CONSTRAINT weddings_status_check")
        conn.execute("UPDATE app.weddings SET status = 'postponed' WHERE id = 2")
        conn.commit()
        report = sync_calendar(conn, AppDbCalendarSource(migrated_database_url), now=NOW)
        rejects = dict(
            conn.execute("SELECT source_key, reason FROM perf.calendar_rejects").fetchall()
        )
        stored = conn.execute("SELECT count(*) FROM perf.weddings").fetchone()[0]
    assert stored == 28 and len(report.inserted) == 28
    assert "unknown timezone 'Europe/Atlantis'" in rejects["1"]
    assert "unknown status 'postponed'" in rejects["2"]

    # Fixing the row in the app clears the reject on the next sync.
    with psycopg.connect(migrated_database_url) as conn:
        conn.execute("UPDATE app.weddings SET timezone = 'Europe/Paris' WHERE id = 1")
        conn.commit()
        again = sync_calendar(conn, AppDbCalendarSource(migrated_database_url), now=NOW)
        left = [r[0] for r in conn.execute("SELECT source_key FROM perf.calendar_rejects")]
    assert again.inserted == ["1"]
    assert left == ["2"]


def test_missing_views_are_a_clear_error(migrated_database_url: str) -> None:
    source = AppDbCalendarSource(migrated_database_url, schema="nowhere")
    with pytest.raises(CalendarSourceError, match="nowhere.weddings does not exist"):
        list(source.read())
