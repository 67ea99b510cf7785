"""Calendar features and event calendars: pure, on tiny hand-checked frames."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from wedperf.calendar.model import Wedding
from wedperf.forecast.events import (
    Event,
    events_outside,
    phase_weights,
    read_events_csv,
    wedding_phase_events,
)
from wedperf.forecast.features import (
    HOURS_TO_NEXT_CAP,
    calendar_features,
    hour_of_week,
    hourly_index,
    spread_events,
)
from wedperf.forecast.settings import PhaseWeights


def ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def test_events_count_by_the_share_of_each_hour_they_cover() -> None:
    index = hourly_index(ts("2026-10-17 00:00"), 6)
    events = [
        Event("half past one to three", ts("2026-10-17 01:30"), ts("2026-10-17 03:00"), 2.0),
        Event("before the index", ts("2026-10-16 00:00"), ts("2026-10-16 05:00")),
        Event("over the end", ts("2026-10-17 05:00"), ts("2026-10-18 00:00")),
    ]
    weighted, count = spread_events(index, events)
    assert weighted.tolist() == [0, 1.0, 2.0, 0, 0, 1.0]
    assert count.tolist() == [0, 0.5, 1.0, 0, 0, 1.0]
    assert events_outside(events, index[0], index[-1] + pd.Timedelta(hours=1)) == 1


def test_read_events_csv_defaults_the_weight_and_names_bad_rows() -> None:
    good = io.StringIO(
        "name,start,end,weight\n"
        "Marathon,2014-11-02 00:00:00,2014-11-03 00:00:00,\n"
        "Gala,2014-11-05T18:00:00+01:00,2014-11-05T23:00:00+01:00,3\n"
    )
    marathon, gala = read_events_csv(good, tz="America/New_York")
    assert marathon.weight == 1.0
    assert marathon.start == pd.Timestamp("2014-11-02 04:00", tz="UTC")  # EDT, naive read in tz
    assert gala.start == ts("2014-11-05 17:00") and gala.weight == 3.0

    backwards = io.StringIO("name,start,end\nX,2014-11-03,2014-11-02\n")
    with pytest.raises(ValueError, match="line 2: event 'X': end .* is not after start"):
        read_events_csv(backwards)
    with pytest.raises(ValueError, match="missing end"):
        read_events_csv(io.StringIO("name,start\nX,2014-11-03\n"))


def wedding(
    wedding_id: str, start: str, end: str, guests: int, status: str = "confirmed"
) -> Wedding:
    return Wedding(
        wedding_id=wedding_id,
        starts_at=datetime.fromisoformat(start).astimezone(UTC),
        ends_at=datetime.fromisoformat(end).astimezone(UTC),
        timezone="America/New_York",
        venue=None,
        guest_count=guests,
        status=status,
    )


def test_weddings_become_guests_by_phase_and_the_next_ceremony() -> None:
    # A 16:00 ceremony in New York (20:00 UTC), reception until 22:00 local (02:00 UTC).
    weddings = [
        wedding("w1", "2026-10-17T16:00:00-04:00", "2026-10-17T22:00:00-04:00", 100),
        wedding("gone", "2026-10-17T16:00:00-04:00", "2026-10-17T22:00:00-04:00", 500, "cancelled"),
    ]
    phases = wedding_phase_events(weddings)
    assert [e.start for e in phases["preparation"]] == [ts("2026-10-17 12:00")]  # 08:00 local
    assert [e.end for e in phases["arrival"]] == [ts("2026-10-17 20:00")]
    index = hourly_index(ts("2026-10-17 00:00"), 30)
    weights = phase_weights(PhaseWeights())
    frame = calendar_features(
        index, wedding_phases=phases, phase_weights=weights, holiday_country=None
    ).set_index(index.strftime("%H"), append=True)
    at = frame.droplevel(0)
    assert at.loc["19", "guests_arrival"].item() == 100  # 15:00-16:00 local
    assert at.loc["19", "weddings_in_progress"].item() == 1
    assert at.loc["20", "guests_ceremony"].item() == 75  # ceremony 45 of 60 minutes
    assert at.loc["20", "guests_reception"].item() == 25
    assert at.loc["20", "guests_active"].item() == pytest.approx(0.3 * 75 + 0.6 * 25)
    assert at.loc["12", "guests_preparation"].item() == 100
    assert frame["guests_preparation"].sum() == pytest.approx(100 * 7)  # 08:00-15:00 local
    hours_to_next = frame["hours_to_next_ceremony"].to_numpy()
    assert hours_to_next[0] == 20 and hours_to_next[20] == 0
    assert hours_to_next[21] == HOURS_TO_NEXT_CAP  # nothing later: capped
    assert frame["guests_reception"].sum() == pytest.approx(100 * 5.25)


def test_holidays_and_hour_of_week_follow_the_local_clock() -> None:
    index = hourly_index(ts("2026-07-03 00:00"), 72)  # Fri 3 .. Sun 5 July, UTC
    frame = calendar_features(index, tz="America/New_York", holiday_country="US")
    local_day = index.tz_convert("America/New_York").day
    # Independence Day is observed on Friday 3 July 2026 (the 4th is a Saturday).
    assert set(local_day[frame["holiday"] > 0]) == {3, 4}
    assert frame["holiday"].iloc[0] == 0  # 20:00 on 2 July in New York
    assert hour_of_week(hourly_index(ts("2026-10-19 04:00"), 1), tz="America/New_York")[0] == 0
    sundays = calendar_features(
        index, tz="America/New_York", holiday_country="US", holidays_as_sunday=True
    )
    assert set(sundays.loc[frame["holiday"] > 0, "hour_of_week"] // 24) == {6}
    no_holidays = calendar_features(index, holiday_country=None)
    assert not no_holidays["holiday"].any()
    british = calendar_features(
        hourly_index(ts("2026-08-31 00:00"), 24), holiday_country="GB", holiday_subdivision="ENG"
    )
    assert british["holiday"].all()  # summer bank holiday in England


def test_events_shape_the_day_and_outside_events_add_nothing() -> None:
    index = hourly_index(ts("2026-01-01 00:00"), 48)
    inside = [Event("party", ts("2026-01-01 00:00"), ts("2026-01-02 00:00"), 2.0)]
    frame = calendar_features(index, events=inside, holiday_country=None)
    assert frame["event_active"].tolist() == [2.0] * 24 + [0.0] * 24
    assert np.allclose(frame["event_cos1"].iloc[:24], 2 * np.cos(2 * np.pi * np.arange(24) / 24))
    outside = [Event("last year", ts("2025-01-01"), ts("2025-01-02"))]
    assert not calendar_features(index, events=outside, holiday_country=None)["event_active"].any()


def test_days_around_holidays_are_flagged_on_the_local_clock() -> None:
    # Thanksgiving 2026 is Thursday 26 November; Christmas a Friday; 4 July a Saturday
    # (observed Friday 3 July, so Thursday 2 July is its eve and Monday 6 is no bridge).
    index = hourly_index(ts("2026-11-23 05:00"), 24 * 7)  # Mon 23 .. Sun 29, New York
    frame = calendar_features(index, tz="America/New_York", holiday_country="US")
    local = pd.Series(index.tz_convert("America/New_York").day, index=index)
    days = {c: set(local[frame[c] > 0]) for c in ("holiday", "holiday_before", "holiday_after")}
    assert days == {"holiday": {26}, "holiday_before": {25}, "holiday_after": {27}}
    assert set(local[frame["bridge"] > 0]) == {27}  # the Friday after Thanksgiving
    tuesday = calendar_features(
        hourly_index(ts("2029-12-24 05:00"), 24 * 3), tz="America/New_York"
    )  # Christmas 2029 is a Tuesday: Monday 24 is its bridge and its eve
    assert tuesday["bridge"].iloc[:24].all() and tuesday["holiday_before"].iloc[:24].all()
    assert not tuesday["bridge"].iloc[24:].any()
