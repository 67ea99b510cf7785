"""When and where sandbox weddings happen: dates, local ceremony times, timezones, DST days.

Calibrated on published wedding statistics: docs/sandbox.md ("When weddings happen", "The day
itself") gives each figure and its source. Pure functions over a numpy Generator: no database,
no wall clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np

# Share of weddings per month (Jan..Dec), in %. docs/sandbox.md, "When weddings happen":
# Sept-Nov 45-55% (here 49), October 18-20% (19), Jan and Feb 3-4% each (3.5);
# June is the secondary peak (CDC 1990: June ~2.4x January; The Knot 2017: June 15%).
MONTH_SHARES = (3.5, 3.5, 4.0, 5.5, 8.0, 10.0, 6.0, 7.5, 16.0, 19.0, 14.0, 3.0)

# Share of weddings per weekday (Mon..Sun), in %. docs/sandbox.md: Saturday ~65% (US 2009)
# and 53-67% (Australia), suggested 65-70% (here 67); Friday 13-14%; Sunday 12-14%;
# Monday-Thursday the rest.
WEEKDAY_SHARES = (1.5, 1.5, 1.5, 3.5, 13.0, 67.0, 12.0)

# Venue timezones and their share of weddings. Phoenix has no DST on purpose: a zone where the
# DST-day rule places nothing. Sydney's seasons are the other way round; one calendar is kept
# for all zones because the platform's demand is dominated by the US.
TIMEZONES = (
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Phoenix",
    "America/Los_Angeles",
    "Europe/London",
    "Australia/Sydney",
)
TIMEZONE_SHARES = (0.24, 0.19, 0.08, 0.04, 0.21, 0.14, 0.10)

# Local ceremony start times. docs/sandbox.md "The day itself": typical ceremony 16:00-16:30;
# the rest spread over late morning to early evening.
CEREMONY_TIMES = (
    time(11, 0), time(12, 0), time(13, 0), time(14, 0), time(14, 30), time(15, 0),
    time(15, 30), time(16, 0), time(16, 30), time(17, 0), time(17, 30), time(18, 0),
)  # fmt: skip
CEREMONY_TIME_SHARES = (2, 2, 3, 4, 4, 7, 8, 25, 20, 12, 8, 5)

DST_DAY_CEREMONY = time(16, 0)
_REFERENCE_DAYS = 365
_IPF_ROUNDS = 60


def date_weights(start: date, days: int) -> np.ndarray:
    """Relative chance of a wedding on each date of [start, start+days).

    Weight = a[month] * b[weekday], fitted by iterative proportional fitting so that a year of
    dates reproduces MONTH_SHARES and WEEKDAY_SHARES (a naive product would be skewed by how
    many Saturdays each month has). The fit uses the year from `start` (or the whole range if
    longer); a shorter range keeps the fitted per-day intensities, i.e. the weights are
    renormalised over the dates present.
    """
    if days < 1:
        raise ValueError(f"days must be at least 1, got {days}")
    reference = [start + timedelta(d) for d in range(max(days, _REFERENCE_DAYS))]
    months = np.array([d.month - 1 for d in reference])
    weekdays = np.array([d.weekday() for d in reference])
    month_target = np.asarray(MONTH_SHARES, dtype=float) / sum(MONTH_SHARES)
    weekday_target = np.asarray(WEEKDAY_SHARES, dtype=float) / sum(WEEKDAY_SHARES)
    a = np.ones(12)
    b = np.ones(7)
    for _ in range(_IPF_ROUNDS):
        weight = a[months] * b[weekdays]
        a *= month_target / (np.bincount(months, weight, minlength=12) / weight.sum())
        weight = a[months] * b[weekdays]
        b *= weekday_target / (np.bincount(weekdays, weight, minlength=7) / weight.sum())
    weight = a[months[:days]] * b[weekdays[:days]]
    return weight / weight.sum()


def draw_dates(rng: np.random.Generator, start: date, days: int, count: int) -> list[date]:
    """`count` wedding dates in [start, start+days), sorted.

    Systematic sampling (one random offset, then evenly spaced quantiles of the cumulative
    weights) keeps every month's and weekday's realised share within one wedding of its
    expectation, so calibration holds for any seed instead of only on average.
    """
    if count <= 0:
        return []
    cumulative = np.cumsum(date_weights(start, days))
    points = (rng.random() + np.arange(count)) / count
    index = np.minimum(np.searchsorted(cumulative, points, side="right"), days - 1)
    return [start + timedelta(days=int(i)) for i in index]


def dst_change_days(zone_name: str, start: date, days: int) -> list[date]:
    """Local dates in [start, start+days) on which `zone_name` changes its UTC offset."""
    zone = ZoneInfo(zone_name)
    found = []
    for offset in range(days):
        day = start + timedelta(offset)
        midnight = datetime.combine(day, time(0), tzinfo=zone)
        next_midnight = datetime.combine(day + timedelta(1), time(0), tzinfo=zone)
        if midnight.utcoffset() != next_midnight.utcoffset():
            found.append(day)
    return found


@dataclass(frozen=True)
class PlannedWedding:
    """Where and when one wedding's ceremony happens."""

    local_date: date
    local_time: time
    timezone: str
    dst_day: bool

    @property
    def ceremony_utc(self) -> datetime:
        """The ceremony's UTC instant; zoneinfo applies the offset in force that local day."""
        local = datetime.combine(self.local_date, self.local_time, tzinfo=ZoneInfo(self.timezone))
        return local.astimezone(UTC)

    def local_utc(self, at: time) -> datetime:
        """UTC instant of another local time on the wedding day (e.g. 08:00 for the morning)."""
        local = datetime.combine(self.local_date, at, tzinfo=ZoneInfo(self.timezone))
        return local.astimezone(UTC)


def plan_weddings(
    rng: np.random.Generator, start: date, days: int, count: int
) -> list[PlannedWedding]:
    """`count` weddings: one at 16:00 local on each DST change day of each zone (so wedperf's
    day windows are exercised across offset changes), the rest drawn by `draw_dates` with a
    zone and a ceremony time each. DST weddings count within `count`; if there are more DST
    days than weddings, the earliest are kept.
    """
    dst_days = [(day, zone) for zone in TIMEZONES for day in dst_change_days(zone, start, days)]
    dst = sorted(dst_days)[:count]
    planned = [PlannedWedding(day, DST_DAY_CEREMONY, zone, True) for day, zone in dst]
    regular = count - len(planned)
    dates = draw_dates(rng, start, days, regular)
    zone_shares = np.asarray(TIMEZONE_SHARES) / sum(TIMEZONE_SHARES)
    zones = rng.choice(len(TIMEZONES), size=regular, p=zone_shares)
    time_shares = np.asarray(CEREMONY_TIME_SHARES, dtype=float) / sum(CEREMONY_TIME_SHARES)
    times = rng.choice(len(CEREMONY_TIMES), size=regular, p=time_shares)
    planned.extend(
        PlannedWedding(day, CEREMONY_TIMES[t], TIMEZONES[z], False)
        for day, z, t in zip(dates, zones, times, strict=True)
    )
    return planned
