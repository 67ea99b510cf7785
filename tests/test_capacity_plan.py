"""The plan of runs around weddings and the floor policy (pure)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from wedperf.calendar.model import Wedding
from wedperf.capacity.floor import size_floor
from wedperf.capacity.plan import plan_wedding_ops
from wedperf.capacity.policy import (
    calendar_peak,
    calendar_peak_rps,
    decide_raise,
    decide_restore,
    replicas_needed,
)
from wedperf.config import CapacityTarget, OpsSettings, Settings

NOW = datetime(2026, 10, 16, 12, 0, tzinfo=UTC)
SATURDAY = datetime(2026, 10, 17, tzinfo=UTC)
ZONES = [
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Los_Angeles",
    "Europe/London",
]


def wedding(i: int, starts_at: datetime, **kw) -> Wedding:
    return Wedding(
        wedding_id=str(i),
        starts_at=starts_at,
        ends_at=starts_at + timedelta(hours=6),
        timezone=kw.get("timezone", "America/New_York"),
        venue=None,
        guest_count=kw.get("guests", 115),
        status=kw.get("status", "confirmed"),
        active_guests=kw.get("active"),
    )


def peak_saturday(n: int = 2000) -> list[Wedding]:
    """n weddings, ceremonies between 14:00 and 18:30 UTC-ish across zones, every 5 min."""
    return [
        wedding(i, SATURDAY + timedelta(hours=14, minutes=5 * (i % 55)), timezone=ZONES[i % 5])
        for i in range(n)
    ]


SETTINGS = Settings(
    ops=OpsSettings(targets=[CapacityTarget(name="web"), CapacityTarget(name="api")])
)


def test_two_thousand_weddings_become_a_few_dozen_runs() -> None:
    runs = plan_wedding_ops(peak_saturday(), now=NOW, settings=SETTINGS)
    by_operation = {}
    for run in runs:
        by_operation.setdefault(run.operation, []).append(run)
    assert set(by_operation) == {"prewarm", "floor-raise", "floor-restore"}
    assert len(runs) <= 60, f"{len(runs)} runs for 2,000 weddings"
    # Every wedding is pre-warmed once, and raised and restored once per target.
    assert sum(len(r.wedding_ids) for r in by_operation["prewarm"]) == 2000
    assert sum(len(r.wedding_ids) for r in by_operation["floor-raise"]) == 2 * 2000
    assert all(r.scheduled_time.minute in (0, 30) for r in runs)


def test_each_operation_is_on_the_safe_side_of_its_slot() -> None:
    w = wedding(1, SATURDAY + timedelta(hours=16, minutes=10))
    runs = {r.operation: r for r in plan_wedding_ops([w], now=NOW, settings=Settings())}
    opens = w.starts_at - timedelta(hours=3)
    assert runs["prewarm"].scheduled_time == datetime(2026, 10, 17, 12, 30, tzinfo=UTC)
    assert runs["prewarm"].scheduled_time <= opens - timedelta(minutes=30)
    assert runs["floor-raise"].scheduled_time <= opens - timedelta(minutes=10)
    assert runs["floor-restore"].scheduled_time >= w.ends_at + timedelta(minutes=15)
    assert runs["floor-raise"].parameters == {
        "wedding_ids": ["1"],
        "slot": runs["floor-raise"].scheduled_time.isoformat(),
        "target": "sandbox",
        "action": "raise",
        "plan_id": runs["floor-raise"].plan_id,
    }
    assert runs["prewarm"].name == "prewarm-20261017-1230Z-1-wedding"


def test_replanning_is_stable_and_tracks_moves_and_cancellations() -> None:
    weddings = peak_saturday(200)
    first = plan_wedding_ops(weddings, now=NOW, settings=SETTINGS)
    again = plan_wedding_ops(list(reversed(weddings)), now=NOW, settings=SETTINGS)
    assert [r.idempotency_key for r in first] == [r.idempotency_key for r in again]

    moved = weddings.copy()
    moved[0] = replace(
        moved[0],
        starts_at=moved[0].starts_at + timedelta(hours=2),
        ends_at=moved[0].ends_at + timedelta(hours=2),
    )
    moved[1] = replace(moved[1], status="cancelled")
    changed = plan_wedding_ops(moved, now=NOW, settings=SETTINGS)
    before, after = {r.idempotency_key for r in first}, {r.idempotency_key for r in changed}
    gone, new = before - after, after - before
    assert gone and new  # the slots that lost or gained a wedding got new keys
    assert all("1" not in r.wedding_ids for r in changed)

    def slot(r):
        return (r.operation, r.target, r.scheduled_time)

    affected = {slot(r) for r in first if {"0", "1"} & set(r.wedding_ids)}
    affected |= {slot(r) for r in changed if "0" in r.wedding_ids}
    untouched = [r for r in first if slot(r) not in affected]
    assert untouched and {r.idempotency_key for r in untouched} <= after
    assert {slot(r) for r in first if r.idempotency_key in gone} <= affected


def test_late_additions_run_asap_and_past_weddings_are_ignored() -> None:
    soon = wedding(1, NOW + timedelta(hours=1))  # day window already open
    over = wedding(2, NOW - timedelta(hours=10))
    runs = plan_wedding_ops([soon, over], now=NOW, settings=Settings())
    assert {r.operation for r in runs} == {"prewarm", "floor-raise", "floor-restore"}
    asap = datetime(2026, 10, 16, 12, 1, tzinfo=UTC)
    assert {r.scheduled_time for r in runs if r.operation != "floor-restore"} == {asap}
    assert all("2" not in r.wedding_ids for r in runs)


def test_orphaned_raise_gets_a_restore() -> None:
    runs = plan_wedding_ops([], now=NOW, settings=Settings(), raised_targets=["sandbox"])
    assert [(r.operation, r.target, r.wedding_ids) for r in runs] == [
        ("floor-restore", "sandbox", ())
    ]


def test_targets_serve_their_zones() -> None:
    settings = Settings(
        ops=OpsSettings(
            targets=[
                CapacityTarget(name="us", serves=["America/"]),
                CapacityTarget(name="eu", serves=["Europe/"]),
            ]
        )
    )
    runs = plan_wedding_ops(peak_saturday(10), now=NOW, settings=settings)
    eu = {w for r in runs if r.target == "eu" for w in r.wedding_ids}
    assert eu == {str(i) for i in range(10) if ZONES[i % 5].startswith("Europe/")}


@pytest.mark.parametrize(("load", "expected"), [(0, 2), (100, 3), (1000, 24), (10_000, 30)])
def test_replicas_needed(load: float, expected: int) -> None:
    assert (
        replicas_needed(load, per_replica_rps=50, headroom=0.2, minimum=2, maximum=30) == expected
    )


def test_replicas_needed_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="finite"):
        replicas_needed(float("nan"), per_replica_rps=50, headroom=0, minimum=1, maximum=5)


def test_calendar_peak_counts_overlapping_windows_only() -> None:
    a = wedding(1, SATURDAY + timedelta(hours=16), guests=100)
    b = wedding(2, SATURDAY + timedelta(hours=20), guests=50)  # overlaps a
    c = wedding(3, SATURDAY + timedelta(hours=40), guests=500)  # another day
    rates = {"requests_per_guest_per_s": 0.1, "requests_per_active_guest_per_s": 0.3}
    window = {"before": timedelta(hours=3), "after": timedelta(0)}
    peak = calendar_peak_rps([a, b], **window, **rates)
    assert peak == pytest.approx(15.0)
    assert calendar_peak_rps([a, c], **window, **rates) == pytest.approx(50.0)


def test_calendar_peak_sizes_by_active_guests_where_estimated_and_invited_otherwise() -> None:
    window = {"before": timedelta(hours=3), "after": timedelta(0)}
    rates = {"requests_per_guest_per_s": 0.1, "requests_per_active_guest_per_s": 0.3}
    a = wedding(1, SATURDAY + timedelta(hours=16), guests=100, active=40)
    b = wedding(2, SATURDAY + timedelta(hours=20), guests=50)  # overlaps a, no estimate
    both = calendar_peak([a, b], **window, **rates)
    assert both.rps == pytest.approx(40 * 0.3 + 50 * 0.1)
    assert (both.active_guests, both.invited_guests) == (40, 50)
    assert both.basis == "calendar: 40 active + 50 invited guests"
    alone = calendar_peak([a], **window, **rates)
    assert alone.rps == pytest.approx(12.0) and alone.basis == "calendar: 40 active guests"
    without = replace(a, active_guests=None)
    assert calendar_peak([without], **window, **rates).basis == "calendar: 100 invited guests"


def test_a_floor_sized_on_the_calendar_says_which_guests_it_counted() -> None:
    target = CapacityTarget(name="api", per_replica_rps=2.0, max_replicas=100)
    settings = Settings(
        ops=OpsSettings(
            targets=[target],
            headroom=0.0,
            requests_per_guest_per_s=0.05,
            requests_per_active_guest_per_s=0.2,
        )
    )
    estimated = wedding(1, SATURDAY + timedelta(hours=16), guests=300, active=212)
    sizing = size_floor(target, [estimated], [estimated], None, settings)
    assert sizing.load_rps == pytest.approx(212 * 0.2)
    assert sizing.needed == 22  # ceil(42.4 / 2)
    assert "(calendar: 212 active guests)" in sizing.why
    invited = replace(estimated, active_guests=None)
    sizing = size_floor(target, [invited], [invited], None, settings)
    assert sizing.load_rps == pytest.approx(300 * 0.05) and sizing.needed == 8
    assert "(calendar: 300 invited guests)" in sizing.why


def test_raise_never_lowers_and_never_exceeds_the_maximum() -> None:
    assert decide_raise(needed=8, current_floor=3, maximum=20).new_floor == 8
    assert decide_raise(needed=8, current_floor=12, maximum=20).new_floor is None
    assert decide_raise(needed=80, current_floor=3, maximum=20).new_floor == 20


def test_restore_waits_for_live_weddings_and_the_cooldown() -> None:
    args = dict(baseline=2, current_floor=9, now=NOW, cooldown=timedelta(minutes=15))
    live = decide_restore(live_weddings=["7"], last_change=None, **args)
    assert live.new_floor is None and "7" in live.reason
    cooling = decide_restore(live_weddings=[], last_change=NOW - timedelta(minutes=5), **args)
    assert cooling.new_floor is None and cooling.reason.startswith("cooldown")
    assert (
        decide_restore(live_weddings=[], last_change=NOW - timedelta(hours=1), **args).new_floor
        == 2
    )
