"""Hourly calendar features: what the calendar says about each hour's load.

`calendar_features` returns one row per hour of an hourly UTC index with:

- `hour_of_week` (0 = Monday 00:00 local .. 167): the seasonal key. It is a category, not a
  regressor: models with a weekly profile group by it, others ignore it. With
  `holidays_as_sunday` a public holiday takes the Sunday hours of its week (a holiday looks
  like a Sunday much more than like the weekday it falls on).
- `holiday` and `holiday_{sin,cos}{1,2}`: public holiday (local date, `holidays` package)
  and its interaction with the daily cycle, so a holiday can change the day's shape.
- `holiday_before`, `holiday_after`, `bridge`: the local day before and after a public
  holiday (Christmas Eve, the Friday after Thanksgiving), and a working day between a
  holiday and the weekend (a Friday after a Thursday holiday, a Monday before a Tuesday
  one), when that day is not a holiday itself: load is off its ordinary pattern there
  too, and such a day must not become a template for an ordinary one.
- `event_active`, `event_{sin,cos}{1,2}`: generic events, sum of weight x the fraction of the
  hour each event covers, and its interaction with the daily cycle.
- `weddings_in_progress`, `guests_<phase>`, `guests_active`, `hours_to_next_ceremony`: the
  wedding calendar (weddings from arrival to end; guests in each phase; guests weighted by
  phase; hours from the start of the hour to the next ceremony, capped at a week).
"""

from __future__ import annotations

from collections.abc import Sequence

import holidays as holiday_calendars
import numpy as np
import pandas as pd

from wedperf.forecast.events import PHASES, Event
from wedperf.forecast.events import phase_weights as weights_by_phase
from wedperf.forecast.settings import PhaseWeights

SEASONAL_KEY = "hour_of_week"
WEEK = 168
# Past a week, "how far is the next ceremony" says nothing the weekly profile does not.
HOURS_TO_NEXT_CAP = 168.0
HARMONICS = (1, 2)  # daily harmonics for the shape of holidays and events: 24 h and 12 h
DEFAULT_PHASE_WEIGHTS = weights_by_phase(PhaseWeights())


def hourly_index(start: pd.Timestamp, periods: int) -> pd.DatetimeIndex:
    """`periods` hours from `start` (floored to the hour), in UTC."""
    first = pd.Timestamp(start).tz_convert("UTC").floor("h")
    return pd.date_range(first, periods=periods, freq="h", tz="UTC")


def hour_of_week(
    index: pd.DatetimeIndex, *, tz: str = "UTC", sundays: np.ndarray | None = None
) -> np.ndarray:
    """0..167 from Monday 00:00 on the local clock; rows flagged in `sundays` take the
    Sunday hour instead."""
    local = index.tz_convert(tz)
    day = local.day_of_week.to_numpy().copy()
    if sundays is not None:
        day[sundays] = 6
    return day * 24 + local.hour.to_numpy()


def holiday_flags(
    index: pd.DatetimeIndex, *, country: str | None, subdivision: str | None, tz: str
) -> np.ndarray:
    """1.0 for hours whose local date is a public holiday of `country` (and subdivision)."""
    if not country:
        return np.zeros(len(index))
    if len(index) == 0:
        return np.zeros(0)
    local_dates = index.tz_convert(tz).date
    years = list(range(min(local_dates).year, max(local_dates).year + 1))
    calendar = holiday_calendars.country_holidays(country, subdiv=subdivision, years=years)
    unique = pd.unique(local_dates)
    is_holiday = {d: d in calendar for d in unique}
    return np.fromiter((is_holiday[d] for d in local_dates), dtype=float, count=len(index))


def holiday_neighbours(index: pd.DatetimeIndex, holiday: np.ndarray, *, tz: str) -> dict:
    """`holiday_before`, `holiday_after`, `bridge` flags (see the module doc) per hour."""
    if len(index) == 0:
        return {name: np.zeros(0) for name in ("holiday_before", "holiday_after", "bridge")}
    local = index.tz_convert(tz)
    dates = pd.DatetimeIndex(local.date)
    holiday_dates = set(dates[holiday > 0])
    day = pd.Timedelta(days=1)

    def flag(test) -> np.ndarray:
        unique = dates.unique()
        marked = {d: d not in holiday_dates and test(d) for d in unique}
        return np.fromiter((marked[d] for d in dates), dtype=float, count=len(dates))

    return {
        "holiday_before": flag(lambda d: d + day in holiday_dates),
        "holiday_after": flag(lambda d: d - day in holiday_dates),
        "bridge": flag(
            lambda d: (
                (d.day_of_week == 4 and d - day in holiday_dates)
                or (d.day_of_week == 0 and d + day in holiday_dates)
            )
        ),
    }


def spread_events(index: pd.DatetimeIndex, events: Sequence[Event]) -> tuple[np.ndarray, ...]:
    """Per hour: (sum of weight x covered fraction, sum of covered fraction). Events outside
    the index contribute nothing; events crossing its edges are cut."""
    n = len(index)
    weighted, count = np.zeros(n), np.zeros(n)
    if not events or n == 0:
        return weighted, count
    t0 = index[0]
    starts = np.array([(e.start - t0) / pd.Timedelta(hours=1) for e in events])
    ends = np.array([(e.end - t0) / pd.Timedelta(hours=1) for e in events])
    weights = np.array([e.weight for e in events])
    starts, ends = np.clip(starts, 0, n), np.clip(ends, 0, n)
    keep = ends > starts
    starts, ends, weights = starts[keep], ends[keep], weights[keep]
    first, last = np.floor(starts).astype(np.int64), np.ceil(ends).astype(np.int64)
    spans = last - first
    owner = np.repeat(np.arange(len(starts)), spans)
    # Hour k of each event: first + 0, 1, ... (a ramp restarting at every event).
    hour = first[owner] + (np.arange(spans.sum()) - np.repeat(np.cumsum(spans) - spans, spans))
    covered = np.minimum(ends[owner], hour + 1) - np.maximum(starts[owner], hour)
    np.add.at(weighted, hour, covered * weights[owner])
    np.add.at(count, hour, covered)
    return weighted, count


def hours_to_next(index: pd.DatetimeIndex, starts: Sequence[pd.Timestamp]) -> np.ndarray:
    """Hours from each hour's start to the next start at or after it, capped at a week."""
    if not starts:
        return np.full(len(index), HOURS_TO_NEXT_CAP)
    ordered = np.sort(np.array([s.as_unit("ns").value for s in starts], dtype=np.int64))
    hours = index.as_unit("ns").asi8
    position = np.searchsorted(ordered, hours, side="left")
    found = position < len(ordered)
    gap = np.full(len(index), HOURS_TO_NEXT_CAP)
    gap[found] = (ordered[position[found]] - hours[found]) / 3.6e12
    return np.minimum(gap, HOURS_TO_NEXT_CAP)


def _daily_shape(index: pd.DatetimeIndex, tz: str) -> dict[str, np.ndarray]:
    hour = index.tz_convert(tz).hour.to_numpy()
    shape = {}
    for k in HARMONICS:
        shape[f"sin{k}"] = np.sin(2 * np.pi * k * hour / 24)
        shape[f"cos{k}"] = np.cos(2 * np.pi * k * hour / 24)
    return shape


def calendar_features(
    index: pd.DatetimeIndex,
    *,
    events: Sequence[Event] = (),
    wedding_phases: dict[str, list[Event]] | None = None,
    phase_weights: dict[str, float] | None = None,
    tz: str = "UTC",
    holiday_country: str | None = "US",
    holiday_subdivision: str | None = None,
    holidays_as_sunday: bool = False,
) -> pd.DataFrame:
    """The feature frame for `index` (hourly, UTC). Pure: reads nothing but its arguments.

    `events` is a generic calendar; `wedding_phases` comes from
    wedperf.forecast.events.wedding_phase_events. Either may be empty. `phase_weights`
    (default: PhaseWeights()) weighs guests by phase in `guests_active`.
    """
    if index.tz is None:
        raise ValueError("the index must be timezone-aware (UTC)")
    shape = _daily_shape(index, tz)
    holiday = holiday_flags(index, country=holiday_country, subdivision=holiday_subdivision, tz=tz)
    columns: dict[str, np.ndarray] = {
        SEASONAL_KEY: hour_of_week(
            index, tz=tz, sundays=holiday > 0 if holidays_as_sunday else None
        ),
        "holiday": holiday,
    }
    columns.update({f"holiday_{name}": holiday * wave for name, wave in shape.items()})
    columns.update(holiday_neighbours(index, holiday, tz=tz))
    if events:
        active, _ = spread_events(index, events)
        columns["event_active"] = active
        columns.update({f"event_{name}": active * wave for name, wave in shape.items()})
    if wedding_phases and any(wedding_phases.values()):
        weights = phase_weights if phase_weights is not None else DEFAULT_PHASE_WEIGHTS
        guests_active = np.zeros(len(index))
        in_progress = np.zeros(len(index))
        for phase in PHASES:
            guests, count = spread_events(index, wedding_phases.get(phase, []))
            columns[f"guests_{phase}"] = guests
            guests_active += weights.get(phase, 0.0) * guests
            if phase != "preparation":  # in progress: from arrival to the end of the day
                in_progress += count
        columns["guests_active"] = guests_active
        columns["weddings_in_progress"] = in_progress
        columns["hours_to_next_ceremony"] = hours_to_next(
            index, [e.start for e in wedding_phases.get("ceremony", [])]
        )
    return pd.DataFrame(columns, index=index)


# What makes an hour an event hour when scoring forecasts apart: a public holiday, an event
# or a wedding in progress (its preparation morning included).
EVENT_COLUMNS = ("holiday", "event_active", "weddings_in_progress", "guests_preparation")


def event_hours(X: pd.DataFrame) -> np.ndarray:
    """Booleans per row of a feature frame: inside a holiday, event or wedding window."""
    columns = [c for c in EVENT_COLUMNS if c in X.columns]
    if not columns:
        return np.zeros(len(X), dtype=bool)
    return (X[columns].to_numpy(dtype=float) > 0).any(axis=1)
