"""The intensity nowcast: its decisions (pure), per-wedding requests read from Prometheus's
HTTP API (httpx.MockTransport, `query_range` matrices), and the watch round's step against
real PostgreSQL and the sandbox actuator (every change a row in perf.actions, the baseline
and who raised the floor in perf.capacity_state); the watch flow end to end here too
(`test_the_watch_round_*`, real Prefect and the sandbox app)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlparse

import httpx
import psycopg
import pytest
from conftest import store_weddings

from wedperf.calendar.model import Wedding
from wedperf.capacity.actuators import SandboxActuator
from wedperf.capacity.floor import restore_floor
from wedperf.capacity.nowcast import (
    assess,
    decide_nowcast_raise,
    decide_nowcast_restore,
    expected_requests,
    intensity,
    phase_spans,
    size_nowcast,
)
from wedperf.capacity.nowcast_round import nowcast_query, run_nowcast
from wedperf.capacity.plan import floor_hold, plan_wedding_ops
from wedperf.capacity.state import raised_targets, target_state
from wedperf.config import CapacityTarget, OpsSettings, PrometheusSettings, Settings
from wedperf.forecast.requests import wedding_requests
from wedperf.metrics.sources.prometheus import PrometheusSource

CEREMONY = datetime(2030, 6, 1, 18, 0, tzinfo=UTC)
OPENS = CEREMONY - timedelta(hours=3)
# A round 40 minutes into arrival: before (2 h) + 40 min of arrival expected so far.
ROUND = CEREMONY - timedelta(minutes=20)
STEP = 300


def wedding(wedding_id="w1", starts=CEREMONY, guests=200, status="confirmed") -> Wedding:
    return Wedding(wedding_id, starts, starts + timedelta(hours=6), "America/New_York", None,
                   guests, status)  # fmt: skip


def settings(**ops) -> Settings:
    ops.setdefault("targets", [CapacityTarget(name="app", url="http://app.test",
                                              per_replica_rps=2.0, max_replicas=40)])  # fmt: skip
    ops.setdefault("nowcast", {"enabled": True})  # off by default
    return Settings(ops=OpsSettings(**ops), prometheus={"url": "http://prom.test"})


# -- the expected curve and the decisions (pure) ---------------------------------------------


def test_phases_cover_the_day_window_in_order() -> None:
    spans = phase_spans(wedding(), settings())
    assert [p for p, _, _ in spans] == ["before", "arrival", "ceremony", "reception"]
    assert spans[0][1] == OPENS and spans[-1][2] == CEREMONY + timedelta(hours=6)
    assert all(a[2] == b[1] for a, b in zip(spans, spans[1:], strict=False))  # no gaps


def test_expected_requests_follow_the_phase_means_and_guests() -> None:
    config = settings()
    rates = config.ops.nowcast.phase_rates
    got = expected_requests(wedding(guests=200), OPENS, ROUND, config)
    want = 200 * (2 * 3600 * rates["before"].mean + 40 * 60 * rates["arrival"].mean)
    assert got == pytest.approx(want)
    assert expected_requests(wedding(guests=400), OPENS, ROUND, config) == pytest.approx(2 * want)


def test_intensity_is_shrunk_toward_one() -> None:
    assert intensity(4000, 2000, prior=0) == 2.0
    assert intensity(4000, 2000, prior=2000) == 1.5  # halfway at k = expected
    assert 1.0 < intensity(40_000, 20_000, prior=2000) < 2.0  # more evidence, less shrinkage
    assert intensity(0, 0, prior=0) == 1.0


def test_assessment_waits_for_enough_expected_requests() -> None:
    config = settings()
    expected = expected_requests(wedding(), OPENS, ROUND, config)
    hot, cool = wedding("hot"), wedding("cool")
    early = assess([hot], {"hot": 1e6}, OPENS + timedelta(minutes=5), config)
    assert early[0].intensity is None and not early[0].hot  # 5 minutes: too early to tell
    rows = {a.wedding_id: a for a in assess([hot, cool], {"hot": 3 * expected, "cool": expected},
                                            ROUND, config)}  # fmt: skip
    assert rows["hot"].hot and rows["hot"].intensity > config.ops.nowcast.threshold
    assert not rows["cool"].hot and rows["cool"].intensity == pytest.approx(1.0)


def test_size_scales_the_hot_weddings_and_adds_the_others_at_one() -> None:
    config = settings()
    target = config.ops.targets[0]
    hot, other = wedding("hot"), wedding("other", starts=CEREMONY + timedelta(hours=1))
    expected = expected_requests(hot, OPENS, ROUND, config)
    assessed = assess([hot, other], {"hot": 2 * expected, "other": 0.0}, ROUND, config)
    factor = next(a.intensity for a in assessed if a.wedding_id == "hot")
    sizing = size_nowcast(target, assessed, [hot, other], ROUND, config)
    peak = config.ops.nowcast.phase_rates["reception"].peak * 200
    # Both receptions overlap: the hot one's busiest minute x its intensity plus the other's.
    assert sizing.load_rps == pytest.approx(peak * factor + peak)
    assert sizing.hot == ["hot"] and sizing.until == hot.ends_at
    assert sizing.needed == min(40, -(-int(sizing.load_rps * 1.2 * 1000) // 2000))
    cool = assess([hot], {"hot": expected}, ROUND, config)
    assert size_nowcast(target, cool, [hot], ROUND, config) is None


def test_a_raise_never_lowers_nor_overwrites_someone_elses_floor() -> None:
    up = decide_nowcast_raise(needed=8, current_floor=3, maximum=20, baseline=None,
                              set_by_wedperf=None)  # fmt: skip
    assert up.new_floor == 8
    covered = decide_nowcast_raise(needed=8, current_floor=10, maximum=20, baseline=None,
                                   set_by_wedperf=None)  # fmt: skip
    assert covered.new_floor is None
    theirs = decide_nowcast_raise(needed=12, current_floor=5, maximum=20, baseline=3,
                                  set_by_wedperf=8)  # fmt: skip
    assert theirs.new_floor is None and "changed by someone else" in theirs.reason


def test_a_restore_waits_for_ceremonies_live_weddings_and_the_cooldown() -> None:
    base = dict(baseline=3, current_floor=8, set_by_wedperf=8, live_weddings=[], in_ceremony=[],
                last_change=ROUND, now=ROUND + timedelta(hours=1),
                cooldown=timedelta(minutes=15))  # fmt: skip
    assert decide_nowcast_restore(**base).new_floor == 3
    during = decide_nowcast_restore(**(base | {"in_ceremony": ["w1"]}))
    assert during.new_floor is None and "ceremony of w1" in during.reason
    live = decide_nowcast_restore(**(base | {"live_weddings": ["w2"]}))
    assert live.new_floor is None and "live" in live.reason
    soon = decide_nowcast_restore(**(base | {"now": ROUND + timedelta(minutes=5)}))
    assert soon.new_floor is None and soon.reason.startswith("cooldown")
    theirs = decide_nowcast_restore(**(base | {"current_floor": 12}))
    assert theirs.new_floor is None and "changed by someone else" in theirs.reason


# -- Prometheus (its HTTP API, mocked at the transport) --------------------------------------


def query_params(request: httpx.Request) -> dict[str, str]:
    """The query_range parameters: form-encoded in a POST body, or in a GET's URL."""
    if request.method == "POST":
        assert request.headers["content-type"] == "application/x-www-form-urlencoded"
        raw = request.read().decode()
    else:
        raw = urlparse(str(request.url)).query
    return {k: v[0] for k, v in parse_qs(raw).items()}


def selects(query: str, wedding_id: str) -> bool:
    """Whether the query's `wedding_id=~"..."` matcher selects this id, as Prometheus reads
    it: the string literal unescaped once, then the regex fully anchored."""
    literal = re.search(r'wedding_id=~"((?:[^"\\]|\\.)*)"', query).group(1)
    regex = re.sub(r"\\(.)", r"\1", literal)
    return re.fullmatch(regex, wedding_id) is not None


class Prometheus:
    """`query_range` answers in the documented matrix format: per wedding, `per_step`
    requests in every step of the queried range; or a timeout."""

    def __init__(self, per_step: dict[str, float], *, timeout: bool = False) -> None:
        self.per_step, self.timeout, self.queries = per_step, timeout, []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if self.timeout:
            raise httpx.ReadTimeout("timed out", request=request)
        assert request.url.path == "/api/v1/query_range"
        params = query_params(request)
        self.queries.append(params["query"])
        start, end = float(params["start"]), float(params["end"])
        step = int(params["step"].removesuffix("s"))
        stamps = [start + k * step for k in range(int((end - start) // step) + 1)]
        result = [
            {"metric": {"wedding_id": wid}, "values": [[t, str(n)] for t in stamps]}
            for wid, n in self.per_step.items()
            if selects(params["query"], wid)
        ]
        body = {"status": "success", "data": {"resultType": "matrix", "result": result}}
        return httpx.Response(200, json=body)


def source(server: Prometheus) -> PrometheusSource:
    return PrometheusSource(PrometheusSettings(url="http://prom.test"),
                            transport=httpx.MockTransport(server))  # fmt: skip


def test_wedding_requests_sums_each_weddings_steps_inside_its_window() -> None:
    server = Prometheus({"w1": 100.0, "w.2": 10.0, "other": 1e9})
    windows = {"w1": (OPENS, ROUND), "w.2": (ROUND - timedelta(minutes=30), ROUND)}
    got = wedding_requests(source(server), nowcast_query(settings()), windows,
                           step_seconds=STEP, label="wedding_id")  # fmt: skip
    assert got.requests == {"w1": 100.0 * (160 // 5), "w.2": 10.0 * 6}  # 32 and 6 steps
    assert got.with_series == {"w1", "w.2"} and got.refused == {}
    (query,) = server.queries
    assert 'wedding_id=~"w\\\\.2|w1"' in query and "[300s]" in query  # escaped, the step


# -- the watch round's step (real PostgreSQL, the sandbox actuator) ---------------------------


class App:
    """The sandbox app's /admin/capacity: the replicas, and every PUT."""

    def __init__(self, replicas: int = 3) -> None:
        self.replicas, self.puts = replicas, []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.method == "PUT":
            self.replicas = json.loads(request.content)["replicas"]
            self.puts.append(self.replicas)
        return httpx.Response(200, json={"replicas": self.replicas})


@pytest.fixture
def conn(migrated_database_url: str):
    with psycopg.connect(migrated_database_url) as conn:
        store_weddings(
            conn, (wedding("hot"), wedding("cool", starts=CEREMONY + timedelta(minutes=30)))
        )
        yield conn


LIVE = [wedding("hot"), wedding("cool", starts=CEREMONY + timedelta(minutes=30))]


def per_step(config: Settings, w: Wedding, times: float) -> float:
    """Requests per 5-minute step that make `w` run at `times` its expected load at ROUND."""
    opens = w.starts_at - config.day_window_before
    steps = (ROUND - opens).total_seconds() // STEP
    return times * expected_requests(w, opens, ROUND, config) / steps


def nowcast(conn, config, server, app, at=ROUND):
    actuator = SandboxActuator(config.ops.targets[0], transport=httpx.MockTransport(app))
    return run_nowcast(conn, LIVE, at, config, source=source(server),
                       actuator_for=lambda target: actuator)  # fmt: skip


def actions(conn) -> list[tuple]:
    return conn.execute(
        "SELECT kind, outcome, before, after FROM perf.actions ORDER BY action_id"
    ).fetchall()


def test_a_hot_wedding_raises_the_floor_once_per_round(conn) -> None:
    config = settings()
    server = Prometheus({"hot": per_step(config, LIVE[0], 3.0),
                         "cool": per_step(config, LIVE[1], 1.0)})  # fmt: skip
    app = App(replicas=3)
    result = nowcast(conn, config, server, app)
    assert result.skipped is None
    assert [a.wedding_id for a in result.assessed if a.hot] == ["hot"]
    (step,) = result.steps
    assert (step.action, step.outcome, step.before) == ("nowcast_raise", "done", 3)
    assert step.after > 3 and app.puts == [step.after] and "hot" in step.reason
    assert target_state(conn, "app").baseline == 3 and raised_targets(conn) == ["app"]
    row = conn.execute("SELECT plan_id, wedding_ids FROM perf.actions").fetchone()
    assert row == ("nowcast:app@20300601T174000.000000Z", ["hot"])

    again = nowcast(conn, config, server, app)  # the same round, retried
    assert again.steps[0].outcome == "done" and "already taken" in again.steps[0].reason
    assert app.puts == [step.after]  # not written again
    assert actions(conn) == [("nowcast_raise", "done", "3", str(step.after))]


def test_a_cool_wedding_changes_nothing(conn) -> None:
    config = settings()
    server = Prometheus({"hot": per_step(config, LIVE[0], 1.05),
                         "cool": per_step(config, LIVE[1], 0.5)})  # fmt: skip
    app = App()
    result = nowcast(conn, config, server, app)
    assert result.steps == [] and app.puts == [] and actions(conn) == []
    assert {a.wedding_id for a in result.assessed if a.intensity is not None} == {"hot", "cool"}


def test_no_lowering_during_a_ceremony_then_restore_after_the_windows(conn) -> None:
    config = settings()
    app = App(replicas=3)
    raised = nowcast(conn, config, Prometheus({"hot": per_step(config, LIVE[0], 3.0)}), app)
    high = raised.steps[0].after
    quiet = Prometheus({})  # later rounds: nobody hot any more (no requests at all)

    during = nowcast(conn, config, quiet, app, at=CEREMONY + timedelta(minutes=10))
    (step,) = during.steps
    assert (step.action, step.outcome) == ("nowcast_restore", "skipped")
    assert "ceremony of hot" in step.reason and app.replicas == high
    live = nowcast(conn, config, quiet, app, at=CEREMONY + timedelta(hours=3))
    assert live.steps[0].outcome == "skipped" and "live on the target" in live.steps[0].reason

    # Both windows closed, and their planned restores' times come (until then the plan's
    # runs count on the floor: plan.holding_floor).
    held = nowcast(conn, config, quiet, app, at=LIVE[1].ends_at + timedelta(minutes=5))
    assert held.steps[0].outcome == "skipped" and app.replicas == high
    closed = floor_hold(LIVE[1], config.ops.targets[0], config)[1]
    done = nowcast(conn, config, quiet, app, at=closed)
    assert (done.steps[0].outcome, done.steps[0].after) == ("done", 3)
    assert app.replicas == 3 and raised_targets(conn) == []
    after = nowcast(conn, config, quiet, app, at=closed + timedelta(minutes=5))
    assert after.steps == []  # nothing owed any more
    assert [r[:2] for r in actions(conn)] == [
        ("nowcast_raise", "done"),
        ("nowcast_restore", "skipped"),
        ("nowcast_restore", "skipped"),
        ("nowcast_restore", "skipped"),
        ("nowcast_restore", "done"),
    ]


def test_an_operators_change_is_never_restored_over(conn) -> None:
    config = settings()
    app = App(replicas=3)
    nowcast(conn, config, Prometheus({"hot": per_step(config, LIVE[0], 3.0)}), app)
    app.replicas = 30  # an operator's own floor during the day
    done = nowcast(conn, config, Prometheus({}), app, at=LIVE[1].ends_at + timedelta(minutes=5))
    assert done.steps[0].outcome == "skipped" and "changed by someone else" in done.steps[0].reason
    assert app.replicas == 30 and raised_targets(conn) == []  # theirs; no restore owed


def test_dry_run_records_but_does_not_write(conn) -> None:
    config = settings(mode="dry-run")
    forecast_only = settings(mode="forecast-only")
    app = App(replicas=3)
    result = nowcast(conn, config, Prometheus({"hot": per_step(config, LIVE[0], 3.0)}), app)
    assert result.steps[0].outcome == "dry-run" and result.steps[0].after > 3
    assert app.puts == [] and raised_targets(conn) == []
    assert actions(conn) == [("nowcast_raise", "dry-run", "3", str(result.steps[0].after))]
    planned = run_nowcast(conn, LIVE, ROUND + timedelta(minutes=5), forecast_only,
                          source=source(Prometheus({"hot": per_step(config, LIVE[0], 3.0)})),
                          actuator_for=lambda target: None)  # fmt: skip
    assert planned.steps[0].outcome == "planned" and app.puts == []


def test_prometheus_timing_out_skips_the_nowcast_with_the_reason(conn) -> None:
    config = settings()
    app = App(replicas=3)
    result = nowcast(conn, config, Prometheus({}, timeout=True), app)
    assert result.skipped is not None and "timed out" in result.skipped
    assert result.assessed == [] and result.steps == [] and app.puts == []
    assert "timed out" in result.markdown() and result.summary()["hot"] == []
    off = run_nowcast(conn, LIVE, ROUND, settings(nowcast={"enabled": False}), source=None,
                      actuator_for=lambda target: None)  # fmt: skip
    assert off.skipped == "ops.nowcast.enabled is false"


# -- the watch flow (real Prefect, PostgreSQL, the sandbox app; Prometheus over HTTP) ---------


def prometheus_app(per_step: dict[str, float]):
    """A Prometheus-shaped HTTP server: the `query_range` answers of `Prometheus`."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    fake = Prometheus(per_step)

    async def query_range(request: Request) -> Response:
        body = await request.body()
        answer = fake(httpx.Request(request.method, str(request.url), content=body,
                                    headers={"content-type": request.headers.get(
                                        "content-type", "")}))  # fmt: skip
        return Response(answer.content, media_type="application/json")

    return Starlette(routes=[Route("/api/v1/query_range", query_range, methods=["GET", "POST"])])


@pytest.mark.usefixtures("prefect_harness")
def test_the_watch_round_raises_the_sandbox_floor_for_a_hot_wedding(
    platform: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flows.watch_wedding_day import watch_wedding_day
    from wedperf.calendar import AppDbCalendarSource, sync_calendar
    from wedperf.config import reset_settings_cache
    from wedperf.serving import serve_in_thread

    hot = str(platform["live"][0])
    with serve_in_thread(prometheus_app({hot: 1e6})) as prometheus_url:
        monkeypatch.setenv("WEDPERF_PROMETHEUS__URL", prometheus_url)
        monkeypatch.setenv("WEDPERF_OPS__NOWCAST__ENABLED", "true")
        monkeypatch.setenv("WEDPERF_OPS__NOWCAST__MIN_EXPECTED_REQUESTS", "0")
        reset_settings_cache()
        with psycopg.connect(platform["url"]) as conn:
            sync_calendar(conn, AppDbCalendarSource(platform["url"]), now=platform["now"])
        before = httpx.get(f"{platform['base_url']}/admin/capacity").json()["replicas"]
        result = watch_wedding_day(publish_artifacts=False)
        after = httpx.get(f"{platform['base_url']}/admin/capacity").json()["replicas"]
    reset_settings_cache()
    nowcast = result["nowcast"]
    assert nowcast["skipped"] is None and nowcast["hot"] == [hot]
    (step,) = nowcast["steps"]
    assert (step["action"], step["outcome"], step["before"]) == ("nowcast_raise", "done", before)
    assert after == step["after"] > before
    with psycopg.connect(platform["url"]) as conn:
        rows = conn.execute(
            "SELECT kind, outcome, wedding_ids FROM perf.actions WHERE kind LIKE 'nowcast%'"
        ).fetchall()
    assert rows == [("nowcast_raise", "done", [hot])]


# -- the replay makes the production step's changes ------------------------------------------


class RecordedPrometheus:
    """`query_range` over per-minute requests/s arrays (per wedding: first minute offset,
    values), as Prometheus's increase per step would answer it."""

    def __init__(self, first: datetime, observed: dict) -> None:
        self.first, self.observed = first, observed

    def __call__(self, request: httpx.Request) -> httpx.Response:
        params = query_params(request)
        start, end = float(params["start"]), float(params["end"])
        step = int(params["step"].removesuffix("s"))
        base = self.first.timestamp()
        result = []
        for wid, (lo, rps) in self.observed.items():
            if not selects(params["query"], wid):
                continue
            values = []
            t = start
            while t <= end:
                a = int((t - step - base) // 60) - lo
                b = int((t - base) // 60) - lo
                values.append([t, str(float(rps[max(a, 0) : max(b, 0)].sum() * 60))])
                t += step
            result.append({"metric": {"wedding_id": wid}, "values": values})
        body = {"status": "success", "data": {"resultType": "matrix", "result": result}}
        return httpx.Response(200, json=body)


def test_the_replay_makes_the_changes_the_production_step_makes(conn) -> None:
    import numpy as np
    import pandas as pd

    from wedperf.calendar.schedule import window_grid_times
    from wedperf.capacity.replay import production_nowcast
    from wedperf.critical_path.round import live_weddings

    config = settings()
    target = config.ops.targets[0]
    first = OPENS - timedelta(hours=1)
    minutes = pd.date_range(first, LIVE[1].ends_at + timedelta(hours=2), freq="min")
    rates = config.ops.nowcast.phase_rates
    observed = {}
    for w, times in zip(LIVE, (3.0, 1.0), strict=True):
        rps = np.zeros(len(minutes))
        for phase, lo, hi in phase_spans(w, config):
            a, b = minutes.searchsorted(pd.Timestamp(lo)), minutes.searchsorted(pd.Timestamp(hi))
            rps[a:b] = times * rates[phase].mean * w.guest_count
        observed[w.wedding_id] = (0, rps)

    _, replayed = production_nowcast(LIVE, minutes, target, config, observed)
    # Hot: raised (higher as the evidence grows and shrinks less), then restored once.
    assert {s.action for s in replayed[:-1]} == {"raise"} and replayed[-1].action == "restore"
    assert replayed[-1].after == target.min_replicas

    app = App(replicas=target.min_replicas)
    prometheus = source(RecordedPrometheus(first, observed))
    actuator = SandboxActuator(target, transport=httpx.MockTransport(app))
    done = []
    rounds = window_grid_times(
        [w.day_window(config.day_window_before, config.day_window_after) for w in LIVE],
        now=first, horizon=minutes[-1] - minutes[0], interval=config.critical_path.interval,
    )  # fmt: skip
    for at in rounds:
        live = live_weddings(conn, at, config)
        result = run_nowcast(conn, live, at, config, source=prometheus,
                             actuator_for=lambda t: actuator)  # fmt: skip
        done += [(at, s.action.removeprefix("nowcast_"), s.before, s.after)
                 for s in result.steps if s.outcome == "done"]  # fmt: skip
    # The rounds end inside the plan's hold (plan.holding_floor, up to the weddings' restore
    # times): the hourly plan-wedding-ops (at :05) owes the raised target a floor-restore.
    plan_at = rounds[-1].replace(minute=5) + timedelta(hours=1)
    (owed,) = [r for r in plan_wedding_ops(LIVE, now=plan_at, settings=config,
                                           raised_targets=raised_targets(conn))
               if r.operation == "floor-restore"]  # fmt: skip
    outcome = restore_floor(conn, actuator, target, [], plan_id=owed.plan_id, settings=config,
                            now=owed.scheduled_time)  # fmt: skip
    done.append((owed.scheduled_time, "restore", outcome.before, outcome.after))
    assert done == [(s.at, s.action, s.before, s.after) for s in replayed]
    assert app.replicas == target.min_replicas


def instead_of_the_cool_one(conn, wedding) -> None:
    """The calendar's cool wedding replaced by `wedding`."""
    conn.execute("DELETE FROM perf.weddings WHERE wedding_id = 'cool'")
    conn.execute(
        "INSERT INTO perf.weddings (wedding_id, source, starts_at, ends_at, timezone, "
        "guest_count, status) VALUES (%s, 'test', %s, %s, %s, %s, %s)",
        (wedding.wedding_id, wedding.starts_at, wedding.ends_at, wedding.timezone,
         wedding.guest_count, wedding.status),
    )  # fmt: skip
    conn.commit()


def test_a_restore_waits_for_a_wedding_whose_planned_raise_has_run(conn) -> None:
    """A planned raise for a later wedding (its raise runs up to floor_buffer + slot before
    its window opens), then a nowcast raise for a hot one: the round after the hot one's
    window closes must not put the baseline back under the later wedding's raise."""
    from wedperf.capacity.floor import raise_floor

    config = settings()
    target = config.ops.targets[0]
    closes = LIVE[0].ends_at  # the hot wedding's day window closes (day_window_after 0)
    later = wedding("later", starts=closes + timedelta(minutes=20) + config.day_window_before)
    instead_of_the_cool_one(conn, later)
    app = App(replicas=3)
    actuator = SandboxActuator(target, transport=httpx.MockTransport(app))
    planned = raise_floor(conn, actuator, target, [later], plan_id="floor-raise:app@x",
                          settings=config)  # fmt: skip
    assert (planned.outcome, planned.before) == ("done", 3) and planned.after > 3
    hot = run_nowcast(conn, [LIVE[0]], ROUND, config,
                      source=source(Prometheus({"hot": per_step(config, LIVE[0], 3.0)})),
                      actuator_for=lambda t: actuator)  # fmt: skip
    high = hot.steps[0].after
    assert hot.steps[0].before == planned.after and high > planned.after

    after = run_nowcast(conn, [], closes + timedelta(minutes=5), config,
                        source=source(Prometheus({})), actuator_for=lambda t: actuator)  # fmt: skip
    # The planned raise stays the one in force (raised_by): the nowcast leaves it alone.
    assert target_state(conn, "app").raised_by == "capacity_raise"
    assert after.steps == [] and app.replicas == high  # held for the later wedding


def test_the_nowcast_restores_only_a_floor_it_raised(conn, monkeypatch) -> None:
    """A remediation scale-up on top of the nowcast's raise: the floor in force is the
    scale-up's (perf.capacity_state.raised_by), so the nowcast leaves it to the plan's
    owed restore, even with nothing holding the floor."""
    from wedperf.remediation import playbooks

    config = settings()
    app = App(replicas=3)
    actuator = SandboxActuator(config.ops.targets[0], transport=httpx.MockTransport(app))
    raised = nowcast(conn, config, Prometheus({"hot": per_step(config, LIVE[0], 1.5)}), app)
    high = raised.steps[0].after
    assert 3 < high < 39  # room for the scale-up
    assert target_state(conn, "app").raised_by == "nowcast_raise"
    monkeypatch.setattr(playbooks, "build_actuator", lambda resolved: actuator)
    (scaled,) = playbooks.scale_up(conn, config, step=2, only="app", dry_run=False)
    assert scaled.outcome == "done" and app.replicas == high + 2
    assert target_state(conn, "app").raised_by == "scale_up"

    closed = floor_hold(LIVE[1], config.ops.targets[0], config)[1]  # nothing holds it
    later = nowcast(conn, config, Prometheus({}), app, at=closed)
    assert later.steps == [] and app.replicas == high + 2
    assert raised_targets(conn) == ["app"]  # still owed: the plan's restore puts it back


def test_a_nowcast_restore_clears_who_raised_the_floor(conn) -> None:
    config = settings()
    app = App(replicas=3)
    nowcast(conn, config, Prometheus({"hot": per_step(config, LIVE[0], 3.0)}), app)
    closed = floor_hold(LIVE[1], config.ops.targets[0], config)[1]
    done = nowcast(conn, config, Prometheus({}), app, at=closed)
    assert (done.steps[0].outcome, app.replicas) == ("done", 3)
    state = target_state(conn, "app")
    assert (state.baseline, state.raised_by, state.floor) == (None, None, 3)


def test_the_cooldown_counts_from_the_raising_rounds_instant(conn) -> None:
    """The cooldown is measured on the rounds' clock: a raise in the round at 23:55 keeps a
    90-minute cooldown until 01:25 of the rounds' time, whenever the rows were written."""
    config = settings(cooldown=timedelta(minutes=90))
    app = App(replicas=3)
    late = LIVE[0].ends_at - timedelta(minutes=5)
    raised = nowcast(conn, config, Prometheus({"hot": 1e6}), app, at=late)
    assert raised.steps[0].outcome == "done" and app.replicas > 3
    assert target_state(conn, "app").changed_at == late
    free = floor_hold(LIVE[1], config.ops.targets[0], config)[1]  # 01:00, nothing holds it
    held = nowcast(conn, config, Prometheus({}), app, at=free)
    assert held.steps[0].outcome == "skipped" and held.steps[0].reason.endswith(
        "cooldown: last change 1:05:00 ago"
    )
    done = nowcast(conn, config, Prometheus({}), app, at=free + timedelta(minutes=30))
    assert (done.steps[0].outcome, app.replicas) == ("done", 3)
    assert target_state(conn, "app").changed_at == free + timedelta(minutes=30)


# -- Prometheus reads: one client, POST, ids that cannot go in a query, blind weddings -------


def test_wedding_requests_post_every_chunk_through_one_client(monkeypatch) -> None:
    server = Prometheus({"w1": 1.0, "w10": 5.0})
    prom = source(server)
    opened = []
    real = prom.client
    monkeypatch.setattr(prom, "client", lambda: opened.append(1) or real())
    monkeypatch.setattr("wedperf.forecast.requests.IDS_PER_QUERY", 1)  # two chunks
    got = wedding_requests(prom, nowcast_query(settings()), {"w1": (OPENS, ROUND),
                           "w10": (OPENS, ROUND)}, step_seconds=STEP,
                           label="wedding_id")  # fmt: skip
    assert got.requests == {"w1": 32.0, "w10": 160.0}  # w1's matcher does not select w10
    assert len(server.queries) == 2 and opened == [1]


def test_wedding_requests_stop_between_chunks_at_the_deadline(monkeypatch) -> None:
    import time

    from wedperf.metrics.model import SourceError

    class SlowPrometheus(Prometheus):
        def __call__(self, request):
            time.sleep(0.3)
            return super().__call__(request)

    server = SlowPrometheus({"w1": 1.0, "w10": 5.0})
    monkeypatch.setattr("wedperf.forecast.requests.IDS_PER_QUERY", 1)  # two chunks
    deadline = datetime.now(UTC) + timedelta(seconds=0.2)
    with pytest.raises(SourceError, match="deadline has passed"):
        wedding_requests(source(server), nowcast_query(settings()), {"w1": (OPENS, ROUND),
                         "w10": (OPENS, ROUND)}, step_seconds=STEP, label="wedding_id",
                         deadline=deadline)  # fmt: skip
    assert len(server.queries) == 1  # the second chunk was not sent


def test_an_id_that_cannot_go_in_promql_is_left_out_not_the_others() -> None:
    server = Prometheus({"w1": 1.0, 'q"uote': 2.0})
    windows = {"w1": (OPENS, ROUND), "bad\nid": (OPENS, ROUND), 'q"uote': (OPENS, ROUND),
               "$step": (OPENS, ROUND)}  # fmt: skip
    got = wedding_requests(source(server), nowcast_query(settings()), windows,
                           step_seconds=STEP, label="wedding_id")  # fmt: skip
    assert set(got.refused) == {"bad\nid"} and "control character" in got.refused["bad\nid"]
    assert got.requests["w1"] == 32.0 and got.requests['q"uote'] == 64.0
    (query,) = server.queries
    assert "\n" not in query and "[300s]" in query and "\\\\$step" in query  # id kept literal


def test_weddings_without_a_series_are_reported_and_none_at_all_skips(conn) -> None:
    config = settings()
    app = App(replicas=3)
    some = nowcast(conn, config, Prometheus({"hot": per_step(config, LIVE[0], 1.0)}), app)
    assert some.skipped is None and some.blind == {"cool": "no series in Prometheus"}
    assert [a.wedding_id for a in some.assessed] == ["hot"] and some.summary()["blind"] == 1
    assert "cool (no series in Prometheus)" in some.markdown()
    none = nowcast(conn, config, Prometheus({}), app, at=ROUND + timedelta(minutes=5))
    assert none.skipped.startswith("Prometheus returned no series for any of the 2 wedding(s)")
    assert none.assessed == [] and app.puts == []


def test_the_default_query_uses_the_configured_wedding_label() -> None:
    config = Settings(ops=OpsSettings(nowcast={"enabled": True}),
                      prometheus={"url": "http://prom.test", "wedding_label": "event"})  # fmt: skip
    query = nowcast_query(config)
    assert query.startswith("sum by (event) (") and 'event=~"$wedding_ids"' in query
    assert "$label" not in query


# -- one bad target does not stop the others -------------------------------------------------


class Broken:
    def read(self):
        raise RuntimeError("actuator unreachable")


def test_a_failing_target_is_recorded_and_the_others_go_on(conn) -> None:
    targets = [CapacityTarget(name=n, url="http://app.test", per_replica_rps=2.0, max_replicas=40)
               for n in ("broken", "app")]  # fmt: skip
    config = settings(targets=targets)
    app = App(replicas=3)
    good = SandboxActuator(targets[1], transport=httpx.MockTransport(app))
    result = run_nowcast(conn, LIVE, ROUND, config,
                         source=source(Prometheus({"hot": per_step(config, LIVE[0], 3.0)})),
                         actuator_for=lambda t: good if t.name == "app" else Broken())  # fmt: skip
    failed, raised = result.steps
    assert (failed.target, failed.outcome) == ("broken", "failed")
    assert "actuator unreachable" in failed.reason
    assert (raised.target, raised.outcome) == ("app", "done") and app.replicas > 3
    rows = conn.execute("SELECT kind, target, outcome FROM perf.actions ORDER BY action_id")
    assert rows.fetchall() == [("nowcast", "broken", "failed"), ("nowcast_raise", "app", "done")]


# -- settings --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("nowcast", "message"),
    [
        ({"step": timedelta(0)}, "step must be whole seconds and at least 0:01:00"),
        ({"step": timedelta(seconds=30)}, "at least 0:01:00"),
        ({"horizon": timedelta(minutes=-5)}, "horizon must be >= 0 or unset"),
        ({"threshold": 1.0}, "threshold must be above 1"),
        ({"query": "sum(rate(x[5m]))"}, "query must contain $wedding_ids"),
        ({"phase_rates": {"before": {"mean": 0.01, "peak": 0.005}}}, "cannot be below its mean"),
        ({"phase_rates": {p: {"mean": 0.01, "peak": 0.01}
                          for p in ("before", "arrival", "ceremony")}}, "missing reception"),
        ({"phase_rates": {p: {"mean": 0.01, "peak": 0.01}
                          for p in ("before", "arrival", "ceremony", "reception", "party")}},
         "unknown party"),
    ],
)  # fmt: skip
def test_nowcast_settings_are_validated(nowcast, message) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match=re.escape(message)):
        OpsSettings(nowcast=nowcast)
    assert OpsSettings(nowcast={"horizon": timedelta(0), "threshold": 1.01}).nowcast.horizon == (
        timedelta(0)
    )


# -- the watch flow: off means no task; slow or failing never holds the round ---------------


def sync(platform) -> None:
    from wedperf.calendar import AppDbCalendarSource, sync_calendar

    with psycopg.connect(platform["url"]) as conn:
        sync_calendar(conn, AppDbCalendarSource(platform["url"]), now=platform["now"])


class NotSubmitted:
    def submit(self, *args, **kwargs):
        raise AssertionError("the nowcast task was submitted while ops.nowcast.enabled is false")


@pytest.mark.usefixtures("prefect_harness")
def test_the_watch_round_submits_no_nowcast_when_it_is_off(platform, monkeypatch) -> None:
    import flows.watch_wedding_day as flow_module

    sync(platform)
    monkeypatch.setattr(flow_module, "nowcast_step", NotSubmitted())
    result = flow_module.watch_wedding_day(publish_artifacts=False)
    assert result["nowcast"]["skipped"] == "ops.nowcast.enabled is false"
    assert result["weddings"] == len(platform["live"])  # the checks ran


@pytest.mark.usefixtures("prefect_harness")
@pytest.mark.parametrize("behaviour", ["slow", "failing"])
def test_a_slow_or_failing_nowcast_is_reported_not_the_rounds(
    platform, monkeypatch, behaviour
) -> None:
    import asyncio
    import time

    from prefect import task
    from starlette.applications import Starlette
    from starlette.routing import Route

    import flows.watch_wedding_day as flow_module
    from wedperf.config import reset_settings_cache
    from wedperf.serving import serve_in_thread

    @task(name="nowcast-step")
    def fake_nowcast(live, at, deadline=None):
        raise RuntimeError("prometheus exploded")

    async def slow_query_range(request):  # answers after Prometheus's 10 s timeout
        await asyncio.sleep(12)

    slow = Starlette(routes=[Route("/api/v1/query_range", slow_query_range,
                                   methods=["GET", "POST"])])  # fmt: skip
    sync(platform)
    with serve_in_thread(slow) as prometheus_url:
        monkeypatch.setenv("WEDPERF_OPS__NOWCAST__ENABLED", "true")
        monkeypatch.setenv("WEDPERF_PROMETHEUS__URL", prometheus_url)
        reset_settings_cache()
        if behaviour == "failing":
            monkeypatch.setattr(flow_module, "nowcast_step", fake_nowcast)
        share = 0.004  # 1.2 s of a 5-minute interval
        monkeypatch.setattr(flow_module, "DEADLINE_SHARE", share)
        started = time.monotonic()
        result = flow_module.watch_wedding_day(publish_artifacts=False)
        took = time.monotonic() - started
    reset_settings_cache()
    skipped = result["nowcast"]["skipped"]
    if behaviour == "slow":
        # Reported late or as its own timeout at the deadline, whichever the flow saw first;
        # either way the round is not held for Prometheus's whole timeout.
        assert skipped.startswith(("nowcast step still running at the round's nowcast "
                                   "deadline", "observed load unavailable")), skipped  # fmt: skip
        assert took < share * 300 + 5, took
    else:
        assert skipped.startswith("nowcast step failed") and "prometheus exploded" in skipped
    assert result["weddings"] == len(platform["live"])  # the checks ran and were reported


def test_rounds_at_different_instants_of_a_minute_are_different_steps(conn) -> None:
    config = settings()
    app = App(replicas=3)
    nowcast(conn, config, Prometheus({"hot": per_step(config, LIVE[0], 1.5)}), app)
    later = nowcast(conn, config, Prometheus({"hot": per_step(config, LIVE[0], 3.0)}), app,
                    at=ROUND + timedelta(seconds=30))  # fmt: skip
    assert "already taken" not in later.steps[0].reason and later.steps[0].outcome == "done"
    assert len(set(app.puts)) == 2  # both rounds raised


def test_an_operators_change_seen_on_the_raise_path_forgets_the_baseline(conn) -> None:
    """The floor changed by someone else while the wedding still runs hot: no restore is
    owed any more, so the plan's restore later leaves their value alone."""
    config = settings()
    app = App(replicas=3)
    actuator = SandboxActuator(config.ops.targets[0], transport=httpx.MockTransport(app))
    hot = Prometheus({"hot": per_step(config, LIVE[0], 1.5)})
    nowcast(conn, config, hot, app)
    app.replicas = 20  # an operator's floor
    again = nowcast(conn, config, hot, app, at=ROUND + timedelta(minutes=5))
    assert again.steps[0].outcome == "skipped" and "someone else" in again.steps[0].reason
    assert raised_targets(conn) == [] and target_state(conn, "app").raised_by is None
    closed = floor_hold(LIVE[1], config.ops.targets[0], config)[1]
    planned = restore_floor(conn, actuator, config.ops.targets[0], LIVE,
                            plan_id="floor-restore:app@x", settings=config, now=closed)  # fmt: skip
    assert planned.outcome == "skipped" and app.replicas == 20  # theirs, kept


def test_a_skipped_step_is_recorded_only_when_it_changes(conn) -> None:
    config = settings()
    app = App(replicas=3)
    nowcast(conn, config, Prometheus({"hot": per_step(config, LIVE[0], 3.0)}), app)
    quiet = Prometheus({"hot": 0.0, "cool": 0.0})  # series, none hot
    reasons = []
    for minutes in (120, 125, 130):  # the same reason: live weddings (ceremonies over)
        result = nowcast(conn, config, quiet, app, at=CEREMONY + timedelta(minutes=minutes))
        reasons.append(result.steps[0].reason)
    assert all("live on the target" in r for r in reasons)
    assert "not recorded again" in reasons[1] and "not recorded again" in reasons[2]
    assert [r[:2] for r in actions(conn)] == [("nowcast_raise", "done"),
                                              ("nowcast_restore", "skipped")]  # fmt: skip


def test_a_planned_restore_keeps_a_raise_skipped_because_the_nowcast_covered_it(conn) -> None:
    """The other order: the nowcast raises for the hot wedding, the later wedding's planned
    raise is skipped (the nowcast's floor covers it), then the hot wedding's planned restore
    must not drop the floor the later wedding counts on."""
    from wedperf.capacity.floor import raise_floor

    config = settings()
    target = config.ops.targets[0]
    hot_restore = floor_hold(LIVE[0], target, config)[1]  # ceil(00:00 + 15 min) = 00:30
    # The later wedding's raise runs at floor(opens - 10 min, 30 min) = 00:30 too: it opens
    # at 00:35, 5 minutes beyond the floor buffer of that restore.
    later = wedding("later", starts=hot_restore + timedelta(minutes=35) + config.day_window_before,
                    guests=50)  # fmt: skip
    instead_of_the_cool_one(conn, later)
    app = App(replicas=1)
    actuator = SandboxActuator(target, transport=httpx.MockTransport(app))
    hot = run_nowcast(conn, [LIVE[0]], ROUND, config,
                      source=source(Prometheus({"hot": per_step(config, LIVE[0], 3.0)})),
                      actuator_for=lambda t: actuator)  # fmt: skip
    high = hot.steps[0].after
    skipped = raise_floor(conn, actuator, target, [later], plan_id="floor-raise:later",
                          settings=config)  # fmt: skip
    assert skipped.outcome == "skipped" and "already covers" in skipped.reason
    held = restore_floor(conn, actuator, target, [LIVE[0]], plan_id="floor-restore:hot",
                         settings=config, now=hot_restore)  # fmt: skip
    assert held.outcome == "skipped" and "later" in held.reason and app.replicas == high


def test_a_planned_restore_started_early_is_not_held_by_its_own_wedding(conn) -> None:
    """Prefect may start the restore's run before its slot (and clocks skew): decided at the
    slot time, the wedding whose hold ends there does not hold its own restore."""
    from wedperf.capacity.floor import raise_floor, step_instant

    config = settings()
    target = config.ops.targets[0]
    conn.execute("DELETE FROM perf.weddings WHERE wedding_id = 'cool'")
    conn.commit()
    app = App(replicas=1)
    actuator = SandboxActuator(target, transport=httpx.MockTransport(app))
    raised = raise_floor(conn, actuator, target, [LIVE[0]], plan_id="floor-raise:hot",
                         settings=config)  # fmt: skip
    assert raised.outcome == "done" and app.replicas > 1
    restore_at = floor_hold(LIVE[0], target, config)[1]
    early = restore_at - timedelta(seconds=1)
    assert step_instant(early, None) == early
    restored = restore_floor(conn, actuator, target, [LIVE[0]], plan_id="floor-restore:hot",
                             settings=config,
                             now=step_instant(early, restore_at.isoformat()))  # fmt: skip
    assert restored.outcome == "done" and app.replicas == 1


def test_a_restore_held_by_a_later_wedding_is_retried_when_its_hold_ends(conn) -> None:
    from wedperf.capacity.floor import raise_floor

    config = settings()
    target = config.ops.targets[0]
    app = App(replicas=1)
    actuator = SandboxActuator(target, transport=httpx.MockTransport(app))
    raise_floor(conn, actuator, target, LIVE, plan_id="floor-raise:both", settings=config)
    hot_restore, cool_restore = (floor_hold(w, target, config)[1] for w in LIVE)
    assert cool_restore > hot_restore
    held = restore_floor(conn, actuator, target, [LIVE[0]], plan_id="floor-restore:hot",
                         settings=config, now=hot_restore)  # fmt: skip
    assert held.outcome == "skipped" and "cool" in held.reason
    assert held.retry_at == cool_restore + timedelta(seconds=5)
    retried = restore_floor(conn, actuator, target, [LIVE[0]], plan_id="floor-restore:hot+retry",
                            settings=config, now=held.retry_at)  # fmt: skip
    assert retried.outcome == "done" and app.replicas == 1


def test_a_nowcast_raise_over_a_planned_raise_leaves_it_the_planned_restores(conn) -> None:
    """The nowcast raising over the plan's raise keeps raised_by the plan's, so the nowcast's
    restore does not undo the planned raise; the plan's restore puts the baseline back."""
    from wedperf.capacity.floor import raise_floor

    config = settings()
    target = config.ops.targets[0]
    app = App(replicas=1)
    actuator = SandboxActuator(target, transport=httpx.MockTransport(app))
    planned = raise_floor(conn, actuator, target, LIVE, plan_id="floor-raise:both",
                          settings=config)  # fmt: skip
    assert planned.outcome == "done"
    hot = nowcast(conn, config, Prometheus({"hot": per_step(config, LIVE[0], 3.0)}), app)
    assert hot.steps[0].outcome == "done" and app.replicas > planned.after
    assert target_state(conn, "app").raised_by == "capacity_raise"
    closed = floor_hold(LIVE[1], target, config)[1]
    later = nowcast(conn, config, Prometheus({}), app, at=closed)
    assert later.steps == [] and raised_targets(conn) == ["app"]
    restored = restore_floor(conn, actuator, target, LIVE, plan_id="floor-restore:both",
                             settings=config, now=closed)  # fmt: skip
    assert restored.outcome == "done" and app.replicas == 1


def test_the_nowcast_leaves_a_floor_that_is_not_wedperfs_to_raise(conn) -> None:
    config = settings(floor="never")
    app = App(replicas=3)
    result = nowcast(conn, config, Prometheus({"hot": per_step(config, LIVE[0], 3.0)}), app)
    assert result.summary()["hot"] == ["hot"]
    (step,) = result.steps
    assert step.outcome == "skipped" and "ops.floor is 'never'" in step.reason
    assert app.puts == [] and app.replicas == 3 and raised_targets(conn) == []


def test_the_floor_helpers_judge_ownership_and_a_raise_in_force() -> None:
    """One test of whose floor it is (the nowcast's and scale_up's) and one of the raise in
    force, both in wedperf.capacity.floor."""
    from wedperf.capacity.floor import floor_changed_by_someone_else, raise_in_force
    from wedperf.capacity.state import TargetState

    assert floor_changed_by_someone_else(1, 2, 6)  # neither ours (6) nor the baseline (2)
    assert not floor_changed_by_someone_else(6, 2, 6)  # ours
    assert not floor_changed_by_someone_else(2, 2, 6)  # our write never took effect
    assert not floor_changed_by_someone_else(1, None, 6)  # no raise in force
    raised = TargetState(2, 6, None, "nowcast_raise")
    assert raise_in_force(raised) == 6
    assert raise_in_force(raised, by="nowcast_raise") == 6
    assert raise_in_force(raised, by="scale_up") is None
    assert raise_in_force(TargetState(None, 6, None, None)) is None
