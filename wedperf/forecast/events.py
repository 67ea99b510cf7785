"""Event calendars for forecasting: generic `Event`s from CSV, and weddings split by phase.

A forecaster never sees weddings or CSV rows, only hourly features built from `Event`s
(wedperf.forecast.features), so any calendar with `name,start,end[,weight]` works the same
way as the wedding calendar.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import IO

import pandas as pd

from wedperf.calendar.model import Wedding
from wedperf.forecast.settings import PhaseWeights

PHASES = ("preparation", "arrival", "ceremony", "reception")
# Vendor notifications start with a morning brief from 08:00 local on the day
# (docs/sandbox.md: "peak the morning of the day"; the sandbox sends them 08:00-10:30).
PREPARATION_STARTS = time(8, 0)


@dataclass(frozen=True)
class Event:
    """Something on the calendar that explains load: [start, end) in UTC, with a weight."""

    name: str
    start: pd.Timestamp
    end: pd.Timestamp
    weight: float = 1.0

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError(f"event {self.name!r}: start and end must be timezone-aware")
        if self.end <= self.start:
            raise ValueError(f"event {self.name!r}: end {self.end} is not after start {self.start}")
        if not math.isfinite(self.weight):
            raise ValueError(f"event {self.name!r}: weight {self.weight} is not finite")


def read_events_csv(source: str | Path | IO[str], *, tz: str = "UTC") -> list[Event]:
    """Events from a CSV with columns `name,start,end[,weight]`.

    Timestamps without an offset are read in `tz`; a missing or empty weight is 1. A row
    that cannot be used raises ValueError naming the row and what is wrong with it.
    """
    frame = pd.read_csv(source, dtype={"name": str})
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    missing = {"name", "start", "end"} - set(frame.columns)
    if missing:
        raise ValueError(
            "events CSV needs columns name,start,end[,weight]; "
            f"missing {', '.join(sorted(missing))}"
        )
    events = []
    for number, row in enumerate(frame.itertuples(index=False), start=2):  # line 1: header
        try:
            weight_value = getattr(row, "weight", None)
            weight = 1.0 if weight_value is None or pd.isna(weight_value) else float(weight_value)
            events.append(
                Event(
                    name=str(row.name).strip(),
                    start=_instant(row.start, tz),
                    end=_instant(row.end, tz),
                    weight=weight,
                )
            )
        except (ValueError, TypeError) as exc:
            raise ValueError(f"events CSV line {number}: {exc}") from None
    return events


def _instant(value: object, tz: str) -> pd.Timestamp:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        raise ValueError("missing timestamp")
    stamp = pd.Timestamp(value)
    if pd.isna(stamp):
        raise ValueError(f"{value!r} is not a timestamp")
    return stamp.tz_localize(tz) if stamp.tzinfo is None else stamp.tz_convert("UTC")


def wedding_phase_events(
    weddings: Iterable[Wedding],
    *,
    arrival_before: timedelta = timedelta(hours=1),
    ceremony_length: timedelta = timedelta(minutes=45),
) -> dict[str, list[Event]]:
    """Each wedding's day split into phases, as events weighted by its guest count.

    preparation: 08:00 local on the ceremony's local day until arrival (empty when the
    ceremony is that early); arrival: `arrival_before` the ceremony; ceremony:
    `ceremony_length` from `starts_at` (cut at `ends_at`); reception: the rest until
    `ends_at`. Cancelled weddings are left out: their load never comes.
    """
    phases: dict[str, list[Event]] = {phase: [] for phase in PHASES}
    for wedding in weddings:
        if wedding.status == "cancelled":
            continue
        start = pd.Timestamp(wedding.starts_at).tz_convert("UTC")
        end = pd.Timestamp(wedding.ends_at).tz_convert("UTC")
        local_day = wedding.local_start.date()
        morning = pd.Timestamp(
            datetime.combine(local_day, PREPARATION_STARTS, tzinfo=wedding.zone)
        ).tz_convert("UTC")
        arrival = start - pd.Timedelta(arrival_before)
        ceremony_end = min(end, start + pd.Timedelta(ceremony_length))
        spans = {
            "preparation": (morning, arrival),
            "arrival": (arrival, start),
            "ceremony": (start, ceremony_end),
            "reception": (ceremony_end, end),
        }
        for phase, (lo, hi) in spans.items():
            if hi > lo:
                phases[phase].append(Event(wedding.wedding_id, lo, hi, float(wedding.guest_count)))
    return phases


def phase_weights(weights: PhaseWeights) -> dict[str, float]:
    """The configured weight of a guest in each phase, by phase name."""
    return {phase: float(getattr(weights, phase)) for phase in PHASES}


def events_outside(events: Iterable[Event], start: pd.Timestamp, end: pd.Timestamp) -> int:
    """How many events do not overlap [start, end) (they contribute no feature value)."""
    return sum(1 for e in events if e.end <= start or e.start >= end)
