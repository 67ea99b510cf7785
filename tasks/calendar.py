"""Calendar tasks: read a source and apply it to perf.weddings; read weddings back."""

from __future__ import annotations

from collections.abc import Sequence

from prefect import task
from prefect.cache_policies import NONE

from wedperf.calendar import AppDbCalendarSource, ICalendarSource, SyncReport, sync_calendar
from wedperf.calendar.model import Wedding
from wedperf.calendar.sync import weddings_by_id
from wedperf.db.connection import with_db_retry
from wedperf.runtime import get_runtime


@task(name="sync-calendar-source", retries=2, retry_delay_seconds=[5, 30], cache_policy=NONE)
def sync_calendar_source(ical: str | None = None) -> SyncReport:
    """Sync the app-DB contract view, or the iCalendar feed `ical` (path or URL)."""
    runtime = get_runtime()
    source = (
        ICalendarSource(ical)
        if ical
        else AppDbCalendarSource(runtime.services.app_database_url, runtime.settings.source_schema)
    )

    def attempt() -> SyncReport:
        with runtime.pool.connection() as conn:
            return sync_calendar(conn, source, active_guests=runtime.settings.active_guests)

    return with_db_retry(attempt, what=f"calendar sync from {source.name}")


def load_weddings(wedding_ids: Sequence[str]) -> list[Wedding]:
    """The named weddings as perf.weddings has them now (cancelled ones dropped)."""
    with get_runtime().pool.connection() as conn:
        return weddings_by_id(conn, list(wedding_ids), include_cancelled=False)
