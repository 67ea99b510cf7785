"""The replay sets the floor production sets: the plan's floor runs executed by the
capacity-floor step (raise_floor/restore_floor against real PostgreSQL, the stored forecast
and an actuator) and `production_floor` over the same weddings, forecast and settings give
the same raises and restores, level for level. Likewise the event-window target
utilisation: the plan's utilisation runs executed by the production step
(lower_utilisation/restore_utilisation against PostgreSQL and a Kubernetes HPA behind an
httpx.MockTransport) and `production_utilisation` give the same schedule."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import httpx
import numpy as np
import pandas as pd
import psycopg

from wedperf.calendar.model import Wedding
from wedperf.capacity.actuators import KubernetesActuator, SandboxActuator
from wedperf.capacity.event_utilisation import lower_utilisation, restore_utilisation
from wedperf.capacity.floor import raise_floor, restore_floor
from wedperf.capacity.plan import plan_wedding_ops
from wedperf.capacity.replay import newest_fit, production_floor, production_utilisation
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


def production_steps(
    url: str, config: Settings, target: CapacityTarget, fit, calendar=None
) -> list[tuple]:
    """The plan's floor runs for `target`, executed in time order by the production step."""
    calendar = weddings() if calendar is None else calendar
    with psycopg.connect(url) as conn:
        for w in calendar:
            conn.execute(
                "INSERT INTO perf.weddings (wedding_id, source, starts_at, ends_at, timezone, "
                "guest_count, status) VALUES (%s, 'test', %s, %s, %s, %s, %s) "
                "ON CONFLICT DO NOTHING",
                (w.wedding_id, w.starts_at, w.ends_at, w.timezone, w.guest_count, w.status),
            )
        write_forecast(conn, fit)
        server = FakeSandbox(target.min_replicas)
        actuator = SandboxActuator(target, transport=httpx.MockTransport(server))
        by_id = {w.wedding_id: w for w in calendar}
        runs = [r for r in plan_wedding_ops(calendar, now=NOW, settings=config)
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


def test_a_restore_keeps_the_floor_a_later_slot_found_covering_it(
    migrated_database_url: str,
) -> None:
    """Slot A's restore and slot B's raise fall in the same slot: B's raise runs first and
    is skipped (A's floor covers it), then A's restore must not drop the floor B counts on
    (B opens 35 minutes later, beyond the floor buffer); B's own restore puts it back."""
    config = settings()
    api = config.ops.targets[1]  # sized on the calendar
    big = Wedding("big", NOW.replace(hour=10), NOW.replace(hour=16), "America/New_York", None,
                  300, "confirmed")  # fmt: skip
    # big's window closes 16:00, its restore at ceil(16:15) = 16:30; small opens 17:05, its
    # raise at floor(16:55) = 16:30.
    small_starts = NOW.replace(hour=17, minute=5) + config.day_window_before
    small = Wedding("small", small_starts, small_starts + timedelta(hours=6), "America/New_York",
                    None, 50, "confirmed")  # fmt: skip
    minutes = pd.date_range(NOW, NOW + timedelta(days=1, hours=12), freq="min")
    produced = production_steps(migrated_database_url, config, api, forecast(), [big, small])
    schedule, replayed = production_floor([big, small], minutes, api, config, lambda at: None)
    assert [(s.at, s.action, s.before, s.after) for s in replayed] == produced
    during_small = schedule[minutes.searchsorted(small_starts)]
    assert during_small >= 2 > api.min_replicas  # small's 50 guests need 2 replicas
    assert [s[1] for s in produced] == ["raise", "restore"]
    assert produced[-1][0] > small.ends_at  # restored by small's own run


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


# -- the event-window target utilisation -------------------------------------------------------


class FakeHpa:
    """An autoscaling/v2 HPA (cpu at `averageUtilization` %) applying JSON patches."""

    PATH = "/apis/autoscaling/v2/namespaces/prod/horizontalpodautoscalers/web"

    def __init__(self, utilisation: int) -> None:
        self.obj = {
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "web", "namespace": "prod", "resourceVersion": "1"},
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                "minReplicas": 2,
                "maxReplicas": 40,
                "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {
                    "type": "Utilization", "averageUtilization": utilisation}}}],
            },
        }  # fmt: skip

    @property
    def utilisation(self) -> int:
        return self.obj["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"]

    def __call__(self, request: httpx.Request) -> httpx.Response:
        assert request.url.path == self.PATH
        if request.method == "PATCH":
            assert request.headers["content-type"] == "application/json-patch+json"
            ops = json.loads(request.content)
            path = "/spec/metrics/0/resource/target/averageUtilization"
            assert [op["op"] for op in ops] == ["test", "test", "replace"]
            assert ops[1] == {"op": "test", "path": path, "value": self.utilisation}
            self.obj["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"] = ops[2][
                "value"
            ]
        return httpx.Response(200, json=self.obj)


def hpa_settings(**event) -> Settings:
    target = CapacityTarget(name="web", kind="kubernetes-hpa", url="https://k8s.test:6443",
                            token="t", namespace="prod", resource="web", per_replica_rps=5.0,
                            min_replicas=2, max_replicas=40)  # fmt: skip
    return Settings(ops=OpsSettings(targets=[target], event_utilisation=event))


def production_utilisation_steps(url: str, config: Settings, baseline: int) -> list[tuple]:
    target = config.ops.targets[0]
    with psycopg.connect(url) as conn:
        for w in weddings():
            conn.execute(
                "INSERT INTO perf.weddings (wedding_id, source, starts_at, ends_at, timezone, "
                "guest_count, status) VALUES (%s, 'test', %s, %s, %s, %s, %s) "
                "ON CONFLICT DO NOTHING",
                (w.wedding_id, w.starts_at, w.ends_at, w.timezone, w.guest_count, w.status),
            )
        server = FakeHpa(baseline)
        actuator = KubernetesActuator(target, transport=httpx.MockTransport(server),
                                      retry_delays=())  # fmt: skip
        by_id = {w.wedding_id: w for w in weddings()}
        runs = [r for r in plan_wedding_ops(weddings(), now=NOW, settings=config)
                if r.target == target.name]  # fmt: skip
        assert {r.operation for r in runs} == {"utilisation-lower", "utilisation-restore"}
        steps = []
        for run in sorted(runs, key=lambda r: (r.scheduled_time, r.operation)):
            slot = [by_id[i] for i in run.wedding_ids if by_id[i].status != "cancelled"]
            if run.operation == "utilisation-lower":
                outcome = lower_utilisation(conn, actuator, target, slot, plan_id=run.plan_id,
                                            settings=config)  # fmt: skip
            else:
                outcome = restore_utilisation(conn, actuator, target, slot, plan_id=run.plan_id,
                                              settings=config, now=run.scheduled_time)  # fmt: skip
            if outcome.outcome == "done":
                steps.append((run.scheduled_time, outcome.action.removeprefix("utilisation_"),
                              outcome.before, outcome.after))  # fmt: skip
        assert server.utilisation == baseline  # restored after the last window
    return steps


def test_replay_and_production_set_the_same_utilisation(migrated_database_url: str) -> None:
    config = hpa_settings(utilisation=40)
    produced = production_utilisation_steps(migrated_database_url, config, baseline=90)
    minutes = pd.date_range(NOW, NOW + timedelta(days=1, hours=12), freq="min")
    schedule, replayed = production_utilisation(weddings(), minutes, config.ops.targets[0],
                                                config, 90)  # fmt: skip
    assert [(s.at, s.action, s.before, s.after) for s in replayed] == produced
    # The three windows overlap (11:00 to 05:00): lowered once, restored once after the last.
    assert [step[1:] for step in produced] == [("lower", 90, 40), ("restore", 40, 90)]
    # From the lead before every ceremony to its day window's end the event utilisation,
    # outside the baseline.
    lead = config.ops.event_utilisation.lead
    for w in weddings()[:3]:
        opens, closes = w.starts_at - lead, w.ends_at + config.day_window_after
        assert schedule[minutes.searchsorted(opens)] == 40
        assert schedule[minutes.searchsorted(closes) - 1] == 40
    assert schedule[0] == schedule[-1] == 90
    lowered_at = produced[0][0]
    assert schedule[minutes.searchsorted(lowered_at) - 1] == 90


def test_the_lead_moves_the_lowering_earlier() -> None:
    """Lowered `lead` before the ceremony (floored to the slot); a lead as long as the day
    window's opening lowers from the window's start."""
    minutes = pd.date_range(NOW, NOW + timedelta(days=1, hours=12), freq="min")

    def first_lowering(lead: timedelta):
        config = hpa_settings(utilisation=40, lead=lead)
        _, steps = production_utilisation(weddings(), minutes, config.ops.targets[0], config, 90)
        return steps[0].at

    ceremony = weddings()[0].starts_at
    assert first_lowering(timedelta(minutes=30)) == ceremony - timedelta(minutes=30)
    assert first_lowering(timedelta(hours=3)) == ceremony - timedelta(hours=3)
