"""iCalendar feed -> perf.weddings on real PostgreSQL, by file and over HTTP."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest

from wedperf.calendar import CalendarSourceError, ICalendarSource, sync_calendar

VTIMEZONE_NY = """BEGIN:VTIMEZONE
TZID:America/New_York
BEGIN:DAYLIGHT
TZOFFSETFROM:-0500
TZOFFSETTO:-0400
DTSTART:20070311T020000
RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=2SU
TZNAME:EDT
END:DAYLIGHT
BEGIN:STANDARD
TZOFFSETFROM:-0400
TZOFFSETTO:-0500
DTSTART:20071104T020000
RRULE:FREQ=YEARLY;BYMONTH=11;BYDAY=1SU
TZNAME:EST
END:STANDARD
END:VTIMEZONE"""


def event(uid: str, *lines: str) -> str:
    return "\n".join(
        ["BEGIN:VEVENT", f"UID:{uid}", "DTSTAMP:20260101T000000Z", *lines, "END:VEVENT"]
    )


def feed(*events: str) -> str:
    body = "\n".join(
        [
            "BEGIN:VCALENDAR",
            "VERSION:2.0",
            "PRODID:-//test//wedperf//EN",
            VTIMEZONE_NY,
            *events,
            "END:VCALENDAR",
        ]
    )
    return body.replace("\n", "\r\n") + "\r\n"


GOOD = [
    # 16:00 local on the day New York falls back (2026-11-01): EST, so 21:00 UTC.
    event(
        "fall-back@test",
        "DTSTART;TZID=America/New_York:20261101T160000",
        "DTEND;TZID=America/New_York:20261101T220000",
        "LOCATION:Hudson Barn",
        "X-WEDPERF-GUEST-COUNT:120",
        "STATUS:CONFIRMED",
    ),
    # 16:00 local on the day New York springs forward (2027-03-14): EDT, so 20:00 UTC.
    event(
        "spring-forward@test",
        "DTSTART;TZID=America/New_York:20270314T160000",
        "DURATION:PT6H",
        "X-WEDPERF-GUEST-COUNT:80",
    ),
    # UTC instant with the venue's zone named explicitly.
    event(
        "sydney@test",
        "DTSTART:20270403T050000Z",
        "DTEND:20270403T110000Z",
        "X-WEDPERF-TIMEZONE:Australia/Sydney",
        "X-WEDPERF-GUEST-COUNT:95",
        "STATUS:TENTATIVE",
    ),
    event(
        "called-off@test",
        "DTSTART;TZID=America/New_York:20270612T170000",
        "DURATION:PT5H",
        "X-WEDPERF-GUEST-COUNT:150",
        "STATUS:CANCELLED",
    ),
]
BAD = {
    "no-guests@test": event(
        "no-guests@test", "DTSTART;TZID=America/New_York:20270612T170000", "DURATION:PT5H"
    ),
    "weekly@test": event(
        "weekly@test",
        "DTSTART;TZID=America/New_York:20270612T170000",
        "DURATION:PT5H",
        "RRULE:FREQ=WEEKLY",
        "X-WEDPERF-GUEST-COUNT:10",
    ),
    "floating@test": event(
        "floating@test", "DTSTART:20270612T170000", "DURATION:PT5H", "X-WEDPERF-GUEST-COUNT:10"
    ),
    "mars@test": event(
        "mars@test",
        "DTSTART:20270612T170000",
        "DURATION:PT5H",
        "X-WEDPERF-TIMEZONE:Mars/Olympus_Mons",
        "X-WEDPERF-GUEST-COUNT:10",
    ),
    "backwards@test": event(
        "backwards@test",
        "DTSTART;TZID=America/New_York:20270612T170000",
        "DTEND;TZID=America/New_York:20270612T120000",
        "X-WEDPERF-GUEST-COUNT:10",
    ),
}


@pytest.fixture
def ics_file(tmp_path: Path) -> Path:
    path = tmp_path / "weddings.ics"
    path.write_text(feed(*GOOD, *BAD.values()))
    return path


def weddings(url: str) -> dict[str, tuple]:
    with psycopg.connect(url) as conn:
        return {
            row[0]: row[1:]
            for row in conn.execute(
                "SELECT wedding_id, starts_at, ends_at, timezone, venue, guest_count, status "
                "FROM perf.weddings"
            )
        }


def test_feed_lands_at_the_right_instants_and_bad_events_are_reported(
    migrated_database_url: str, ics_file: Path
) -> None:
    source = ICalendarSource(str(ics_file))
    with psycopg.connect(migrated_database_url) as conn:
        report = sync_calendar(conn, source, now=datetime(2026, 10, 1, tzinfo=UTC))
        rejects = dict(
            conn.execute("SELECT source_key, reason FROM perf.calendar_rejects").fetchall()
        )

    stored = weddings(migrated_database_url)
    assert set(stored) == {
        "fall-back@test",
        "spring-forward@test",
        "sydney@test",
        "called-off@test",
    }
    assert stored["fall-back@test"][0] == datetime(2026, 11, 1, 21, 0, tzinfo=UTC)
    assert stored["fall-back@test"][2:] == ("America/New_York", "Hudson Barn", 120, "confirmed")
    assert stored["spring-forward@test"][0] == datetime(2027, 3, 14, 20, 0, tzinfo=UTC)
    assert stored["spring-forward@test"][1] == datetime(2027, 3, 15, 2, 0, tzinfo=UTC)
    assert stored["sydney@test"][2] == "Australia/Sydney"
    assert stored["sydney@test"][5] == "scheduled"
    assert stored["called-off@test"][5] == "cancelled"

    assert set(rejects) == set(BAD)
    assert "X-WEDPERF-GUEST-COUNT" in rejects["no-guests@test"]
    assert "recurring" in rejects["weekly@test"]
    assert "floating" in rejects["floating@test"]
    assert "unknown timezone 'Mars/Olympus_Mons'" in rejects["mars@test"]
    assert "not after" in rejects["backwards@test"]
    assert sorted(key for key, _ in report.rejected) == sorted(BAD)
    assert report.seen == len(GOOD) + len(BAD)


def test_resync_is_a_no_op_and_a_vanished_wedding_is_cancelled(
    migrated_database_url: str, ics_file: Path
) -> None:
    now = datetime(2026, 10, 1, tzinfo=UTC)
    with psycopg.connect(migrated_database_url) as conn:
        first = sync_calendar(conn, ICalendarSource(str(ics_file)), now=now)
        before = weddings(migrated_database_url)
        again = sync_calendar(conn, ICalendarSource(str(ics_file)), now=now)
        assert (again.inserted, again.updated, again.cancelled) == ([], [], [])
        assert weddings(migrated_database_url) == before
        assert len(first.inserted) == 4

        # The feed drops one upcoming wedding and moves another by an hour.
        ics_file.write_text(
            feed(GOOD[0].replace("T160000", "T170000").replace("T220000", "T230000"), *GOOD[2:])
        )
        changed = sync_calendar(conn, ICalendarSource(str(ics_file)), now=now)
    assert changed.cancelled == ["spring-forward@test"]
    assert changed.updated == ["fall-back@test"]
    after = weddings(migrated_database_url)
    assert after["spring-forward@test"][5] == "cancelled"
    assert after["fall-back@test"][0] == datetime(2026, 11, 1, 22, 0, tzinfo=UTC)


@pytest.fixture
def served_feed(ics_file: Path) -> Iterator[str]:
    body = ics_file.read_bytes()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/weddings.ics":
                self.send_response(200)
                self.send_header("content-type", "text/calendar")
                self.end_headers()
                self.wfile.write(body)
            else:
                self.send_error(404)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_feed_over_http(migrated_database_url: str, served_feed: str) -> None:
    with psycopg.connect(migrated_database_url) as conn:
        report = sync_calendar(conn, ICalendarSource(f"{served_feed}/weddings.ics"))
    assert len(report.inserted) == 4
    with pytest.raises(CalendarSourceError, match="404"):
        list(ICalendarSource(f"{served_feed}/missing.ics").read())


def test_unreadable_feed_is_an_error_not_an_empty_calendar(tmp_path: Path) -> None:
    with pytest.raises(CalendarSourceError, match="does not exist"):
        list(ICalendarSource(str(tmp_path / "nope.ics")).read())
    garbage = tmp_path / "garbage.ics"
    garbage.write_text("this is not a calendar")
    with pytest.raises(CalendarSourceError, match="not valid iCalendar"):
        list(ICalendarSource(str(garbage)).read())
