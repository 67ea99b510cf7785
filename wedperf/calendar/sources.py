"""Where weddings come from: the app-DB contract view, or an iCalendar feed.

Every source yields `CalendarRow`s: either a valid Wedding or the reason its row was rejected,
so a bad row is reported, never silently dropped.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Protocol
from zoneinfo import ZoneInfo

import httpx
import icalendar
import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from wedperf.calendar.active_guests import GuestSignals
from wedperf.calendar.model import InvalidWedding, Wedding, check_timezone, make_wedding


class CalendarSourceError(RuntimeError):
    """The source as a whole could not be read (unreachable, unparseable)."""


@dataclass(frozen=True)
class CalendarRow:
    source_key: str
    wedding: Wedding | None = None
    reject_reason: str | None = None


class CalendarSource(Protocol):
    name: str

    def read(self) -> Iterator[CalendarRow]:
        """Every wedding the source knows, as a full snapshot."""
        ...


class AppDbCalendarSource:
    """Reads `<schema>.weddings` of the app-DB contract, and `<schema>.guest_engagement`
    (optional) for the active-guest estimate."""

    name = "app_db"

    def __init__(self, conninfo: str, schema: str = "wedperf_src") -> None:
        self.conninfo = conninfo
        self.schema = schema

    def read(self) -> Iterator[CalendarRow]:
        query = sql.SQL(
            "SELECT wedding_id, starts_at, ends_at, timezone, venue, guest_count, status "
            "FROM {}.weddings"
        ).format(sql.Identifier(self.schema))
        try:
            with psycopg.connect(self.conninfo, connect_timeout=10) as conn:
                rows = conn.cursor(row_factory=dict_row).execute(query).fetchall()
        except psycopg.errors.UndefinedTable as exc:
            raise CalendarSourceError(
                f"view {self.schema}.weddings does not exist in the app database; create the "
                "wedperf_src views (see README, 'The app-DB contract') or seed the sandbox"
            ) from exc
        except psycopg.OperationalError as exc:
            raise CalendarSourceError(f"cannot read the app database: {exc}") from exc
        for row in rows:
            key = str(row["wedding_id"])
            try:
                yield CalendarRow(key, wedding=make_wedding(**row))
            except InvalidWedding as exc:
                yield CalendarRow(key, reject_reason=str(exc))

    def guest_signals(
        self, cutoff: timedelta, *, since: datetime, until: datetime
    ) -> dict[str, GuestSignals] | None:
        """Per wedding id with a ceremony in [since, until], its guests' signals known
        `cutoff` before its ceremony (weddings without guest rows are absent; the bound
        keeps the read to the weddings whose estimate can change, not the app's whole guest
        history); None when the app has no guest_engagement view.
        Raises GuestSignalsUnreadable when the view exists but cannot be read as the
        contract says (the sync then sizes by invited guests), CalendarSourceError when the
        database cannot be reached."""
        view = sql.Identifier(self.schema, "guest_engagement")
        query = sql.SQL(_GUEST_SIGNALS).format(
            engagement=view, weddings=sql.Identifier(self.schema, "weddings")
        )
        try:
            with psycopg.connect(self.conninfo, connect_timeout=10) as conn:
                if not guest_engagement_exists(conn, self.schema):
                    return None
                # Seconds, not an interval: an interval's days step in the session's time
                # zone, so across a DST change '2 days' would be 47 or 49 hours.
                params = {"cutoff_s": cutoff.total_seconds(), "since": since, "until": until}
                rows = conn.execute(query, params).fetchall()
        except psycopg.OperationalError as exc:
            raise CalendarSourceError(f"cannot read the app database: {exc}") from exc
        except (psycopg.ProgrammingError, psycopg.DataError) as exc:
            raise GuestSignalsUnreadable(self.schema, exc) from exc
        return {
            str(wedding_id).strip(): GuestSignals(int(not_declined), int(engaged))
            for wedding_id, not_declined, engaged in rows
        }


def guest_engagement_exists(conn: psycopg.Connection, schema: str) -> bool:
    """Whether the app has the optional guest_engagement view, named as the queries name it
    (quoted identifiers, so a schema's case is kept)."""
    name = sql.Identifier(schema, "guest_engagement").as_string(conn)
    return conn.execute("SELECT to_regclass(%s) IS NOT NULL", (name,)).fetchone()[0]


class GuestSignalsUnreadable(CalendarSourceError):
    """The optional guest_engagement view exists but cannot be read as the contract says; the
    message says which way it breaks it."""

    def __init__(self, schema: str, exc: psycopg.Error) -> None:
        view = f"{schema}.guest_engagement"
        errors = psycopg.errors
        if isinstance(exc, errors.UndefinedColumn):
            what = (
                f"view {view} lacks a column of the contract (wedding_id, rsvp, "
                "app_installed_at, guest_list_opened_at)"
            )
        elif isinstance(exc, errors.InsufficientPrivilege):
            what = f"permission denied on view {view}: grant SELECT on it to wedperf's role"
        elif isinstance(
            exc, errors.DatatypeMismatch | errors.UndefinedFunction | psycopg.DataError
        ):
            what = (
                f"view {view} has a column of another type than the contract's "
                "(app_installed_at, guest_list_opened_at timestamptz; rsvp text; wedding_id "
                "as in the weddings view)"
            )
        else:
            what = f"view {view} cannot be read"
        super().__init__(f"{what}: {str(exc).strip()}")


# Per wedding: guests who have not declined, and of those who installed the app or opened
# the guest list at least `cutoff` before the ceremony (later signals are not counted: the
# estimate is what was known then). A NULL rsvp counts as not declined.
_GUEST_SIGNALS = """
WITH cutoffs AS (
    SELECT w.wedding_id, w.starts_at - make_interval(secs => %(cutoff_s)s) AS cutoff_at
    FROM {weddings} AS w
    WHERE w.starts_at >= %(since)s AND w.starts_at <= %(until)s
)
SELECT e.wedding_id,
       count(*) FILTER (WHERE e.rsvp IS DISTINCT FROM 'declined'),
       count(*) FILTER (WHERE e.rsvp IS DISTINCT FROM 'declined'
                          AND (e.app_installed_at < c.cutoff_at
                               OR e.guest_list_opened_at < c.cutoff_at))
FROM {engagement} AS e
JOIN cutoffs AS c ON c.wedding_id = e.wedding_id
GROUP BY e.wedding_id
"""


class ICalendarSource:
    """Reads VEVENTs of an iCalendar feed (a file path or an http(s) URL).

    Mapping: UID -> wedding_id; DTSTART/DTEND (with TZID) -> starts_at/ends_at and timezone;
    LOCATION -> venue; X-WEDPERF-GUEST-COUNT -> guest_count; STATUS (TENTATIVE, CONFIRMED,
    CANCELLED) -> status. A UTC or floating DTSTART needs X-WEDPERF-TIMEZONE to name the
    venue's zone. Recurring events are rejected: weddings are one-off.
    """

    def __init__(self, location: str, *, timeout: float = 20.0) -> None:
        self.location = location
        self.timeout = timeout
        self.name = f"ical:{location}"

    def fetch(self) -> bytes:
        if self.location.startswith(("http://", "https://")):
            try:
                response = httpx.get(self.location, timeout=self.timeout, follow_redirects=True)
                response.raise_for_status()
            except httpx.HTTPError as exc:
                raise CalendarSourceError(f"cannot fetch {self.location}: {exc}") from exc
            return response.content
        path = Path(self.location)
        if not path.is_file():
            raise CalendarSourceError(f"iCalendar file {path} does not exist")
        return path.read_bytes()

    def read(self) -> Iterator[CalendarRow]:
        try:
            calendar = icalendar.Calendar.from_ical(self.fetch())
        except ValueError as exc:
            raise CalendarSourceError(f"{self.location} is not valid iCalendar: {exc}") from exc
        for index, event in enumerate(calendar.walk("VEVENT")):
            uid = str(event.get("UID") or "").strip()
            key = uid or f"event#{index}"
            try:
                yield CalendarRow(key, wedding=_wedding_from_event(event, uid))
            except InvalidWedding as exc:
                yield CalendarRow(key, reject_reason=str(exc))


_ICAL_STATUS = {"TENTATIVE": "scheduled", "CONFIRMED": "confirmed", "CANCELLED": "cancelled"}


def _wedding_from_event(event: icalendar.Event, uid: str) -> Wedding:
    if not uid:
        raise InvalidWedding("VEVENT has no UID")
    if event.get("RRULE") is not None:
        raise InvalidWedding("recurring event (RRULE); weddings are one-off")
    explicit_zone = event.get("X-WEDPERF-TIMEZONE")
    dtstart = event.get("DTSTART")
    if dtstart is None:
        raise InvalidWedding("VEVENT has no DTSTART")
    start = dtstart.dt
    if isinstance(start, date) and not isinstance(start, datetime):
        raise InvalidWedding("all-day event; a wedding needs a ceremony time")
    zone_name = _event_zone(dtstart, explicit_zone)
    start = _place(start, zone_name)
    dtend = event.get("DTEND")
    if dtend is not None:
        end = _place(dtend.dt, zone_name)
    elif event.get("DURATION") is not None:
        end = start + event.get("DURATION").dt
    else:
        raise InvalidWedding("VEVENT has neither DTEND nor DURATION")
    status = _ICAL_STATUS.get(str(event.get("STATUS") or "CONFIRMED").upper())
    if status is None:
        raise InvalidWedding(f"unknown STATUS {event.get('STATUS')!r}")
    guests = event.get("X-WEDPERF-GUEST-COUNT")
    if guests is None:
        raise InvalidWedding("no X-WEDPERF-GUEST-COUNT property")
    return make_wedding(
        wedding_id=uid,
        starts_at=start,
        ends_at=end,
        timezone=zone_name,
        venue=str(event.get("LOCATION")) if event.get("LOCATION") else None,
        guest_count=str(guests),
        status=status,
    )


def _event_zone(dtstart: icalendar.prop.vDDDTypes, explicit: object) -> str:
    """The venue's zone: X-WEDPERF-TIMEZONE if given, else the DTSTART's TZID."""
    if explicit is not None:
        return check_timezone(str(explicit))
    tzid = dtstart.params.get("TZID")
    if tzid:
        return check_timezone(str(tzid))
    value = dtstart.dt
    if value.tzinfo is None:
        raise InvalidWedding("floating DTSTART and no X-WEDPERF-TIMEZONE: cannot place it")
    raise InvalidWedding("UTC DTSTART needs X-WEDPERF-TIMEZONE to name the venue's timezone")


def _place(value: datetime, zone_name: str) -> datetime:
    """A floating time is local to the venue; an aware one stays the instant it is."""
    if value.tzinfo is None:
        return value.replace(tzinfo=ZoneInfo(zone_name))
    return value
