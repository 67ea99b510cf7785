"""The wedding calendar: model, sources and sync into perf.weddings."""

from wedperf.calendar.model import InvalidWedding, Wedding, make_wedding
from wedperf.calendar.sources import (
    AppDbCalendarSource,
    CalendarSource,
    CalendarSourceError,
    ICalendarSource,
)
from wedperf.calendar.sync import (
    SyncReport,
    sync_calendar,
    weddings_in_day_windows,
    weddings_in_window,
)

__all__ = [
    "AppDbCalendarSource",
    "CalendarSource",
    "CalendarSourceError",
    "ICalendarSource",
    "InvalidWedding",
    "SyncReport",
    "Wedding",
    "make_wedding",
    "sync_calendar",
    "weddings_in_day_windows",
    "weddings_in_window",
]
