"""Normalise a calendar source into `perf.weddings`: upsert, cancel, report rejects."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import psycopg
from psycopg.rows import class_row

from wedperf.calendar.active_guests import (
    GuestSignals,
    estimate_active_guests,
    within_cutoff,
)
from wedperf.calendar.model import Wedding
from wedperf.calendar.settings import ActiveGuestSettings
from wedperf.calendar.sources import CalendarSource, GuestSignalsUnreadable
from wedperf.db.queries import queries

if TYPE_CHECKING:  # wedperf.config reads every package's settings: no import at run time
    from wedperf.config import Settings

log = logging.getLogger(__name__)
Q = queries("calendar")


@dataclass
class SyncReport:
    source: str
    seen: int = 0
    inserted: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)
    rejected: list[tuple[str, str]] = field(default_factory=list)
    # Weddings given an active-guest estimate, of those whose signals were read (ceremony
    # from signals_lookback ago on); None: the source has no guest signals (the app-DB
    # contract's optional guest_engagement view), every wedding is sized by invited.
    active_guest_estimates: int | None = None
    # Weddings within their cutoff sized by invited guests all the same: no guest rows, or
    # too few engaged to trust (wedperf.calendar.active_guests, min_engaged_share).
    too_few_signals: int = 0
    # Why the source's guest signals could not be used (a malformed guest_engagement view):
    # every wedding is then sized by invited guests, and the sync goes on.
    guest_signals_problem: str | None = None

    @property
    def changed(self) -> bool:
        return bool(self.inserted or self.updated or self.cancelled)

    def summary(self) -> str:
        estimates = (
            f"guest signals unusable, sized by invited guests ({self.guest_signals_problem})"
            if self.guest_signals_problem
            else "no guest signals"
            if self.active_guest_estimates is None
            else f"{self.active_guest_estimates} active-guest estimates, "
            f"{self.too_few_signals} weddings with too few guest signals (sized by invited)"
        )
        return (
            f"{self.source}: {self.seen} rows, {len(self.inserted)} new, "
            f"{len(self.updated)} updated, {len(self.cancelled)} cancelled, "
            f"{len(self.rejected)} rejected, {estimates}"
        )


def sync_calendar(
    conn: psycopg.Connection,
    source: CalendarSource,
    *,
    now: datetime | None = None,
    active_guests: ActiveGuestSettings | None = None,
) -> SyncReport:
    """Read `source` as a full snapshot and apply it to perf.weddings in one transaction.

    Writes perf.weddings (upsert; upcoming weddings missing from the snapshot are cancelled;
    each wedding's active-guest estimate, wedperf.calendar.active_guests, with the guest
    counts behind it once the ceremony is within the cutoff, when the source has them) and
    perf.calendar_rejects (each rejected row with its reason). Re-running with the same
    snapshot at the same `now` changes nothing; guest signals that leave every estimate as
    it was change nothing either (report.updated lists calendar changes only).
    """
    now = now or datetime.now(UTC)
    active_guests = active_guests or ActiveGuestSettings()
    report = SyncReport(source=source.name)
    since = now - active_guests.signals_lookback
    weddings: dict[str, Wedding] = {}
    for row in source.read():
        report.seen += 1
        if row.wedding is None:
            report.rejected.append((row.source_key, row.reject_reason or "invalid"))
        elif row.wedding.wedding_id in weddings:
            report.rejected.append((row.source_key, "duplicate wedding id in the source"))
        else:
            weddings[row.wedding.wedding_id] = row.wedding
    # Sources without guest signals (an iCalendar feed) have no guest_signals method.
    read_signals = getattr(source, "guest_signals", None)
    try:
        # Only weddings whose estimate can still change: from `signals_lookback` ago to
        # `cutoff` ahead (further ahead none is taken yet). Older ones keep theirs.
        signals = (
            read_signals(active_guests.cutoff, since=since, until=now + active_guests.cutoff)
            if read_signals
            else None
        )
    except GuestSignalsUnreadable as exc:
        # The view is optional: a broken one must not stop the calendar, only the estimate.
        log.warning("calendar %s: %s; sizing every wedding by invited guests", source.name, exc)
        report.guest_signals_problem = str(exc)
        signals = None
    if signals is not None:
        report.active_guest_estimates = 0

    with conn.transaction():
        conn.execute(Q["create_staging"])
        with conn.cursor().copy(
            "COPY weddings_staging (wedding_id, starts_at, ends_at, timezone, venue, "
            "guest_count, status, active_guests, guests_not_declined, guests_engaged, "
            "keep_estimate) FROM STDIN"
        ) as copy:
            for w in weddings.values():
                # Signals are read from `since` on: an older wedding keeps what is stored.
                keep = signals is not None and w.starts_at < since
                known = signals.get(w.wedding_id) if signals is not None and not keep else None
                estimate = estimate_active_guests(
                    known, starts_at=w.starts_at, now=now, settings=active_guests
                )
                decided = within_cutoff(w.starts_at, now, active_guests)
                if estimate is not None:
                    report.active_guest_estimates += 1
                elif decided and signals is not None and not keep and w.status != "cancelled":
                    report.too_few_signals += 1
                copy.write_row(
                    (
                        w.wedding_id,
                        w.starts_at,
                        w.ends_at,
                        w.timezone,
                        w.venue,
                        w.guest_count,
                        w.status,
                        estimate,
                        # The counts only once they decide the estimate: before, they change
                        # with every install and mean nothing to the floor.
                        *_signal_counts(known if decided else None),
                        keep,
                    )
                )
        params = {"source": source.name, "now": now}
        for wedding_id, inserted in conn.execute(Q["upsert_weddings"], params).fetchall():
            (report.inserted if inserted else report.updated).append(wedding_id)
        report.cancelled = [r[0] for r in conn.execute(Q["cancel_vanished"], params).fetchall()]
        conn.execute(Q["clear_fixed_rejects"], params)
        for source_key, reason in report.rejected:
            conn.execute(
                Q["record_reject"],
                {"source": source.name, "source_key": source_key, "reason": reason},
            )
    for source_key, reason in report.rejected:
        log.warning("calendar %s: row %s rejected: %s", source.name, source_key, reason)
    log.info("calendar sync %s", report.summary())
    return report


def _signal_counts(signals: GuestSignals | None) -> tuple[int | None, int | None]:
    if signals is None:
        return None, None
    return signals.not_declined, signals.engaged


def weddings_in_window(
    conn: psycopg.Connection,
    start: datetime,
    end: datetime,
    *,
    before: timedelta,
    after: timedelta,
) -> list[Wedding]:
    """Weddings whose day window (`before` ceremony, `after` end) overlaps [start, end)."""
    cursor = conn.cursor(row_factory=class_row(Wedding))
    return cursor.execute(
        Q["weddings_in_window"], {"start": start, "end": end, "before": before, "after": after}
    ).fetchall()


def weddings_in_day_windows(
    conn: psycopg.Connection, start: datetime, end: datetime, settings: Settings
) -> list[Wedding]:
    """Weddings whose day window as configured (`day_window_before` the ceremony,
    `day_window_after` the end) overlaps [start, end): what every job means by a wedding
    being on in a period."""
    return weddings_in_window(
        conn, start, end, before=settings.day_window_before, after=settings.day_window_after
    )


def weddings_by_id(
    conn: psycopg.Connection, wedding_ids: list[str], *, include_cancelled: bool = True
) -> list[Wedding]:
    """The named weddings from perf.weddings (ids not found are simply absent)."""
    cursor = conn.cursor(row_factory=class_row(Wedding))
    found = cursor.execute(Q["weddings_by_id"], {"ids": list(wedding_ids)}).fetchall()
    return [w for w in found if include_cancelled or w.status != "cancelled"]
