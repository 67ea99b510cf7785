"""The demo's alert story: an Alertmanager notification at the webhook, the remediation
run it dispatched executed by the demo's process worker, and the source's resolution."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import httpx

from cli.demo.errors import DemoError, Progress
from wedperf.db.connection import connect
from wedperf.db.queries import queries

if TYPE_CHECKING:
    from cli.demo.worker import DemoWorker

Q = queries("demo")
DISPATCH_TIMEOUT_S = 60.0
REMEDIATION_TIMEOUT_S = 300.0


def webhook_token() -> str:
    from wedperf.config import get_settings

    return get_settings().webhook.token.get_secret_value()


def rum_token() -> str:
    from wedperf.config import get_settings

    return get_settings().rum.token.get_secret_value()


def receiver_app(services, api_url: str):
    """The webhook service: alert receivers (inline dispatch to `api_url`) and /rum."""
    from wedperf.alerts.app import create_app as create_receiver
    from wedperf.alerts.auth import Credentials
    from wedperf.config import get_settings

    settings = get_settings().webhook
    return create_receiver(
        services.database_url,
        settings,
        Credentials.from_settings(settings),
        prefect_api_url=api_url,
    )


def notify(webhook_url: str, alert: dict[str, Any]) -> None:
    from wedperf.alerts.samples import alertmanager_notification

    answer = httpx.post(
        f"{webhook_url}/alerts/alertmanager",
        json=alertmanager_notification([alert]),
        headers={"Authorization": f"Bearer {webhook_token()}"},
        timeout=30,
    )
    if answer.status_code >= 300:
        raise DemoError(f"the webhook answered {answer.status_code}: {answer.text[:300]}")


def alert_and_remediate(
    services,
    webhook_url: str,
    wedding_id: str,
    progress: Progress,
    *,
    worker: DemoWorker,
) -> dict[str, Any]:
    """POST an Alertmanager notification at the webhook; the worker picks up the remediation
    run it dispatched (work queue `remediation`); once the playbook has acted, the source
    sends its resolved notification — as Alertmanager would when the latency came back — and
    the run's verification sees it."""
    from wedperf.alerts.samples import alertmanager_alert

    alert = alertmanager_alert(
        1, alertname="HighRequestLatency", starts_at=datetime.now(UTC).isoformat()
    )
    alert["labels"].update(wedding_id=wedding_id, service="sandbox", demo="true")
    alert["annotations"]["summary"] = f"p95 above SLO for wedding {wedding_id} (demo)"
    alert["fingerprint"] = secrets.token_hex(8)  # a fresh episode every demo
    progress(f"firing an Alertmanager alert at {webhook_url}/alerts/alertmanager")
    notify(webhook_url, alert)
    alert_id, run_id = wait_for_dispatch(services.database_url, alert["fingerprint"])
    progress(f"alert {alert_id} stored and dispatched: remediation run {run_id}")
    progress("executing the remediation run on the worker (work queue remediation)")
    acted = wait_for_actions(
        services.database_url, f"alert-{alert_id}", lambda: worker.finished(run_id)
    )
    if acted:
        progress(f"playbook acted ({', '.join(acted)}); the source resolves the alert")
        notify(
            webhook_url,
            {**alert, "status": "resolved", "endsAt": datetime.now(UTC).isoformat()},
        )
    run = worker.wait(run_id, "remediate-alert", timeout=REMEDIATION_TIMEOUT_S)
    with connect(services.database_url) as conn:
        row = conn.execute(Q["remediation_outcome"], {"alert_id": alert_id}).fetchone()
    if not run.state.is_completed() or row is None or row[0] is None:
        raise DemoError(
            f"remediation run {run_id} ended {run.state.name}: {run.state.message}; outcome {row}"
        )
    progress(f"remediation: {row[0]} ({row[1]})")
    return {"alert_id": alert_id, "flow_run_id": str(run_id), "state": row[0], "note": row[1]}


def wait_for_actions(database_url: str, plan_id: str, finished: Callable[[], bool]) -> list[str]:
    """The actions the remediation run recorded, once there are any (or [] if it ended)."""
    deadline = time.monotonic() + REMEDIATION_TIMEOUT_S
    with connect(database_url, autocommit=True) as conn:
        while time.monotonic() < deadline and not finished():
            kinds = [
                f"{kind} {target}: {outcome}"
                for kind, target, outcome in conn.execute(Q["plan_steps"], {"plan_id": plan_id})
            ]
            if kinds:
                return kinds
            time.sleep(0.5)
    return []


def wait_for_dispatch(database_url: str, fingerprint: str) -> tuple[int, Any]:
    deadline = time.monotonic() + DISPATCH_TIMEOUT_S
    with connect(database_url) as conn:
        while True:
            row = conn.execute(Q["latest_alert_dispatch"], {"fingerprint": fingerprint}).fetchone()
            if row is not None and row[1] is not None:
                return row[0], row[1]
            if time.monotonic() > deadline:
                raise DemoError(
                    f"the alert was not dispatched within {DISPATCH_TIMEOUT_S:.0f} s "
                    f"({'not stored' if row is None else 'stored, still pending'})"
                )
            time.sleep(0.5)
