"""The event-window target utilisation: its decisions (pure), the planner's runs, and the
production step against real PostgreSQL and a Kubernetes HPA behind httpx.MockTransport
(every change and restore a row in perf.actions, the baseline kept in
perf.capacity_utilisation)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import httpx
import psycopg
import pytest

from wedperf.calendar.model import Wedding
from wedperf.capacity.actuators import ActuatorError, KubernetesActuator
from wedperf.capacity.event_utilisation import lower_utilisation, restore_utilisation
from wedperf.capacity.plan import plan_wedding_ops
from wedperf.capacity.state import lowered_targets, raised_targets, utilisation_state
from wedperf.capacity.utilisation import (
    ceremonies_in_progress,
    decide_lower,
    decide_utilisation_restore,
)
from wedperf.config import CapacityTarget, OpsSettings, Settings

NOW = datetime(2030, 6, 1, 6, 0, tzinfo=UTC)
CEREMONY = NOW.replace(hour=14)
HPA_PATH = "/apis/autoscaling/v2/namespaces/prod/horizontalpodautoscalers/web"


def wedding(wedding_id: str = "w1", starts: datetime = CEREMONY, status="confirmed") -> Wedding:
    return Wedding(wedding_id, starts, starts + timedelta(hours=6), "America/New_York", None,
                   120, status)  # fmt: skip


def hpa_target(**kw) -> CapacityTarget:
    return CapacityTarget(name="web", kind="kubernetes-hpa", url="https://k8s.test:6443",
                          token="t", namespace="prod", resource="web", **kw)  # fmt: skip


def settings(**ops) -> Settings:
    ops.setdefault("targets", [hpa_target(), CapacityTarget(name="sandbox", url="http://s")])
    ops.setdefault("event_utilisation", {"utilisation": 40})
    return Settings(ops=OpsSettings(**ops))


# -- decisions ---------------------------------------------------------------------------------


def test_lowering_never_raises_the_target_utilisation() -> None:
    assert decide_lower(event=40, current=90).new == 40
    assert decide_lower(event=40, current=40).new is None
    assert decide_lower(event=40, current=30).new is None  # below already: left alone
    assert decide_lower(event=40, current=None).new is None


def test_a_lowering_never_overwrites_someone_elses_change() -> None:
    """A lowering in force (baseline 90, wedperf set 40) that finds another value: theirs."""
    theirs = decide_lower(event=40, current=55, baseline=90, set_by_wedperf=40)
    assert theirs.new is None and theirs.forget_baseline
    assert "changed by someone else" in theirs.reason
    # Still wedperf's own value: nothing to do, the restore still owed.
    ours = decide_lower(event=40, current=40, baseline=90, set_by_wedperf=40)
    assert ours.new is None and not ours.forget_baseline
    # At the baseline: the last lowering never took effect; lowered as a new one.
    assert decide_lower(event=40, current=90, baseline=90, set_by_wedperf=40).new == 40
    assert decide_lower(event=35, current=40, baseline=90, set_by_wedperf=40).new == 35


def test_a_lowering_that_never_took_effect_is_forgotten_by_the_restore() -> None:
    """The intent is recorded before the write: at the baseline, the write never happened."""
    decision = restore(current=90, set_by_wedperf=40)
    assert decision.new is None and decision.forget_baseline
    assert "already at baseline" in decision.reason


def restore(**kw):
    args = dict(baseline=90, current=40, set_by_wedperf=40, live=[], in_ceremony=[],
                last_change=NOW - timedelta(hours=1), now=NOW,
                cooldown=timedelta(minutes=15))  # fmt: skip
    return decide_utilisation_restore(**(args | kw))


def test_restore_puts_the_baseline_back_after_the_window() -> None:
    decision = restore()
    assert decision.new == 90 and "restore" in decision.reason


def test_no_scale_in_during_a_ceremony() -> None:
    """Raising the target utilisation is a scale-in: never while a ceremony is under way,
    even if the day window were configured not to cover it."""
    in_progress = ceremonies_in_progress([wedding()], CEREMONY + timedelta(minutes=20),
                                         timedelta(minutes=45))  # fmt: skip
    assert in_progress == ["w1"]
    assert ceremonies_in_progress([wedding()], CEREMONY + timedelta(hours=1),
                                  timedelta(minutes=45)) == []  # fmt: skip
    decision = restore(in_ceremony=in_progress)
    assert decision.new is None and "ceremony of w1 in progress" in decision.reason
    assert not decision.forget_baseline  # still owed


def test_restore_waits_for_live_weddings_and_the_cooldown() -> None:
    assert restore(live=["w2"]).new is None
    held = restore(last_change=NOW - timedelta(minutes=5))
    assert held.new is None and held.reason.startswith("cooldown")


def test_someone_elses_value_is_left_alone() -> None:
    decision = restore(current=60)
    assert decision.new is None and decision.forget_baseline
    assert "changed by someone else" in decision.reason
    assert restore(baseline=None).new is None


# -- the plan ----------------------------------------------------------------------------------


def test_the_plan_lowers_and_restores_hpa_targets_only() -> None:
    config = settings()
    runs = plan_wedding_ops([wedding()], now=NOW, settings=config)
    utilisation = {r.operation: r for r in runs if r.operation.startswith("utilisation-")}
    assert {r.target for r in runs if r.operation.startswith("utilisation-")} == {"web"}
    opens, closes = wedding().day_window(config.day_window_before, config.day_window_after)
    lower, back = utilisation["utilisation-lower"], utilisation["utilisation-restore"]
    assert lower.scheduled_time <= wedding().starts_at - config.ops.event_utilisation.lead
    assert lower.scheduled_time < opens  # the default lead: an hour before the day window
    assert back.scheduled_time >= closes + config.ops.restore_delay
    assert lower.deployment == config.ops.floor_deployment  # the capacity-floor flow
    assert lower.parameters["action"] == "utilisation-lower"
    assert back.parameters["action"] == "utilisation-restore"
    # Idempotent: the same calendar gives the same keys; a moved wedding a new one.
    again = plan_wedding_ops([wedding()], now=NOW, settings=config)
    assert [r.idempotency_key for r in again] == [r.idempotency_key for r in runs]
    moved = plan_wedding_ops([wedding(starts=CEREMONY + timedelta(hours=2))], now=NOW,
                             settings=config)  # fmt: skip
    assert lower.idempotency_key not in {r.idempotency_key for r in moved}


def test_a_replan_after_the_window_closed_keeps_the_restores_still_due() -> None:
    """An hourly re-plan between the window's close and its restore re-creates the same
    restore runs (same keys, so reconcile cancels nothing) and plans nothing else for it."""
    config = settings()
    before = plan_wedding_ops([wedding()], now=NOW, settings=config)
    _, closes = wedding().day_window(config.day_window_before, config.day_window_after)
    later = plan_wedding_ops([wedding()], now=closes + timedelta(minutes=5), settings=config)
    restores = {(r.operation, r.target, r.idempotency_key) for r in before
                if r.operation.endswith("restore")}  # fmt: skip
    assert {o for o, _, _ in restores} == {"floor-restore", "utilisation-restore"}
    assert {(r.operation, r.target, r.idempotency_key) for r in later} == restores
    gone = plan_wedding_ops([wedding()], now=max(r.scheduled_time for r in before),
                            settings=config)  # fmt: skip
    assert gone == []


def test_switched_off_and_the_floor_setting() -> None:
    off = settings(event_utilisation={"enabled": False})
    ops = {r.operation for r in plan_wedding_ops([wedding()], now=NOW, settings=off)}
    assert not any(o.startswith("utilisation-") for o in ops)
    by_target = {}
    for run in plan_wedding_ops([wedding()], now=NOW, settings=settings()):
        by_target.setdefault(run.target, set()).add(run.operation)
    # auto: the floor where the utilisation lever is not there (the sandbox), not both.
    assert by_target == {
        None: {"prewarm"},
        "web": {"utilisation-lower", "utilisation-restore"},
        "sandbox": {"floor-raise", "floor-restore"},
    }
    assert {"floor-raise", "utilisation-lower"} <= {
        r.operation
        for r in plan_wedding_ops([wedding()], now=NOW, settings=settings(floor="always"))
        if r.target == "web"
    }
    never = settings(floor="never")
    assert not any(r.operation.startswith("floor-")
                   for r in plan_wedding_ops([wedding()], now=NOW, settings=never))  # fmt: skip


def test_a_lowered_target_without_weddings_left_gets_a_restore() -> None:
    runs = plan_wedding_ops([], now=NOW, settings=settings(), lowered_targets=["web"])
    assert [(r.operation, r.target, r.wedding_ids) for r in runs] == [
        ("utilisation-restore", "web", ())
    ]


def test_a_missed_restore_does_not_wait_for_the_next_wedding() -> None:
    """A lowering still in force with no window covering the next slot (its restore run
    failed, say): restored in the next slot even though a later wedding plans its own."""
    config = settings()
    tomorrow = wedding("w2", starts=CEREMONY + timedelta(days=1))
    runs = plan_wedding_ops([tomorrow], now=NOW, settings=config, lowered_targets=["web"])
    restores = [r for r in runs if r.operation == "utilisation-restore"]
    assert [(r.scheduled_time, r.wedding_ids) for r in restores] == [
        (NOW + timedelta(minutes=30), ()),
        (restores[1].scheduled_time, ("w2",)),
    ]
    # A window covering the next slot: no early restore (its own comes after it closes).
    now = CEREMONY - config.ops.event_utilisation.lead  # the lowering's slot
    runs = plan_wedding_ops([wedding()], now=now, settings=config, lowered_targets=["web"])
    assert [r.wedding_ids for r in runs if r.operation == "utilisation-restore"] == [("w1",)]


# -- the production step -----------------------------------------------------------------------


class WorkerDied(BaseException):
    """The worker process ending mid-step (not an Exception: nothing handles it)."""


class Hpa:
    """An HPA with a CPU Utilization target. `on_patch` (optional) runs before each PATCH
    is applied: an operator's concurrent change, or the worker dying; `lose_answers`: that
    many applied PATCHes answer with a timeout instead."""

    def __init__(self, utilisation: int, *, on_patch=None, lose_answers: int = 0) -> None:
        self.value = utilisation
        self.patches: list[list[dict]] = []
        self.on_patch = on_patch
        self.lose_answers = lose_answers

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.method == "PATCH":
            ops = json.loads(request.content)
            self.patches.append(ops)
            if self.on_patch is not None:
                self.on_patch(self)
            if ops[1]["value"] != self.value:
                return httpx.Response(422, json={
                    "kind": "Status", "apiVersion": "v1", "status": "Failure",
                    "reason": "Invalid", "message": "testing value failed", "code": 422,
                })  # fmt: skip
            self.value = ops[2]["value"]
            if self.lose_answers:
                self.lose_answers -= 1
                raise httpx.ReadTimeout("applied, but the answer was lost", request=request)
        return httpx.Response(200, json={
            "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "web", "namespace": "prod", "resourceVersion": "1"},
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment",
                                        "name": "web"},
                     "minReplicas": 2, "maxReplicas": 20,
                     "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {
                         "type": "Utilization", "averageUtilization": self.value}}}]},
        })  # fmt: skip


@pytest.fixture
def conn(migrated_database_url: str):
    with psycopg.connect(migrated_database_url) as conn:
        w = wedding()
        conn.execute(
            "INSERT INTO perf.weddings (wedding_id, source, starts_at, ends_at, timezone, "
            "guest_count, status) VALUES (%s, 'test', %s, %s, %s, %s, %s)",
            (w.wedding_id, w.starts_at, w.ends_at, w.timezone, w.guest_count, w.status),
        )
        yield conn


def actions(conn) -> list[tuple]:
    return conn.execute(
        "SELECT kind, outcome, before, after FROM perf.actions ORDER BY action_id"
    ).fetchall()


def test_lower_then_restore_after_the_window(conn) -> None:
    config = settings()
    target = config.ops.targets[0]
    server = Hpa(90)
    hpa = KubernetesActuator(target, transport=httpx.MockTransport(server), retry_delays=())
    lowered = lower_utilisation(conn, hpa, target, [wedding()], plan_id="p1", settings=config)
    assert (lowered.outcome, lowered.before, lowered.after, server.value) == ("done", 90, 40, 40)
    assert utilisation_state(conn, "web").baseline == 90
    assert lowered_targets(conn) == ["web"]

    during = restore_utilisation(conn, hpa, target, [wedding()], plan_id="p2", settings=config,
                                 now=CEREMONY + timedelta(minutes=10))  # fmt: skip
    assert during.outcome == "skipped" and "ceremony of w1" in during.reason
    assert server.value == 40

    after = CEREMONY + timedelta(hours=8)  # the day window closed (end + 1 h) an hour ago
    done = restore_utilisation(conn, hpa, target, [wedding()], plan_id="p3", settings=config,
                               now=after)  # fmt: skip
    assert (done.outcome, done.before, done.after, server.value) == ("done", 40, 90, 90)
    assert lowered_targets(conn) == [] and utilisation_state(conn, "web").utilisation == 90
    assert actions(conn) == [
        ("utilisation_lower", "done", "90", "40"),
        ("utilisation_restore", "skipped", "40", "40"),
        ("utilisation_restore", "done", "40", "90"),
    ]


def test_a_change_by_someone_else_is_not_restored_over(conn) -> None:
    config = settings()
    target = config.ops.targets[0]
    server = Hpa(90)
    hpa = KubernetesActuator(target, transport=httpx.MockTransport(server), retry_delays=())
    lower_utilisation(conn, hpa, target, [wedding()], plan_id="p1", settings=config)
    server.value = 55  # an operator's change during the window
    outcome = restore_utilisation(conn, hpa, target, [wedding()], plan_id="p2",
                                  settings=config, now=CEREMONY + timedelta(hours=8))  # fmt: skip
    assert outcome.outcome == "skipped" and "changed by someone else" in outcome.reason
    assert server.value == 55 and lowered_targets(conn) == []  # theirs; no restore owed


def test_dry_run_and_forecast_only_change_nothing(conn) -> None:
    target = settings().ops.targets[0]
    server = Hpa(90)
    hpa = KubernetesActuator(target, transport=httpx.MockTransport(server), retry_delays=())
    dry = lower_utilisation(conn, hpa, target, [wedding()], plan_id="p1",
                            settings=settings(mode="dry-run"))  # fmt: skip
    planned = lower_utilisation(conn, None, target, [wedding()], plan_id="p2",
                                settings=settings(mode="forecast-only"))  # fmt: skip
    assert (dry.outcome, planned.outcome) == ("dry-run", "planned")
    assert server.value == 90 and server.patches == [] and lowered_targets(conn) == []
    assert [row[:2] for row in actions(conn)] == [
        ("utilisation_lower", "dry-run"),
        ("utilisation_lower", "planned"),
    ]


def kube(target, server, **kw) -> KubernetesActuator:
    return KubernetesActuator(target, transport=httpx.MockTransport(server),
                              retry_delays=kw.pop("retry_delays", ()), **kw)  # fmt: skip


def test_a_worker_dying_before_the_write_still_owes_the_restore(migrated_database_url) -> None:
    """The intent is committed before the PATCH: a worker dying at the write leaves the
    baseline (so a restore is planned), and that restore, finding the baseline in force,
    forgets it without a write."""
    config = settings()
    target = config.ops.targets[0]

    def die(hpa: Hpa) -> None:
        raise WorkerDied

    server = Hpa(90, on_patch=die)
    with psycopg.connect(migrated_database_url) as setup:
        setup.execute(
            "INSERT INTO perf.weddings (wedding_id, source, starts_at, ends_at, timezone, "
            "guest_count, status) VALUES ('w1', 'test', %s, %s, 'America/New_York', 120, "
            "'confirmed')", (CEREMONY, CEREMONY + timedelta(hours=6)),
        )  # fmt: skip
    worker = psycopg.connect(migrated_database_url)
    with pytest.raises(WorkerDied):
        lower_utilisation(worker, kube(target, server), target, [wedding()], plan_id="p1",
                          settings=config)  # fmt: skip
    worker.close()  # the worker is gone: whatever it had not committed is rolled back
    assert server.value == 90
    with psycopg.connect(migrated_database_url) as conn:
        assert lowered_targets(conn) == ["web"]  # a restore is owed...
        runs = plan_wedding_ops([], now=NOW, settings=config, lowered_targets=["web"])
        assert [(r.operation, r.target) for r in runs] == [("utilisation-restore", "web")]
        server.on_patch = None
        after = CEREMONY + timedelta(hours=8)
        outcome = restore_utilisation(conn, kube(target, server), target, [], plan_id="p2",
                                      settings=config, now=after)  # fmt: skip
        assert outcome.outcome == "skipped" and "already at baseline 90%" in outcome.reason
        assert lowered_targets(conn) == [] and server.value == 90 and len(server.patches) == 1


def test_a_lowering_whose_answer_was_lost_is_done_and_owes_its_restore(conn) -> None:
    """The PATCH took effect but its answer timed out: the retried PATCH's `test` op fails
    (the value is no longer the one read), and the value found is the one meant: done."""
    config = settings()
    target = config.ops.targets[0]
    server = Hpa(90, lose_answers=1)
    lowered = lower_utilisation(conn, kube(target, server, retry_delays=(0,)), target,
                                [wedding()], plan_id="p1", settings=config)  # fmt: skip
    assert len(server.patches) == 2 and server.value == 40
    assert (lowered.outcome, lowered.before, lowered.after) == ("done", 90, 40)
    assert "already applied" in lowered.reason
    assert utilisation_state(conn, "web").baseline == 90 and lowered_targets(conn) == ["web"]
    back = restore_utilisation(conn, kube(target, server), target, [wedding()], plan_id="p2",
                               settings=config, now=CEREMONY + timedelta(hours=8))  # fmt: skip
    assert (back.outcome, server.value) == ("done", 90)


def test_an_operators_change_between_lowerings_is_kept(conn) -> None:
    """Lowered to 40 (baseline 90); an operator sets 55; the next slot's lowering leaves it
    and forgets the baseline, so no restore puts 90 back over it."""
    config = settings()
    target = config.ops.targets[0]
    server = Hpa(90)
    hpa = kube(target, server)
    lower_utilisation(conn, hpa, target, [wedding()], plan_id="p1", settings=config)
    server.value = 55
    second = lower_utilisation(conn, hpa, target, [wedding()], plan_id="p2", settings=config)
    assert second.outcome == "skipped" and "changed by someone else" in second.reason
    assert server.value == 55 and lowered_targets(conn) == []
    back = restore_utilisation(conn, hpa, target, [wedding()], plan_id="p3", settings=config,
                               now=CEREMONY + timedelta(hours=8))  # fmt: skip
    assert back.outcome == "skipped" and server.value == 55
    assert actions(conn)[1] == ("utilisation_lower", "skipped", "55", "55")


def test_a_concurrent_change_at_the_write_is_not_lowered_again(conn) -> None:
    """An operator's change between the read and the PATCH: the `test` op refuses the write,
    and the step skips (records why, forgets the baseline) rather than lowering theirs."""
    config = settings()
    target = config.ops.targets[0]

    def operator(hpa: Hpa) -> None:
        hpa.value = 70

    server = Hpa(90, on_patch=operator)
    outcome = lower_utilisation(conn, kube(target, server), target, [wedding()], plan_id="p1",
                                settings=config)  # fmt: skip
    assert outcome.outcome == "skipped" and "changed to 70%" in outcome.reason
    assert server.value == 70 and len(server.patches) == 1 and lowered_targets(conn) == []
    assert actions(conn) == [("utilisation_lower", "skipped", "70", "70")]


def test_a_failed_lowering_is_recorded_before_it_raises(migrated_database_url, conn) -> None:
    """A write the API server rejects: a `failed` row (committed, so the caller's rollback
    keeps it) with the reason, and the intent kept for the restore to sort out."""
    config = settings()
    target = config.ops.targets[0]

    def forbidden(request: httpx.Request) -> httpx.Response:
        if request.method == "PATCH":
            return httpx.Response(
                403,
                json={
                    "kind": "Status",
                    "apiVersion": "v1",
                    "status": "Failure",
                    "message": "no",
                    "code": 403,
                },
            )
        return Hpa(90)(request)  # fmt: skip

    with pytest.raises(ActuatorError, match="forbidden"):
        lower_utilisation(conn, kube(target, forbidden), target, [wedding()], plan_id="p1",
                          settings=config)  # fmt: skip
    conn.rollback()
    with psycopg.connect(migrated_database_url) as other:
        rows = other.execute("SELECT kind, outcome, before, after, reason FROM perf.actions"
                             ).fetchall()  # fmt: skip
    assert [row[:4] for row in rows] == [("utilisation_lower", "failed", "90", "40")]
    assert "forbidden" in rows[0][4]
    assert lowered_targets(conn) == ["web"]


class PodsMetricHpa:
    """An HPA that scales on a Pods metric (AverageValue): no target utilisation to lower."""

    def __init__(self, min_replicas: int = 2) -> None:
        self.min = min_replicas
        self.patches: list[dict] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.method == "PATCH":
            body = json.loads(request.content)
            self.patches.append(body)
            self.min = body["spec"]["minReplicas"]
        return httpx.Response(200, json={
            "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "web", "namespace": "prod", "resourceVersion": "1"},
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment",
                                        "name": "web"},
                     "minReplicas": self.min, "maxReplicas": 20,
                     "metrics": [{"type": "Pods", "pods": {
                         "metric": {"name": "requests_per_second"},
                         "target": {"type": "AverageValue", "averageValue": "10"}}}]},
        })  # fmt: skip


def test_an_hpa_without_a_utilisation_metric_gets_the_floor_instead(conn) -> None:
    """ops.floor auto plans only utilisation runs for an HPA target; one that scales on
    other metrics has no target utilisation, so those runs raise and restore its floor."""
    config = settings(targets=[hpa_target(per_replica_rps=1.0)], requests_per_guest_per_s=0.05)
    target = config.ops.targets[0]
    server = PodsMetricHpa()
    hpa = kube(target, server)
    raised = lower_utilisation(conn, hpa, target, [wedding()], plan_id="p1", settings=config)
    # 120 guests x 0.05 req/s x 1.2 headroom / 1 per replica = 8 replicas
    assert (raised.action, raised.outcome, raised.before, raised.after) == (
        "capacity_raise", "done", 2, 8)  # fmt: skip
    assert server.min == 8 and raised_targets(conn) == ["web"] and lowered_targets(conn) == []
    # While its window covers the next slot the plan owes no early floor restore...
    during = CEREMONY - timedelta(hours=1)
    runs = plan_wedding_ops([wedding()], now=during, settings=config, raised_targets=["web"])
    assert not any(r.operation == "floor-restore" for r in runs)
    # ...the window's utilisation restore puts the floor back.
    held = restore_utilisation(conn, hpa, target, [wedding()], plan_id="p2", settings=config,
                               now=CEREMONY + timedelta(minutes=10))  # fmt: skip
    assert (held.action, held.outcome, server.min) == ("capacity_restore", "skipped", 8)
    conn.execute("UPDATE perf.capacity_state SET changed_at = changed_at - interval '1 day'")
    back = restore_utilisation(conn, hpa, target, [wedding()], plan_id="p3", settings=config,
                               now=CEREMONY + timedelta(hours=8))  # fmt: skip
    assert (back.action, back.outcome, server.min) == ("capacity_restore", "done", 2)
    assert raised_targets(conn) == []
    assert [row[:2] for row in actions(conn)] == [
        ("utilisation_lower", "skipped"), ("capacity_raise", "done"),
        ("utilisation_restore", "skipped"), ("capacity_restore", "skipped"),
        ("utilisation_restore", "skipped"), ("capacity_restore", "done"),
    ]  # fmt: skip
    # Without the floor (never), such a target is only recorded as having no lever.
    skipped = lower_utilisation(conn, hpa, target, [wedding()], plan_id="p4",
                                settings=settings(targets=[target], floor="never"))  # fmt: skip
    assert skipped.outcome == "skipped" and server.min == 2


def test_a_raised_floor_of_an_hpa_target_is_restored_after_its_windows() -> None:
    """A floor raised by the utilisation runs, no window covering the next slot: restored."""
    config = settings()
    runs = plan_wedding_ops([wedding(starts=CEREMONY + timedelta(days=1))], now=NOW,
                            settings=config, raised_targets=["web"])  # fmt: skip
    web = [(r.operation, r.scheduled_time) for r in runs if r.target == "web"]
    assert ("floor-restore", NOW + timedelta(minutes=30)) in web
    assert [op for op, _ in web].count("floor-restore") == 1


def test_an_unknown_action_is_an_error_not_a_restore() -> None:
    from tasks.capacity import floor_step

    with pytest.raises(ValueError, match="unknown capacity action 'lower'"):
        floor_step.fn("web", "lower", [], "p1")
