"""The replay sets the floor production sets: the plan's floor runs executed by the
capacity-floor step (raise_floor/restore_floor against real PostgreSQL, the stored forecast
and an actuator) and `production_floor` over the same weddings, forecast and settings give
the same raises and restores, level for level."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import httpx
import numpy as np
import pandas as pd
import psycopg

from wedperf.calendar.model import Wedding
from wedperf.capacity.actuators import SandboxActuator
from wedperf.capacity.floor import raise_floor, restore_floor
from wedperf.capacity.plan import plan_wedding_ops
from wedperf.capacity.replay import newest_fit, production_floor
from wedperf.config import CapacityTarget, OpsSettings, Settings
from wedperf.forecast.pipeline import SeriesForecast
from wedperf.forecast.store import write_forecast

NOW = datetime(2030, 6, 1, 6, 0, tzinfo=UTC)  # a Saturday morning
SERIES = "web.requests"


def weddings() -> list[Wedding]:
    """Two afternoon weddings that overlap, an evening one, one cancelled."""

    def wedding(wedding_id, hour, minute, guests, status="confirmed"):
        starts = NOW.replace(hour=hour, minute=minute)
        return Wedding(wedding_id, starts, starts + timedelta(hours=6), "America/New_York",
                       None, guests, status)  # fmt: skip

    return [
        wedding("a", 14, 0, 150),
        wedding("b", 15, 40, 90),
        wedding("c", 22, 0, 200),
        wedding("gone", 16, 0, 300, status="cancelled"),
    ]


def forecast() -> SeriesForecast:
    """A stored fit covering the day: hourly request counts rising into the evening."""
    hours = pd.date_range(NOW - timedelta(hours=2), periods=48, freq="h")
    mean = 20_000 + 4_000 * np.arange(48) % 90_000
    frame = pd.DataFrame(
        {"mean": mean, "lo-80": mean * 0.8, "hi-80": mean * 1.2, "lo-95": mean * 0.7,
         "hi-95": mean * 1.4},
        index=hours,
    )  # fmt: skip
    return SeriesForecast(
        series=SERIES, model="profile", model_version="test", forecast=frame.astype(float),
        train_start=hours[0] - pd.Timedelta(weeks=12), train_end=hours[0] - pd.Timedelta(hours=1),
    )  # fmt: skip


def settings(**ops) -> Settings:
    targets = [
        CapacityTarget(name="web", url="http://sandbox.test", per_replica_rps=5.0,
                       min_replicas=2, max_replicas=40, forecast_series=SERIES),
        CapacityTarget(name="api", url="http://sandbox.test", per_replica_rps=2.0,
                       min_replicas=1, max_replicas=30),  # the calendar estimate
    ]  # fmt: skip
    return Settings(ops=OpsSettings(targets=targets, **ops))


class FakeSandbox:
    """The sandbox app's /admin/capacity, one floor per target."""

    def __init__(self, floor: int) -> None:
        self.replicas = floor

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.method == "PUT":
            self.replicas = int(json.loads(request.read())["replicas"])
        return httpx.Response(200, json={"replicas": self.replicas})


def production_steps(url: str, config: Settings, target: CapacityTarget, fit) -> list[tuple]:
    """The plan's floor runs for `target`, executed in time order by the production step."""
    with psycopg.connect(url) as conn:
        for w in weddings():
            conn.execute(
                "INSERT INTO perf.weddings (wedding_id, source, starts_at, ends_at, timezone, "
                "guest_count, status) VALUES (%s, 'test', %s, %s, %s, %s, %s) "
                "ON CONFLICT DO NOTHING",
                (w.wedding_id, w.starts_at, w.ends_at, w.timezone, w.guest_count, w.status),
            )
        write_forecast(conn, fit)
        server = FakeSandbox(target.min_replicas)
        actuator = SandboxActuator(target, transport=httpx.MockTransport(server))
        by_id = {w.wedding_id: w for w in weddings()}
        runs = [r for r in plan_wedding_ops(weddings(), now=NOW, settings=config)
                if r.target == target.name]  # fmt: skip
        steps = []
        for run in sorted(runs, key=lambda r: (r.scheduled_time, r.operation != "floor-raise")):
            slot = [by_id[i] for i in run.wedding_ids if by_id[i].status != "cancelled"]
            if run.operation == "floor-raise":
                outcome = raise_floor(conn, actuator, target, slot, plan_id=run.plan_id,
                                      settings=config)  # fmt: skip
            else:
                outcome = restore_floor(conn, actuator, target, slot, plan_id=run.plan_id,
                                        settings=config, now=run.scheduled_time)  # fmt: skip
            if outcome.outcome == "done":
                steps.append((run.scheduled_time, outcome.action.removeprefix("capacity_"),
                              outcome.before, outcome.after))  # fmt: skip
    return steps


def test_replay_and_production_set_the_same_floor(migrated_database_url: str) -> None:
    config = settings()
    fit = forecast()
    minutes = pd.date_range(NOW, NOW + timedelta(days=1, hours=12), freq="min")
    for target in config.ops.targets:
        produced = production_steps(migrated_database_url, config, target, fit)
        schedule, replayed = production_floor(
            weddings(), minutes, target, config, newest_fit([(pd.Timestamp(NOW), fit.forecast)])
        )
        assert [(s.at, s.action, s.before, s.after) for s in replayed] == produced, target.name
        assert len(produced) >= 2 and produced[-1][1] == "restore"  # raised, then restored
        # The schedule is the floor the steps leave in force, minute by minute.
        raised_at, _, _, level = produced[0]
        assert schedule[minutes.searchsorted(raised_at) - 1] == target.min_replicas
        assert schedule[minutes.searchsorted(raised_at)] == level
        assert schedule[-1] == target.min_replicas


def test_the_replayed_floor_follows_the_forecast_and_the_headroom() -> None:
    """Sized on the forecast's upper bound: a higher quantile or more headroom raises it; a
    target without a forecast series is sized on the calendar's guests instead."""
    fit = forecast()
    minutes = pd.date_range(NOW, NOW + timedelta(days=1, hours=12), freq="min")
    at = newest_fit([(pd.Timestamp(NOW), fit.forecast)])

    def peak(target_name: str, **ops) -> int:
        config = settings(**ops)
        target = next(t for t in config.ops.targets if t.name == target_name)
        schedule, steps = production_floor(weddings(), minutes, target, config, at)
        assert all("forecast" in s.reason for s in steps if s.action == "raise") == (
            target_name == "web"
        )
        return int(schedule.max())

    assert peak("web", quantile=80) < peak("web", quantile=95) < peak("web", headroom=0.6)
    assert peak("api", requests_per_guest_per_s=0.05) < peak("api", requests_per_guest_per_s=0.1)
