"""Which weddings a watch round republishes artifacts for: changes always, the rest at most
once per refresh period, spread over the rounds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd

from wedperf.calendar.model import Wedding
from wedperf.critical_path.publish import weddings_to_publish

T0 = datetime(2026, 10, 17, 20, 0, tzinfo=UTC)
INTERVAL = timedelta(minutes=5)
REFRESH = timedelta(minutes=30)  # every 6th round


def weddings(n: int) -> list[Wedding]:
    return [
        Wedding(str(i), T0, T0 + timedelta(hours=6), "UTC", None, 100, "confirmed")
        for i in range(n)
    ]


def results(statuses: dict[str, str]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"wedding_id": w, "check_name": check, "status": status}
            for w, status in statuses.items()
            for check in ("guest_arrival", "timeline_drift")
        ]
    )


def chosen(ws, res, previous, at, refresh=REFRESH) -> set[str]:
    picked = weddings_to_publish(ws, res, previous, at=at, interval=INTERVAL, refresh=refresh)
    return {w.wedding_id for w in picked}


def test_first_round_publishes_every_evaluated_wedding() -> None:
    ws = weddings(5)
    res = results({w.wedding_id: "ok" for w in ws[:4]})  # wedding 4 not evaluated
    assert chosen(ws, res, {}, T0) == {"0", "1", "2", "3"}


def test_unchanged_weddings_refresh_once_per_period_spread_over_rounds() -> None:
    ws = weddings(60)
    res = results({w.wedding_id: "ok" for w in ws})
    previous = {w.wedding_id: {"guest_arrival": "ok", "timeline_drift": "ok"} for w in ws}
    per_round = [chosen(ws, res, previous, T0 + k * INTERVAL) for k in range(6)]
    # Over one refresh period every wedding is republished exactly once ...
    assert sorted(w for picked in per_round for w in picked) == sorted(w.wedding_id for w in ws)
    # ... and not all in the same round.
    assert max(len(picked) for picked in per_round) < len(ws)


def test_a_status_change_is_published_at_once() -> None:
    ws = weddings(60)
    previous = {w.wedding_id: {"guest_arrival": "ok", "timeline_drift": "ok"} for w in ws}
    statuses = {w.wedding_id: "ok" for w in ws}
    baseline = chosen(ws, results(statuses), previous, T0)
    quiet = next(w.wedding_id for w in ws if w.wedding_id not in baseline)
    statuses[quiet] = "breach"
    assert chosen(ws, results(statuses), previous, T0) == baseline | {quiet}


def test_refresh_zero_means_every_round() -> None:
    ws = weddings(3)
    res = results({w.wedding_id: "ok" for w in ws})
    previous = {w.wedding_id: {"guest_arrival": "ok", "timeline_drift": "ok"} for w in ws}
    assert chosen(ws, res, previous, T0, refresh=timedelta(0)) == {"0", "1", "2"}
