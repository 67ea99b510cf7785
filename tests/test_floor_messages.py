"""What the capacity-floor steps say, on real PostgreSQL and the sandbox actuator: the
restore names the day windows that have closed and those still open, counts read in plain
English, ids comma-separated — the demo's wedding day (four ceremonies 15 minutes apart, the
restore tried an hour before the first)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import httpx
import psycopg
import pytest
from conftest import store_weddings

from wedperf.calendar.model import Wedding
from wedperf.capacity.actuators import SandboxActuator
from wedperf.capacity.floor import (
    counted,
    id_list,
    raise_floor,
    restore_floor,
    restore_why,
    weddings_named,
)
from wedperf.capacity.plan import floor_hold
from wedperf.config import CapacityTarget, OpsSettings, Settings

NOW = datetime(2030, 6, 1, 16, 0, tzinfo=UTC)
DAY = [
    Wedding(str(i), NOW + timedelta(minutes=60 + 15 * k), NOW + timedelta(hours=7, minutes=15 * k),
            "America/New_York", None, 150, "confirmed")
    for k, i in enumerate((599, 531, 498, 582))
]  # fmt: skip


class App:
    """The sandbox app's /admin/capacity."""

    def __init__(self, replicas: int = 2) -> None:
        self.replicas = replicas

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.method == "PUT":
            self.replicas = json.loads(request.content)["replicas"]
        return httpx.Response(200, json={"replicas": self.replicas})


def settings() -> Settings:
    target = CapacityTarget(name="app", url="http://app.test", per_replica_rps=8.0,
                            max_replicas=40)  # fmt: skip
    return Settings(ops=OpsSettings(targets=[target], cooldown=timedelta(0)))


@pytest.fixture
def conn(migrated_database_url: str):
    with psycopg.connect(migrated_database_url) as conn:
        store_weddings(conn, DAY)
        yield conn


def test_counts_and_ids_in_plain_english() -> None:
    assert (counted(1, "replica"), counted(6, "replica")) == ("1 replica", "6 replicas")
    assert id_list(["599"]) == "599" and id_list(["599", "531"]) == "599 and 531"
    assert id_list(["599", "531", "498", "582"]) == "599, 531, 498 and 582"
    assert weddings_named(["599"]) == "wedding 599"
    assert weddings_named(["599", "531"]) == "weddings 599 and 531"


def test_restore_says_which_windows_closed_and_which_are_still_open() -> None:
    config = settings()
    closes = [w.ends_at for w in DAY]  # day_window_after is 0 by default
    assert restore_why(DAY[:1], NOW, config) == (
        "day window of wedding 599 still open (until 2030-06-01 23:00 UTC)"
    )
    assert restore_why(DAY[:2], NOW, config) == (
        "day windows of weddings 599 and 531 still open (the last until 2030-06-01 23:15 UTC)"
    )
    assert restore_why(DAY[:1], closes[0], config) == "day window of wedding 599 closed"
    assert restore_why(DAY[:3], closes[1], config) == (
        "day windows of weddings 599 and 531 closed, that of wedding 498 still open "
        "(until 2030-06-01 23:30 UTC)"
    )
    assert restore_why(DAY, closes[0], config) == (
        "day window of wedding 599 closed, those of weddings 531, 498 and 582 still open "
        "(the last until 2030-06-01 23:45 UTC)"
    )
    assert restore_why([], NOW, config) == "restore owed by an earlier raise"


def test_the_demos_floor_steps_say_what_is_true(conn) -> None:
    config = settings()
    target = config.ops.targets[0]
    app = App()
    actuator = SandboxActuator(target, transport=httpx.MockTransport(app))
    raised = raise_floor(conn, actuator, target, DAY[:1], plan_id="floor-raise:599",
                         settings=config)  # fmt: skip
    assert raised.outcome == "done" and app.replicas > 2
    sized = raised.reason.split(";")[0]
    assert sized.startswith("4 overlapping weddings, peak ") and "replicas needed" in sized
    assert "(s)" not in sized and "[" not in raised.reason
    # An hour before 599's ceremony, as the demo tries it: held, and not "closed".
    early = restore_floor(conn, actuator, target, DAY[:1], plan_id="floor-restore:599",
                          settings=config, now=NOW)  # fmt: skip
    assert early.outcome == "skipped" and app.replicas == raised.after
    assert early.reason.startswith(
        "day window of wedding 599 still open (until 2030-06-01 23:00 UTC); "
    )
    assert "closed" not in early.reason and "live on the target" in early.reason
    assert all(w.wedding_id in early.reason for w in DAY)  # all four hold the floor
    # At 599's own restore time: its window closed; later ones hold the floor.
    at = floor_hold(DAY[0], target, config)[1]
    held = restore_floor(conn, actuator, target, DAY[:1], plan_id="floor-restore:599",
                         settings=config, now=at)  # fmt: skip
    assert held.outcome == "skipped"
    assert held.reason.startswith("day window of wedding 599 closed; ")
    holding = held.reason.split(";")[1]
    assert "599" not in holding and "582" in holding and "live on the target" in holding
    # The last one's: every window has closed, the floor goes back.
    last = floor_hold(DAY[-1], target, config)[1]
    done = restore_floor(conn, actuator, target, DAY, plan_id="floor-restore:all",
                         settings=config, now=last)  # fmt: skip
    assert done.outcome == "done" and app.replicas == 2
    assert done.reason.startswith("day windows of weddings 599, 531, 498 and 582 closed; ")
