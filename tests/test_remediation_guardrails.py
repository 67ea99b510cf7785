"""Remediation guardrails and the playbooks not covered by test_remediation.py, against real
PostgreSQL, Redis, the sandbox app and the session's Prefect API: the global concurrency
limits, the cooldown, dry-run, deferral past a ceremony, and scale_up, refresh_matviews and
rerun_prewarm end to end."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import psycopg
import pytest
import redis
from psycopg.types.json import Jsonb

from wedperf.config import reset_settings_cache

pytestmark = pytest.mark.usefixtures("prefect_harness")

DEPLOYMENT = "remediate-alert/remediate-alert"
DATASETS = ("guest_list", "timeline", "vendors", "seating")


# --- helpers ---------------------------------------------------------------------------------


@pytest.fixture
def remediation_env(platform: dict, monkeypatch: pytest.MonkeyPatch) -> dict:
    """The platform, with verification immediate and short (alerts stay firing, so runs
    escalate): no settle time, a metric rule given 1 s to read clear."""
    monkeypatch.setenv("WEDPERF_REMEDIATION__VERIFY_DELAY", "PT0S")
    monkeypatch.setenv("WEDPERF_REMEDIATION__VERIFY_CONFIRM", "PT1S")
    reset_settings_cache()
    return platform


def set_env(monkeypatch: pytest.MonkeyPatch, **values: str) -> None:
    for name, value in values.items():
        monkeypatch.setenv(f"WEDPERF_REMEDIATION__{name.upper()}", value)
    reset_settings_cache()


def use_rules(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, text: str) -> None:
    rules = tmp_path / "playbooks.toml"
    rules.write_text(text)
    set_env(monkeypatch, playbooks_file=str(rules))


def insert_alert(
    url: str, alertname: str, labels: dict | None = None, wedding_id: str | None = None
) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "INSERT INTO perf.alerts (source, fingerprint, starts_at, status, alertname, "
            "wedding_id, labels) VALUES ('alertmanager', %s, now(), 'firing', %s, %s, %s) "
            "RETURNING alert_id",
            (uuid.uuid4().hex, alertname, wedding_id, Jsonb(labels or {})),
        ).fetchone()[0]


def actions(url: str, alert_id: int) -> dict[tuple[str, str], dict]:
    """perf.actions of one remediation, by (kind, target)."""
    with psycopg.connect(url) as conn:
        rows = conn.cursor(row_factory=psycopg.rows.dict_row).execute(
            "SELECT kind, target, outcome, before, after, reason, detail, dry_run, acted_at "
            "FROM perf.actions WHERE plan_id = %s",
            (f"alert-{alert_id}",),
        )
        return {(r["kind"], r["target"]): r for r in rows}


def alert_state(url: str, alert_id: int) -> tuple[str | None, str | None]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT remediation_state, remediation_note FROM perf.alerts WHERE alert_id = %s",
            (alert_id,),
        ).fetchone()


def capacity(base_url: str) -> int:
    return httpx.get(f"{base_url}/admin/capacity", timeout=10).json()["replicas"]


def capacity_state(url: str, target: str = "sandbox") -> tuple | None:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT baseline, floor FROM perf.capacity_state WHERE target = %s", (target,)
        ).fetchone()


def remediate(alert_id: int) -> dict:
    from flows.remediate_alert import remediate_alert

    return remediate_alert(alert_id)


def sync_weddings() -> None:
    from flows.sync_calendar import sync_calendar

    sync_calendar(plan_collection=False)


def wait_for(predicate, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


class Remediation(threading.Thread):
    """One remediate-alert run in a thread, keeping its result or its exception."""

    def __init__(self, alert_id: int):
        super().__init__(daemon=True)
        self.alert_id = alert_id
        self.result: dict | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.result = remediate(self.alert_id)
        except BaseException as exc:  # reported by finish()
            self.error = exc

    def finish(self, timeout: float = 120) -> dict:
        self.join(timeout)
        assert not self.is_alive(), "the remediation did not finish"
        if self.error is not None:
            raise self.error
        assert self.result is not None
        return self.result


# --- 1. global concurrency limits ------------------------------------------------------------


@pytest.fixture
def limit_names(remediation_env: dict, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    """Names of our own, so no other test's limits (or lack of them) interfere."""
    tag = uuid.uuid4().hex[:8]
    names = (f"wedperf-test-remediation-{tag}", f"wedperf-test-remediation-rate-{tag}")
    set_env(monkeypatch, concurrency_limit=names[0], rate_limit=names[1])
    return names


@pytest.fixture
def remediation_limits(limit_names: tuple[str, str]) -> Iterator[tuple[str, str]]:
    """The two limits created in the harness: 1 at once; 10 a minute, decaying slowly enough
    that a slot taken during the test is still visible at its end."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate

    at_once, per_minute = limit_names
    with get_client(sync_client=True) as client:
        client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name=at_once, limit=1))
        client.create_global_concurrency_limit(
            GlobalConcurrencyLimitCreate(name=per_minute, limit=10, slot_decay_per_second=0.01)
        )
    yield limit_names
    with get_client(sync_client=True) as client:
        for name in limit_names:
            client.delete_global_concurrency_limit_by_name(name)


def read_limit(name: str):
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        return client.read_global_concurrency_limit_by_name(name)


def test_a_remediation_waits_for_the_concurrency_slot(
    remediation_env: dict, remediation_limits: tuple[str, str]
) -> None:
    """With `wedperf-remediation` at limit 1 and its slot held elsewhere, a remediation gets as
    far as `running` and then waits: no step recorded, the sandbox untouched. Once the slot is
    released it acts — every step recorded after the release — gives the slot back, and takes
    one slot of the rate limit."""
    from prefect.concurrency.sync import concurrency

    url, base_url = remediation_env["url"], remediation_env["base_url"]
    at_once, per_minute = remediation_limits
    alert_id = insert_alert(url, "HighRequestLatency", {"severity": "page"})
    floor = capacity(base_url)

    with concurrency(at_once, occupy=1, strict=True):
        assert read_limit(at_once).active_slots == 1
        run = Remediation(alert_id)
        run.start()
        wait_for(lambda: alert_state(url, alert_id)[0] is not None, "the run to start")
        assert alert_state(url, alert_id)[0] == "running"
        # The run is now at the budget: give it ample time to (wrongly) get past it.
        time.sleep(3)
        assert run.is_alive()
        assert actions(url, alert_id) == {}
        assert capacity(base_url) == floor
        assert alert_state(url, alert_id)[0] == "running"
    released_at = datetime.now(UTC)

    outcome = run.finish()
    assert outcome["playbook"] == "scale_up" and outcome["state"] == "escalated"
    done = actions(url, alert_id)
    assert done[("remediation_scale_up", "sandbox")]["outcome"] == "done"
    assert all(a["acted_at"] >= released_at for a in done.values())
    assert capacity(base_url) == floor + 2
    assert read_limit(at_once).active_slots == 0  # the run released its slot
    assert read_limit(per_minute).active_slots == 1  # and took one of the rate limit


def test_missing_limits_do_not_limit(remediation_env: dict, limit_names: tuple[str, str]) -> None:
    """When the limits were never created (`prefect gcl create ...` not run), `strict=False`
    makes `concurrency()` and `rate_limit()` log "do not exist - skipping acquisition" and
    go on: the budget is then off, nothing waits, and nothing creates the limits. Holding the
    missing limit in the test does not hold the remediation back."""
    from prefect.concurrency.sync import concurrency
    from prefect.exceptions import ObjectNotFound

    url, base_url = remediation_env["url"], remediation_env["base_url"]
    at_once, per_minute = limit_names
    alert_id = insert_alert(url, "HighRequestLatency", {"severity": "page"})
    floor = capacity(base_url)

    with concurrency(at_once, occupy=1, strict=False):
        outcome = remediate(alert_id)  # finishes while "holding" the missing limit
        assert actions(url, alert_id)[("remediation_scale_up", "sandbox")]["outcome"] == "done"
    assert outcome["state"] == "escalated"
    assert capacity(base_url) == floor + 2
    for name in limit_names:
        with pytest.raises(ObjectNotFound):
            read_limit(name)


# --- 2. cooldown -----------------------------------------------------------------------------


def scale_up_twice(url: str, base_url: str) -> tuple[int, dict]:
    """Two platform-wide (HighRequestLatency) scale-ups in a row: the second's alert and
    result, after checking that the first acted."""
    floor = capacity(base_url)
    first = insert_alert(url, "HighRequestLatency", {"severity": "page"})
    remediate(first)
    assert actions(url, first)[("remediation_playbook_scale_up", "platform")]["outcome"] == "done"
    assert capacity(base_url) == floor + 2
    second = insert_alert(url, "HighRequestLatency", {"severity": "page", "pod": "b"})
    return second, remediate(second)


def test_the_same_playbook_on_the_same_target_rests_for_the_cooldown(
    remediation_env: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cooldown (`apply_playbook` in wedperf/remediation/playbooks.py): a
    playbook that ended `done` on a scope (the alert's wedding, else `platform`) within
    WEDPERF_REMEDIATION__COOLDOWN (10 min) is not run again there — one skipped step with
    the reason, the floor not raised twice. With the cooldown over, it acts again."""
    url, base_url = remediation_env["url"], remediation_env["base_url"]
    floor = capacity(base_url)
    second, outcome = scale_up_twice(url, base_url)

    assert [(s["kind"], s["target"], s["outcome"], s["detail"]) for s in outcome["steps"]] == [
        ("scale_up", "platform", "skipped", "cooldown 0:10:00")
    ]
    assert {k: a["outcome"] for k, a in actions(url, second).items()} == {
        ("remediation_playbook_scale_up", "platform"): "skipped"
    }
    assert capacity(base_url) == floor + 2  # not raised again

    set_env(monkeypatch, cooldown="PT0S")
    third = insert_alert(url, "HighRequestLatency", {"severity": "page", "pod": "c"})
    remediate(third)
    assert actions(url, third)[("remediation_scale_up", "sandbox")]["outcome"] == "done"
    assert capacity(base_url) == floor + 4


def test_the_cooldown_holds_across_the_playbook_kind_rename(remediation_env: dict) -> None:
    """A scale-up recorded before an upgrade under its old kind (`remediation_scale_up` on
    `platform`, now `remediation_playbook_scale_up`) still starts the cooldown."""
    from wedperf.audit import record_step

    url, base_url = remediation_env["url"], remediation_env["base_url"]
    floor = capacity(base_url)
    with psycopg.connect(url) as conn:
        record_step(conn, "alert-0", "remediation_scale_up", "platform", outcome="done",
                    reason="before the upgrade", dry_run=False)  # fmt: skip
    alert_id = insert_alert(url, "HighRequestLatency", {"severity": "page"})
    remediate(alert_id)
    own = actions(url, alert_id)[("remediation_playbook_scale_up", "platform")]
    assert own["outcome"] == "skipped" and "cooldown" in own["detail"]
    assert capacity(base_url) == floor


def test_a_scale_up_goes_above_the_raise_when_the_floor_reads_below_it(
    remediation_env: dict,
) -> None:
    """The floor was raised to 6 for the weddings (perf.capacity_state: baseline 2, floor 6),
    then the target read 1 (the sandbox's reading is its serving replicas: a node lost).
    scale_up goes above the raise the live weddings were sized for (8), not 2 above the
    degraded reading (3), and says what it read; the baseline owed stays 2. The playbook's
    own row (on the alert's wedding) is a kind of its own."""
    from wedperf.capacity.state import remember_raise, target_state

    url, base_url = remediation_env["url"], remediation_env["base_url"]
    wedding_id = str(remediation_env["live"][0])
    httpx.put(f"{base_url}/admin/capacity", json={"replicas": 6}, timeout=10).raise_for_status()
    with psycopg.connect(url) as conn:
        remember_raise(conn, "sandbox", before=2, after=6, by="capacity_raise")
    httpx.put(f"{base_url}/admin/capacity", json={"replicas": 1}, timeout=10).raise_for_status()

    alert_id = insert_alert(url, "HighRequestLatency", {"service": "sandbox"}, wedding_id)
    remediate(alert_id)

    assert capacity(base_url) == 8
    recorded = actions(url, alert_id)
    step = recorded[("remediation_scale_up", "sandbox")]
    assert (step["outcome"], step["before"], step["after"]) == ("done", "1", "8")
    assert step["detail"].startswith("raise in force 6 +2 (the floor read 1, not the 6 wedperf")
    own = recorded[("remediation_playbook_scale_up", f"wedding:{wedding_id}")]
    assert (own["outcome"], own["before"], own["after"]) == ("done", None, None)
    assert [k for k in recorded if k[0] == "remediation_scale_up"] == [
        ("remediation_scale_up", "sandbox")
    ]
    with psycopg.connect(url) as conn:
        state = target_state(conn, "sandbox")
    assert (state.baseline, state.floor, state.raised_by) == (2, 8, "scale_up")


def test_a_scale_up_over_a_raise_that_did_not_take_effect_goes_above_it(
    remediation_env: dict,
) -> None:
    """A raise to 6 whose write never took effect (the floor still reads the baseline 2):
    scale_up goes above the raise in force (8), not above the baseline (4)."""
    from wedperf.capacity.state import remember_raise, target_state

    url, base_url = remediation_env["url"], remediation_env["base_url"]
    httpx.put(f"{base_url}/admin/capacity", json={"replicas": 2}, timeout=10).raise_for_status()
    with psycopg.connect(url) as conn:
        remember_raise(conn, "sandbox", before=2, after=6, by="capacity_raise")

    alert_id = insert_alert(url, "HighRequestLatency", {"service": "sandbox"})
    remediate(alert_id)

    assert capacity(base_url) == 8
    step = actions(url, alert_id)[("remediation_scale_up", "sandbox")]
    assert (step["outcome"], step["before"], step["after"]) == ("done", "2", "8")
    assert "raise in force 6 +2" in step["detail"]
    with psycopg.connect(url) as conn:
        state = target_state(conn, "sandbox")
    assert (state.baseline, state.floor, state.raised_by) == (2, 8, "scale_up")


def test_the_cooldown_reason_is_kept_in_perf_actions(remediation_env: dict) -> None:
    """perf.actions must say why the second scale-up did nothing."""
    url, base_url = remediation_env["url"], remediation_env["base_url"]
    second, _ = scale_up_twice(url, base_url)
    details = [a["detail"] for a in actions(url, second).values()]
    assert any("cooldown 0:10:00" in d for d in details), details


# --- 3. dry-run ------------------------------------------------------------------------------


def test_dry_run_records_and_changes_nothing(
    remediation_env: dict, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """WEDPERF_REMEDIATION__DRY_RUN=true: a scale-up and a cache flush record `dry-run` steps
    (with what they would do) and leave the sandbox's floor, perf.capacity_state and the
    wedding's Redis keys as they were; a dry run starts no cooldown."""
    url, base_url = remediation_env["url"], remediation_env["base_url"]
    set_env(monkeypatch, dry_run="true")
    sync_weddings()
    wedding_id = str(remediation_env["live"][0])  # live, its ceremony an hour away
    cache = redis.Redis.from_url(redis_url)
    stale = f"sandbox:wedding:{wedding_id}:guests"
    warm = [f"wedperf:wedding:{wedding_id}:{d}" for d in DATASETS]
    cache.set(stale, b"stale")
    cache.delete(*warm)
    cached = sorted(cache.scan_iter(match=f"*:wedding:{wedding_id}:*"))
    floor = capacity(base_url)

    scale = insert_alert(url, "HighRequestLatency", {"severity": "page"})
    assert remediate(scale)["state"] == "escalated"
    recorded = actions(url, scale)
    step = recorded[("remediation_scale_up", "sandbox")]
    assert (step["outcome"], step["before"], step["after"]) == (
        "dry-run",
        str(floor),
        str(floor + 2),
    )
    assert recorded[("remediation_playbook_scale_up", "platform")]["outcome"] == "dry-run"
    assert all(a["dry_run"] for a in recorded.values())
    assert capacity(base_url) == floor
    assert capacity_state(url) is None

    flush = insert_alert(
        url,
        "WeddingCriticalPathBreach",
        {"check": "latency_guest_list", "wedding_id": wedding_id},
        wedding_id,
    )
    remediate(flush)
    recorded = actions(url, flush)
    assert {k[0]: a["outcome"] for k, a in recorded.items()} == {
        "remediation_flush_cache": "dry-run",
        "remediation_rewarm": "dry-run",
        "remediation_playbook_flush_rewarm_cache": "dry-run",
    }
    would_delete = recorded[("remediation_flush_cache", f"redis:wedding:{wedding_id}")]
    assert would_delete["before"] == str(len(cached))  # counted, not deleted
    assert sorted(cache.scan_iter(match=f"*:wedding:{wedding_id}:*")) == cached
    assert cache.get(stale) == b"stale"
    assert cache.exists(*warm) == 0  # nor re-warmed

    # Dry-run steps are not `done`: they start no cooldown, so the real one acts at once.
    set_env(monkeypatch, dry_run="false")
    real = insert_alert(url, "HighRequestLatency", {"severity": "page", "pod": "b"})
    remediate(real)
    assert actions(url, real)[("remediation_scale_up", "sandbox")]["outcome"] == "done"
    assert capacity(base_url) == floor + 2


# --- 4. defer past the ceremony --------------------------------------------------------------


def deferred_runs(name: str) -> list:
    """The deployment's runs tagged `deferred` (the session's harness also holds the alert
    storm test's thousand runs of this deployment: filter on the server, not in a page)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterId,
        FlowRunFilter,
        FlowRunFilterTags,
    )

    with get_client(sync_client=True) as client:
        deployment = client.read_deployment_by_name(name)
        return client.read_flow_runs(
            flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=["deferred"])),
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment.id])),
            limit=200,
        )


def make_due(flow_run_id):
    from prefect.client.orchestration import get_client
    from prefect.states import Scheduled

    with get_client(sync_client=True) as client:
        client.set_flow_run_state(
            flow_run_id, Scheduled(scheduled_time=datetime.now(UTC)), force=True
        )
        return client.read_flow_run(flow_run_id)


def run_as_worker(flow_run) -> dict:
    """Execute a run of the deployment in this process, as a worker would."""
    from prefect.flow_engine import run_flow

    from flows.remediate_alert import remediate_alert

    return run_flow(remediate_alert, flow_run=flow_run, parameters=flow_run.parameters)


def test_a_disruptive_playbook_during_a_ceremony_is_deferred(
    remediation_env: dict,
    redis_url: str,
    remediation_deployment: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """WEDPERF_REMEDIATION__CEREMONY_GUARD=defer: a cache flush touching a wedding in its
    ceremony window does nothing now; it records a skipped step ("deferred until HH:MM UTC"),
    sets the alert `deferred`, and schedules one run of the remediation deployment for the
    alert at the window's close (ceremony + 60 min) — once, however often the alert is
    re-run. That run, after the ceremony, flushes."""
    from prefect.deployments import run_deployment

    url = remediation_env["url"]
    set_env(monkeypatch, ceremony_guard="defer")
    sync_weddings()
    wedding_id = str(remediation_env["live"][0])
    ceremony = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    with psycopg.connect(url) as conn:
        conn.execute(
            "UPDATE perf.weddings SET starts_at = %s, ends_at = %s WHERE wedding_id = %s",
            (ceremony, ceremony + timedelta(hours=5), wedding_id),
        )
    alert_id = insert_alert(
        url,
        "WeddingCriticalPathBreach",
        {"check": "latency_guest_list", "wedding_id": wedding_id},
        wedding_id,
    )
    cache = redis.Redis.from_url(redis_url)
    stale = f"sandbox:wedding:{wedding_id}:guests"
    cache.set(stale, b"stale")
    until = ceremony + timedelta(minutes=60)

    for _ in range(2):  # the alert re-dispatched: still one deferred run
        flow_run = run_deployment(
            remediation_deployment,
            parameters={"alert_id": alert_id},
            timeout=0,
            as_subflow=False,
        )
        outcome = run_as_worker(flow_run)
        assert outcome == {"alert_id": alert_id, "state": "deferred", "until": until.isoformat()}

    recorded = actions(url, alert_id)
    assert [kind for kind, _ in recorded] == ["remediation_playbook_flush_rewarm_cache"]
    step = next(iter(recorded.values()))
    assert step["outcome"] == "skipped"
    assert step["reason"] == f"deferred until {until:%H:%M} UTC"
    assert f"wedding {wedding_id}" in step["target"]
    state, note = alert_state(url, alert_id)
    assert state == "deferred" and note.startswith(f"until {until.isoformat()}")
    assert cache.get(stale) == b"stale"

    deferred = deferred_runs(remediation_deployment)
    deferred = [r for r in deferred if r.parameters == {"alert_id": alert_id}]
    assert len(deferred) == 1
    later = deferred[0]
    assert later.state.is_scheduled()
    assert later.expected_start_time == until
    assert set(later.tags) >= {"wedperf", "remediation", "deferred"}

    # When it runs, the ceremony is over: it flushes and re-warms. (Time passes: the ceremony
    # moves an hour back and the run is made due now; the server makes early runs wait.)
    with psycopg.connect(url) as conn:
        conn.execute(
            "UPDATE perf.weddings SET starts_at = %s WHERE wedding_id = %s",
            (datetime.now(UTC) - timedelta(minutes=61), wedding_id),
        )
    later = make_due(later.id)
    # No metric rule for the alert and it is still firing at its source: escalated.
    assert run_as_worker(later)["state"] == "escalated"
    own = ("remediation_playbook_flush_rewarm_cache", f"wedding:{wedding_id}")
    assert actions(url, alert_id)[own]["outcome"] == "done"
    assert cache.get(stale) != b"stale"  # flushed (the re-warm GETs fill it afresh)


# --- 5. the playbooks ------------------------------------------------------------------------


def test_scale_up_raises_by_step_up_to_the_maximum_and_is_restorable(
    remediation_env: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """scale_up raises the named target's floor by `step`, never above its max_replicas (20),
    and remembers the first pre-raise floor, so the capacity-floor restore brings it back."""
    from wedperf.capacity.actuators import build_actuator
    from wedperf.capacity.floor import restore_floor
    from wedperf.config import get_settings

    url, base_url = remediation_env["url"], remediation_env["base_url"]
    use_rules(
        monkeypatch,
        tmp_path,
        '[[rule]]\nmatch = { alertname = "HighRequestLatency" }\nplaybook = "scale_up"\n'
        'params = { target = "sandbox", step = 7 }\n',
    )
    set_env(monkeypatch, cooldown="PT0S")
    floor = capacity(base_url)
    assert floor + 7 < 20 < floor + 14

    seen = []
    for _ in range(3):
        alert_id = insert_alert(url, "HighRequestLatency", {"n": uuid.uuid4().hex})
        remediate(alert_id)
        step = actions(url, alert_id)[("remediation_scale_up", "sandbox")]
        seen.append((step["outcome"], step["before"], step["after"], capacity(base_url)))
    assert seen == [
        ("done", str(floor), str(floor + 7), floor + 7),
        ("done", str(floor + 7), "20", 20),
        ("skipped", "20", "20", 20),
    ]
    assert capacity_state(url) == (floor, 20)

    settings = get_settings()
    target = settings.ops.targets[0].model_copy(update={"url": base_url})
    with psycopg.connect(url) as conn:
        restored = restore_floor(
            conn,
            build_actuator(target),
            target,
            [],
            plan_id="test-restore",
            settings=settings,
            now=datetime.now(UTC) + settings.ops.cooldown,
        )
    assert (restored.outcome, restored.after) == ("done", floor)
    assert capacity(base_url) == floor


def test_scale_up_remembers_its_raise_before_the_write(
    migrated_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write that dies (or whose answer is lost) still leaves the restore owed: the
    intent is committed first, as the capacity-floor step does."""
    from types import SimpleNamespace

    from wedperf.capacity.state import target_state
    from wedperf.config import CapacityTarget, OpsSettings, Settings
    from wedperf.remediation import playbooks

    class DyingAtTheWrite:
        def read(self):
            return SimpleNamespace(floor=3, maximum=None)

        def set_floor(self, floor, *, reason, dry_run):
            raise RuntimeError("connection reset at the write")

    name = f"scale-intent-{uuid.uuid4().hex[:8]}"
    settings = Settings(ops=OpsSettings(targets=[CapacityTarget(name=name, url="http://x.test",
                                                                max_replicas=40)]))  # fmt: skip
    monkeypatch.setattr(playbooks, "build_actuator", lambda resolved: DyingAtTheWrite())
    with psycopg.connect(migrated_database_url) as conn, pytest.raises(RuntimeError):
        playbooks.scale_up(conn, settings, step=2, only=None, dry_run=False)
    with psycopg.connect(migrated_database_url) as other:
        state = target_state(other, name)
    assert (state.baseline, state.floor, state.raised_by) == (3, 5, "scale_up")


MATVIEWS = {
    # name: (definition, index) -> how it can be refreshed
    "app.wedperf_test_ids": ("SELECT id FROM app.wedperf_test_src", "UNIQUE INDEX ON {} (id)"),
    "app.wedperf_test_count": ("SELECT count(*) AS n FROM app.wedperf_test_src", None),
    "app.wedperf_test_partial": (
        "SELECT id FROM app.wedperf_test_src",
        "UNIQUE INDEX ON {} (id) WHERE id > 0",
    ),
    "app.wedperf_test_unpopulated": (
        "SELECT id FROM app.wedperf_test_src WITH NO DATA",
        "UNIQUE INDEX ON {} (id)",
    ),
}


def test_refresh_matviews_refreshes_and_skips_missing_views(
    remediation_env: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """refresh_matviews refreshes each listed view — CONCURRENTLY only where PostgreSQL allows
    it (populated, a unique index on plain columns without WHERE), blocking otherwise — and
    skips, with the reason, a name that is no materialized view, the others still refreshed.
    Without `views` (the shipped rule) it refreshes every materialized view in schema app."""
    from psycopg import sql

    url = remediation_env["url"]
    with psycopg.connect(url) as conn:
        conn.execute("CREATE TABLE app.wedperf_test_src (id int PRIMARY KEY)")
        conn.execute("INSERT INTO app.wedperf_test_src VALUES (1)")
        for view, (definition, index) in MATVIEWS.items():
            ident = sql.Identifier(*view.split("."))
            conn.execute(
                sql.SQL("CREATE MATERIALIZED VIEW {} AS {}").format(ident, sql.SQL(definition))
            )
            if index:
                conn.execute(sql.SQL("CREATE " + index).format(ident))
        conn.execute("INSERT INTO app.wedperf_test_src VALUES (2), (3)")
    views = [*MATVIEWS, "app.wedperf_test_missing", "app.wedperf_test_src"]
    use_rules(
        monkeypatch,
        tmp_path,
        '[[rule]]\nmatch = { alertname = "StaleMaterializedView" }\n'
        f'playbook = "refresh_matviews"\nparams = {{ views = {json.dumps(views)} }}\n',
    )
    set_env(monkeypatch, cooldown="PT0S")
    alert_id = insert_alert(url, "StaleMaterializedView")
    assert remediate(alert_id)["state"] == "escalated"

    recorded = actions(url, alert_id)
    refreshed = {
        view: (a["outcome"], a["detail"])
        for (kind, view), a in recorded.items()
        if kind == "remediation_refresh_matview"
    }
    assert refreshed == {
        "app.wedperf_test_ids": ("done", "concurrently"),
        "app.wedperf_test_count": ("done", "blocking readers"),
        "app.wedperf_test_partial": ("done", "blocking readers"),
        "app.wedperf_test_unpopulated": ("done", "blocking readers"),
        "app.wedperf_test_missing": ("skipped", "no such materialized view"),
        "app.wedperf_test_src": ("skipped", "no such materialized view"),
    }
    assert recorded[("remediation_playbook_refresh_matviews", "platform")]["outcome"] == "done"

    def counts() -> dict[str, int]:
        with psycopg.connect(url) as conn:
            return {
                view: conn.execute(
                    sql.SQL("SELECT {} FROM {}").format(
                        sql.SQL("n") if "count" in view else sql.SQL("count(*)"),
                        sql.Identifier(*view.split(".")),
                    )
                ).fetchone()[0]
                for view in MATVIEWS
            }

    assert counts() == dict.fromkeys(MATVIEWS, 3)

    # The shipped rule: no `views`, so every materialized view of schema app.
    monkeypatch.delenv("WEDPERF_REMEDIATION__PLAYBOOKS_FILE")
    reset_settings_cache()
    with psycopg.connect(url) as conn:
        conn.execute("INSERT INTO app.wedperf_test_src VALUES (4)")
    again = insert_alert(url, "StaleMaterializedView", {"n": "2"})
    remediate(again)
    kinds = {view for kind, view in actions(url, again) if kind == "remediation_refresh_matview"}
    assert kinds == set(MATVIEWS)
    assert counts() == dict.fromkeys(MATVIEWS, 4)


def test_rerun_prewarm_warms_the_alerts_wedding(remediation_env: dict, redis_url: str) -> None:
    """rerun_prewarm (CacheColdForWedding) writes the alert's wedding's four datasets to Redis
    with a TTL and GETs its warm-up URLs; an alert naming no known wedding is skipped."""
    url = remediation_env["url"]
    sync_weddings()
    wedding_id = str(remediation_env["live"][1])
    other = str(remediation_env["live"][2])
    cache = redis.Redis.from_url(redis_url)
    keys = [f"wedperf:wedding:{wedding_id}:{d}" for d in DATASETS]
    cache.delete(*keys, *(f"wedperf:wedding:{other}:{d}" for d in DATASETS))

    alert_id = insert_alert(url, "CacheColdForWedding", {"wedding_id": wedding_id})
    remediate(alert_id)
    recorded = actions(url, alert_id)
    target = f"wedding:{wedding_id}"
    assert recorded[("remediation_rewarm_redis", target)]["outcome"] == "done"
    assert recorded[("remediation_rewarm_redis", target)]["after"] == "4"
    assert recorded[("remediation_rewarm_http", target)]["outcome"] == "done"
    assert recorded[("remediation_playbook_rerun_prewarm", target)]["outcome"] == "done"
    assert cache.exists(*keys) == 4
    assert all(cache.ttl(k) > 0 for k in keys)
    assert json.loads(cache.get(keys[0]))  # the guest list, not an empty placeholder
    assert cache.exists(*(f"wedperf:wedding:{other}:{d}" for d in DATASETS)) == 0

    unknown = insert_alert(url, "CacheColdForWedding", {"wedding_id": "999999"})
    remediate(unknown)
    step = actions(url, unknown)[("remediation_rerun_prewarm", "wedding")]
    assert (step["outcome"], step["detail"]) == ("skipped", "the alert names no known wedding")


def test_a_rule_names_the_cache_keys_a_flush_deletes(
    remediation_env: dict, redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """flush_rewarm_cache's `key_patterns` ({wedding_id} templated) replaces
    remediation.cache_key_patterns for its rule: only the keys it names are deleted."""
    url = remediation_env["url"]
    use_rules(
        monkeypatch,
        tmp_path,
        '[[rule]]\nmatch = { alertname = "CacheColdForWedding" }\n'
        'playbook = "flush_rewarm_cache"\n'
        'params = { key_patterns = ["wedperf-test:{wedding_id}:*"] }\n',
    )
    sync_weddings()
    wedding_id = str(remediation_env["live"][2])
    cache = redis.Redis.from_url(redis_url)
    named = [f"wedperf-test:{wedding_id}:{n}" for n in range(3)]
    default = f"sandbox:wedding:{wedding_id}:guests"
    cache.set(default, b"kept")
    for key in named:
        cache.set(key, b"stale")

    alert_id = insert_alert(url, "CacheColdForWedding", {"wedding_id": wedding_id})
    remediate(alert_id)
    step = actions(url, alert_id)[("remediation_flush_cache", f"redis:wedding:{wedding_id}")]
    assert (step["outcome"], step["before"]) == ("done", "3")
    assert cache.exists(*named) == 0
    assert cache.get(default) == b"kept"
