"""Remediation: rules, runaway-query cancelling, and approval during a ceremony, against real
PostgreSQL, Redis and a Prefect API."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
import redis
from psycopg import sql

from wedperf.config import reset_settings_cache
from wedperf.remediation.playbooks import PLAYBOOKS, cancel_runaway_queries, choose, load_rules


def test_default_rules_choose_by_labels() -> None:
    rules = load_rules()
    rule = choose(
        rules,
        {
            "alertname": "WeddingCriticalPathBreach",
            "check": "latency_guest_list",
            "wedding_id": "7",
        },
    )
    assert rule.playbook == "flush_rewarm_cache"
    assert choose(rules, {"alertname": "HighRequestLatency", "severity": "page"}).playbook == (
        "scale_up"
    )
    assert choose(rules, {"alertname": "SomethingElse"}) is None


def test_bad_rules_file_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "rules.toml"
    bad.write_text('[[rule]]\nmatch = { alertname = "X" }\nplaybook = "reboot_the_world"\n')
    with pytest.raises(ValueError, match="rule 1: unknown playbook 'reboot_the_world'"):
        load_rules(bad)


def test_a_parameter_its_playbook_does_not_take_is_named(tmp_path: Path) -> None:
    """A misspelt parameter would otherwise be ignored and its default used in silence."""
    bad = tmp_path / "rules.toml"
    bad.write_text(
        '[[rule]]\nmatch = { alertname = "X" }\nplaybook = "cancel_runaway_queries"\n'
        "params = { min_duration = 60, verify_delay_s = 5 }\n"
    )
    with pytest.raises(
        ValueError,
        match="rule 1: playbook 'cancel_runaway_queries' takes no "
        "parameter 'min_duration' \\(it takes: min_duration_s, verify_delay_s\\)",
    ):
        load_rules(bad)


def test_the_readme_lists_the_playbooks_of_the_table() -> None:
    """The README's Remediation table shows every playbook, disruptive as in the table."""
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    table = readme.split("| playbook | does | disruptive |\n", 1)[1].split("\n\n", 1)[0]
    rows = {
        cells[0].strip("` "): cells[2].strip()
        for line in table.splitlines()[1:]  # after the |---| line
        for cells in [line.strip("|").split("|")]
    }
    assert rows == {
        name: "yes" if playbook.disruptive else "no" for name, playbook in PLAYBOOKS.items()
    }


APP_ROLE = "wedperf_test_app"


def _sleeper(url: str, role: str | None, started: threading.Event, errors: list) -> None:
    try:
        with psycopg.connect(url, user=role) if role else psycopg.connect(url) as conn:
            started.set()
            conn.execute("SELECT pg_sleep(20)")
    except psycopg.errors.QueryCanceled as exc:
        errors.append(exc)


def test_runaway_queries_are_cancelled_except_protected_roles(empty_database_url: str) -> None:
    with psycopg.connect(empty_database_url, autocommit=True) as admin:
        exists = admin.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (APP_ROLE,)).fetchone()
        if not exists:
            admin.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(APP_ROLE)))
    app_cancelled: list = []
    protected_cancelled: list = []
    threads = []
    for role, sink in ((APP_ROLE, app_cancelled), (None, protected_cancelled)):
        started = threading.Event()
        thread = threading.Thread(target=_sleeper, args=(empty_database_url, role, started, sink))
        thread.start()
        started.wait(5)
        threads.append(thread)
    time.sleep(1.5)
    with psycopg.connect(empty_database_url, autocommit=True) as conn:
        dry = cancel_runaway_queries(
            conn, min_duration_s=1, protected_roles=["postgres"], dry_run=True
        )
        assert [r.outcome for r in dry] == ["dry-run"] and APP_ROLE in dry[0].detail
        results = cancel_runaway_queries(
            conn, min_duration_s=1, protected_roles=["postgres"], dry_run=False
        )
        assert [r.outcome for r in results] == ["done"]
        # The protected role's query is still running: cancel it ourselves to end the test.
        conn.execute(
            "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE "
            "datname = current_database() AND pid <> pg_backend_pid() AND "
            "query LIKE 'SELECT pg_sleep%%'"
        )
    for thread in threads:
        thread.join(10)
    assert len(app_cancelled) == 1
    assert len(protected_cancelled) == 1  # cancelled by the test, after the check above


# --- approval during a ceremony --------------------------------------------------------------


def _paused_run_id(timeout: float = 60):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType

    deadline = time.monotonic() + timeout
    with get_client(sync_client=True) as client:
        while time.monotonic() < deadline:
            runs = client.read_flow_runs(
                flow_run_filter=FlowRunFilter(
                    state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.PAUSED]))
                )
            )
            if runs:
                return runs[0].id
            time.sleep(0.5)
    raise AssertionError("the remediation never paused for approval")


def _breaching_ceremony(platform: dict) -> tuple[str, int]:
    """One live wedding moved into its ceremony now, with a guest-list breach alert."""
    from flows.sync_calendar import sync_calendar

    sync_calendar(plan_collection=False)
    wedding_id = str(platform["live"][0])
    now = datetime.now(UTC)
    with psycopg.connect(platform["url"]) as conn:
        conn.execute(
            "UPDATE perf.weddings SET starts_at = %s, ends_at = %s WHERE wedding_id = %s",
            (now - timedelta(minutes=5), now + timedelta(hours=5), wedding_id),
        )
        alert_id = conn.execute(
            "INSERT INTO perf.alerts (source, fingerprint, starts_at, status, alertname, "
            "wedding_id, labels) VALUES ('critical_path', %s, now(), 'firing', "
            "'WeddingCriticalPathBreach', %s, %s) RETURNING alert_id",
            (
                f"fp-{wedding_id}-{now.timestamp()}",
                wedding_id,
                psycopg.types.json.Jsonb({"check": "latency_guest_list", "wedding_id": wedding_id}),
            ),
        ).fetchone()[0]
    return wedding_id, alert_id


@pytest.mark.usefixtures("prefect_harness")
@pytest.mark.parametrize("approve", [True, False], ids=["approved", "rejected"])
def test_flush_during_a_ceremony_waits_for_approval(
    platform: dict, redis_url: str, monkeypatch: pytest.MonkeyPatch, approve: bool
) -> None:
    from prefect.flow_runs import resume_flow_run

    from flows.remediate_alert import remediate_alert

    monkeypatch.setenv("WEDPERF_REMEDIATION__VERIFY_DELAY", "PT0S")
    # The check re-evaluated after the flush cannot breach: an approved run recovers.
    monkeypatch.setenv(
        "WEDPERF_CRITICAL_PATH__SLO", '{"latency_guest_list": {"warn": 500, "breach": 1000}}'
    )
    reset_settings_cache()
    wedding_id, alert_id = _breaching_ceremony(platform)
    cache = redis.Redis.from_url(redis_url)
    cache.set(f"sandbox:wedding:{wedding_id}:guests", b"stale")

    outcome: dict = {}
    runner = threading.Thread(target=lambda: outcome.update(remediate_alert(alert_id)))
    runner.start()
    run_id = _paused_run_id()
    with psycopg.connect(platform["url"]) as conn:
        waiting = conn.execute(
            "SELECT remediation_state FROM perf.alerts WHERE alert_id = %s", (alert_id,)
        ).fetchone()[0]
    assert waiting == "awaiting_approval"
    assert cache.get(f"sandbox:wedding:{wedding_id}:guests") == b"stale"  # nothing done yet
    resume_flow_run(run_id, run_input={"approve": approve, "note": "test"})
    runner.join(120)

    with psycopg.connect(platform["url"]) as conn:
        state = conn.execute(
            "SELECT remediation_state FROM perf.alerts WHERE alert_id = %s", (alert_id,)
        ).fetchone()[0]
        actions = dict(
            conn.execute(
                "SELECT kind, outcome FROM perf.actions WHERE plan_id = %s", (f"alert-{alert_id}",)
            ).fetchall()
        )
    if approve:
        assert actions["remediation_approval"] == "done"
        assert actions["remediation_flush_cache"] == "done"
        assert actions["remediation_rewarm_redis"] == "done"
        assert cache.get(f"sandbox:wedding:{wedding_id}:guests") != b"stale"
        assert state == "recovered" and outcome["state"] == state
    else:
        assert outcome["state"] == "rejected" and state == "rejected"
        assert actions == {"remediation_playbook_flush_rewarm_cache": "skipped"}
        assert cache.get(f"sandbox:wedding:{wedding_id}:guests") == b"stale"
    reset_settings_cache()
