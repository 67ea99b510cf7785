"""Alert dispatch against a real Prefect API (the session harness) and real PostgreSQL: one
remediation run per distinct alert through a storm of repeats, through a Prefect outage,
for internal critical-path alerts, and the alert events."""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest

from wedperf.alerts.app import create_app
from wedperf.alerts.auth import Credentials
from wedperf.alerts.pending import dispatch_pending
from wedperf.alerts.samples import alertmanager_alert, alertmanager_notification, in_process_client
from wedperf.alerts.settings import WebhookSettings
from wedperf.config import reset_settings_cache
from wedperf.serving import free_port

pytestmark = pytest.mark.usefixtures("prefect_harness")

TOKEN = "dispatch-test-token-0123456789abcdef"
AUTH = {"authorization": f"Bearer {TOKEN}"}
DEPLOYMENT = "remediate-alert/remediate-alert"


def webhook_settings(**overrides: Any) -> WebhookSettings:
    return WebhookSettings(token=TOKEN, **overrides)


def remediation_runs(marker: str) -> list:
    """Runs of the remediation deployment whose idempotency key contains `marker`."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId

    found, offset = [], 0
    with get_client(sync_client=True) as client:
        deployment = client.read_deployment_by_name(DEPLOYMENT)
        while True:
            page = client.read_flow_runs(
                deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment.id])),
                limit=200,
                offset=offset,
            )
            found += [r for r in page if marker in (r.idempotency_key or "")]
            if len(page) < 200:
                return found
            offset += 200


def alert_events(resource_ids: list[str]) -> list[dict]:
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        response = client.request(
            "POST",
            "/events/filter",
            json={
                "filter": {
                    "event": {"prefix": ["wedperf.alert."]},
                    "resource": {"id": resource_ids},
                },
                "limit": 50,
            },
        )
    return response.json()["events"]


def dispatch_states(url: str) -> Counter:
    with psycopg.connect(url) as conn:
        return Counter(
            dict(conn.execute("SELECT dispatch_state, count(*) FROM perf.alerts GROUP BY 1"))
        )


def post_concurrently(app, notifications: list[dict], concurrency: int = 8) -> list[httpx.Response]:
    async def run() -> list[httpx.Response]:
        async with in_process_client(app, AUTH) as client:
            limit = asyncio.Semaphore(concurrency)

            async def one(body: dict) -> httpx.Response:
                async with limit:
                    return await client.post("/alerts/alertmanager", json=body)

            responses = await asyncio.gather(*(one(n) for n in notifications))
            inline = app.state.receiver.inline
            if inline is not None:
                await inline.idle(timeout=600)
            return responses

    return asyncio.run(run())


@pytest.mark.slow
def test_storm_of_repeats_makes_one_run_per_alert(inbox: str, remediation_deployment: str) -> None:
    """10,000 alert deliveries, 90% repeats, in notifications of 10: one run per alert."""
    starts = "2026-11-01T10:00:00Z"
    distinct, deliveries = 1000, 10_000
    numbers = [n % distinct for n in range(deliveries)]
    random.Random(6).shuffle(numbers)
    notifications = [
        alertmanager_notification(
            [alertmanager_alert(n, starts_at=starts) for n in numbers[i : i + 10]]
        )
        for i in range(0, deliveries, 10)
    ]
    # No grace: whatever inline dispatch leaves (a slow API opens its breaker) is due for the
    # sweep at once, as it would be 30 s later in production.
    config = webhook_settings(inline_grace=timedelta(0), dispatch_timeout_seconds=30)
    app = create_app(inbox, config, Credentials.from_settings(config))

    began = time.perf_counter()
    responses = post_concurrently(app, notifications)
    elapsed = time.perf_counter() - began
    inline = dispatch_states(inbox)["dispatched"]
    from flows.dispatch_pending_alerts import dispatch_pending_alerts

    swept = dispatch_pending_alerts()

    assert Counter(r.status_code for r in responses) == {200: 1000}
    assert sum(r.json()["new"] for r in responses) == distinct
    assert inline + swept["created"] == distinct, (inline, swept)
    assert dispatch_states(inbox) == {"dispatched": distinct}
    runs = remediation_runs("2026-11-01T10:00:00")
    assert len(runs) == distinct, f"{len(runs)} runs for {distinct} alerts ({elapsed:.1f}s)"
    with psycopg.connect(inbox) as conn:
        stored = dict(conn.execute("SELECT alert_id, flow_run_id FROM perf.alerts"))
        repeats = conn.execute("SELECT sum(repeats) FROM perf.alerts").fetchone()[0]
    assert repeats == deliveries - distinct
    assert sorted(r.parameters["alert_id"] for r in runs) == sorted(stored)
    assert {r.id for r in runs} == set(stored.values())
    assert all(r.state.is_scheduled() and "alert" in r.tags for r in runs)


def test_prefect_down_then_back_dispatches_every_alert_once(
    inbox: str, remediation_deployment: str
) -> None:
    starts = "2026-11-02T10:00:00Z"
    refusing = f"http://127.0.0.1:{free_port()}/api"
    config = webhook_settings(inline_grace=timedelta(0), dispatch_timeout_seconds=2)
    app = create_app(inbox, config, Credentials.from_settings(config), prefect_api_url=refusing)
    notifications = [
        alertmanager_notification(
            [alertmanager_alert(n, starts_at=starts) for n in range(i, i + 5)]
        )
        for i in range(0, 60, 5)
    ]
    notifications += notifications[:4]  # repeats while Prefect is down

    responses = post_concurrently(app, notifications, concurrency=4)

    assert [r.status_code for r in responses] == [200] * len(notifications)
    assert dispatch_states(inbox) == {"pending": 60}
    with psycopg.connect(inbox) as conn:
        attempts, error = conn.execute(
            "SELECT max(dispatch_attempts), max(dispatch_error) FROM perf.alerts"
        ).fetchone()
    assert attempts >= 1 and "Connect" in error  # the inline attempt failed, and says why
    # A sweep while Prefect is still down changes nothing and gives up quickly.
    outcome, backlog = asyncio.run(dispatch_pending(inbox, config, api_url=refusing))
    assert outcome.unreachable and outcome.created == 0 and backlog.pending == 60

    from flows.dispatch_pending_alerts import dispatch_pending_alerts

    first = dispatch_pending_alerts()
    again = dispatch_pending_alerts()

    assert first["created"] == 60 and first["backlog"]["pending"] == 0
    assert again["created"] == 0
    assert dispatch_states(inbox) == {"dispatched": 60}
    runs = remediation_runs("2026-11-02T10:00:00")
    assert len(runs) == 60
    assert len({r.parameters["alert_id"] for r in runs}) == 60


def test_critical_path_alerts_are_dispatched_and_resolution_announced(
    inbox: str, remediation_deployment: str
) -> None:
    from psycopg.types.json import Jsonb

    from flows.dispatch_pending_alerts import dispatch_pending_alerts
    from wedperf.critical_path.record import Q as CRITICAL_PATH_QUERIES
    from wedperf.critical_path.record import alert_fingerprint

    at = datetime(2026, 11, 3, 15, 0, tzinfo=UTC)
    fingerprint = alert_fingerprint("w-9", "timeline_drift")
    with psycopg.connect(inbox) as conn:
        alert_id = conn.execute(
            CRITICAL_PATH_QUERIES["fire_alert"],
            {
                "source": "critical_path",
                "fingerprint": fingerprint,
                "at": at,
                "alertname": "WeddingCriticalPathBreach",
                "severity": "warning",
                "wedding_id": "w-9",
                "labels": Jsonb({"check": "timeline_drift", "wedding_id": "w-9"}),
                "annotations": Jsonb({"summary": "timeline 40 min behind"}),
            },
        ).fetchone()[0]

    fired = dispatch_pending_alerts()

    assert fired["created"] == 1
    [run] = remediation_runs(f"critical_path|{fingerprint}")
    assert run.parameters == {"alert_id": alert_id}
    with psycopg.connect(inbox) as conn:
        conn.execute(
            CRITICAL_PATH_QUERIES["resolve_alerts"],
            {
                "source": "critical_path",
                "fingerprints": [fingerprint],
                "at": at + timedelta(minutes=10),
            },
        )
    resolved = dispatch_pending_alerts()
    assert resolved["created"] == 0 and resolved["announced"] == 1
    assert len(remediation_runs(f"critical_path|{fingerprint}")) == 1
    events = _wait_for_events([f"wedperf.alert.critical_path.{fingerprint}"], 2)
    assert {e["resource"]["wedperf.alert.id"] for e in events} == {str(alert_id)}
    assert sorted(e["event"] for e in events) == ["wedperf.alert.firing", "wedperf.alert.resolved"]


def test_inline_dispatch_sends_firing_and_resolved_events(
    inbox: str, remediation_deployment: str
) -> None:
    starts = "2026-11-04T10:00:00Z"
    app = create_app(inbox, webhook_settings(), Credentials.from_settings(webhook_settings()))
    firing = alertmanager_notification([alertmanager_alert(70_007, starts_at=starts)])
    resolved = alertmanager_notification(
        [
            alertmanager_alert(
                70_007, starts_at=starts, status="resolved", ends_at="2026-11-04T10:30:00Z"
            )
        ]
    )

    [fired] = post_concurrently(app, [firing])
    [closed] = post_concurrently(app, [resolved])

    [alert_id] = fired.json()["alert_ids"]
    assert closed.json() | {"alert_ids": None} == {
        "stored": 1,
        "new": 0,
        "repeats": 1,
        "resolved": 1,
        "alert_ids": None,
    }
    [run] = remediation_runs("2026-11-04T10:00:00")  # the resolution made no second run
    with psycopg.connect(inbox) as conn:
        state, run_id, announced = conn.execute(
            "SELECT dispatch_state, flow_run_id, resolved_event_at IS NOT NULL FROM perf.alerts"
        ).fetchone()
    assert (state, run_id, announced) == ("dispatched", run.id, True)
    resource = f"wedperf.alert.alertmanager.{70_007:016x}"
    events = {e["event"]: e for e in _wait_for_events([resource], 2)}
    firing_event = events["wedperf.alert.firing"]
    assert firing_event["resource"]["wedperf.alert.source"] == "alertmanager"
    assert firing_event["resource"]["wedperf.alert.label.service"] == "guest-api"
    assert firing_event["resource"]["wedperf.wedding.id"] == "74007"
    assert firing_event["resource"]["wedperf.alert.id"] == str(alert_id)
    assert any(
        r["prefect.resource.id"] == f"prefect.flow-run.{run.id}"
        and r["prefect.resource.role"] == "flow-run"
        for r in firing_event["related"]
    )
    assert events["wedperf.alert.resolved"]["payload"]["ends_at"] == "2026-11-04T10:30:00+00:00"


def test_token_from_a_prefect_secret_block() -> None:
    from prefect.blocks.system import Secret

    Secret(value="token-from-block-0123456789abcdefghij").save(
        "wedperf-webhook-token-test", overwrite=True
    )

    credentials = Credentials.from_settings(
        WebhookSettings(token_secret_block="wedperf-webhook-token-test")
    )

    assert credentials.token == b"token-from-block-0123456789abcdefghij"


def _wait_for_events(resource_ids: list[str], count: int, timeout: float = 20.0) -> list[dict]:
    deadline = time.monotonic() + timeout
    while True:
        events = alert_events(resource_ids)
        if len(events) >= count or time.monotonic() > deadline:
            return events
        time.sleep(0.5)


def _store_due(inbox: str, starts: str, count: int) -> None:
    """`count` firing alerts stored by the receiver without inline dispatch, due at once."""
    config = webhook_settings(dispatch_inline=False, inline_grace=timedelta(0))
    app = create_app(inbox, config, Credentials.from_settings(config))
    notifications = [
        alertmanager_notification([alertmanager_alert(n, starts_at=starts)]) for n in range(count)
    ]
    assert {r.status_code for r in post_concurrently(app, notifications)} == {200}


def test_a_poison_row_is_quarantined_and_the_sweep_tells_the_truth(
    inbox: str, remediation_deployment: str
) -> None:
    """The issue's poison alert: stored (by a receiver before validation) with a start in
    year 10000 in UTC, due with five good alerts. The sweep dispatches the five, quarantines
    it with its reason, raises AlertQuarantined, and ends Failed; the next sweep is clean."""
    from flows.dispatch_pending_alerts import dispatch_pending_alerts

    _store_due(inbox, "2026-11-05T10:00:00Z", 5)
    with psycopg.connect(inbox) as conn:
        [(poison_id,)] = conn.execute(
            "INSERT INTO perf.alerts (source, fingerprint, starts_at, status, alertname) "
            "VALUES ('alertmanager', 'poison', '9999-12-31T23:59:59-14:00', 'firing', 'Poison') "
            "RETURNING alert_id"
        ).fetchall()

    first = dispatch_pending_alerts(return_state=True)
    again = dispatch_pending_alerts(return_state=True)

    assert first.is_failed()
    assert "1 alert(s) quarantined" in first.message
    with psycopg.connect(inbox) as conn:
        state, reason = conn.execute(
            "SELECT dispatch_state, quarantine_reason FROM perf.alerts WHERE alert_id = %s",
            (poison_id,),
        ).fetchone()
        internal = conn.execute(
            "SELECT labels, annotations ->> 'reason', dispatch_state FROM perf.alerts "
            "WHERE source = 'wedperf' AND alertname = 'AlertQuarantined'"
        ).fetchall()
        good = conn.execute(
            "SELECT dispatch_state, count(*) FROM perf.alerts WHERE source = 'alertmanager' "
            "AND alert_id <> %s GROUP BY 1",
            (poison_id,),
        ).fetchall()
    assert state == "quarantined"
    assert "starts_at '10000-01-01 13:59:59+00'" in reason
    assert good == [("dispatched", 5)]
    [(labels, internal_reason, internal_state)] = internal
    assert labels["quarantined_alert_id"] == str(poison_id)
    assert internal_reason == reason and internal_state == "dispatched"
    assert len(remediation_runs("2026-11-05T10:00:00")) == 5
    assert again.is_completed()
    summary = again.result()
    assert summary["needed"] == 0 and summary["backlog"]["quarantined"] == 1


def test_a_sweep_that_creates_no_run_that_was_due_ends_failed(
    inbox: str, remediation_deployment: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Prefect refuses every run (the deployment is not there): the sweep must not end
    Completed with the alerts still pending."""
    from flows.dispatch_pending_alerts import dispatch_pending_alerts

    _store_due(inbox, "2026-11-06T10:00:00Z", 3)
    monkeypatch.setenv("WEDPERF_WEBHOOK__REMEDIATION_DEPLOYMENT", "no-such-flow/no-such")
    reset_settings_cache()

    state = dispatch_pending_alerts(return_state=True)

    assert state.is_failed()
    assert "3 alert(s) needed a remediation run and none was created" in state.message
    assert "deployment not found" in state.message
    assert dispatch_states(inbox) == {"pending": 3}
