"""The demo's alert story: a real degradation of the sandbox under load, wedperf's metric rule
firing on the sandbox's /metrics, the Alertmanager notification at the webhook, the
remediation run it dispatched executed by the demo's process worker, and the resolution when
the metric recovered — verified by the run re-reading the metric."""

from __future__ import annotations

import secrets
import threading
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
ALERTNAME = "HighRequestLatency"  # playbooks.toml: scale_up
DEGRADED_REPLICAS = 1
BREACH_TIMEOUT_S = 60.0
RECOVERY_TIMEOUT_S = 120.0
LOAD_ROUND, LOAD_CONCURRENCY = 150, 30  # closed-loop clients, ~14 ms of slot time each


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
    base_url: str,
    live_ids: list[int],
) -> dict[str, Any]:
    """A real incident, start to end: under steady wedding-day load the sandbox loses all but
    one replica; wedperf's latency rule (METRIC_RULES, read from the sandbox's /metrics) fires
    and the demo delivers the alert as Alertmanager would; the worker runs the remediation
    (scale_up); the alert resolves when the rule stops firing, and the run's verification
    reads the metric again itself (verified_by)."""
    from wedperf.alerts.samples import alertmanager_alert
    from wedperf.remediation.verify import rule_matching

    labels = {"alertname": ALERTNAME, "service": "sandbox", "wedding_id": wedding_id}
    rule = rule_matching(labels)
    if rule is None:
        raise DemoError(f"no metric rule for {labels}")
    load = SteadyLoad(base_url, live_ids)
    load.start()
    try:
        baseline = _read(base_url, rule)
        progress(f"steady load on the live weddings; rule {rule.describe()}: {_fmt(baseline)}")
        replicas = _set_replicas(base_url, DEGRADED_REPLICAS)
        progress(f"degrading the sandbox: {replicas} -> {DEGRADED_REPLICAS} replica (node lost)")
        breach = _wait_for(base_url, rule, firing=True, timeout=BREACH_TIMEOUT_S)
        progress(f"rule fires: {_fmt(breach)} > {rule.threshold_s * 1000:.0f} ms")
        alert = alertmanager_alert(1, alertname=ALERTNAME, starts_at=datetime.now(UTC).isoformat())
        alert["labels"].update(labels, demo="true")
        alert["annotations"]["summary"] = (
            f"guest-list p95 {_fmt(breach)} above {rule.threshold_s * 1000:.0f} ms"
        )
        alert["annotations"]["description"] = rule.describe()
        alert["fingerprint"] = secrets.token_hex(8)  # a fresh episode every demo
        progress(f"firing an Alertmanager alert at {webhook_url}/alerts/alertmanager")
        notify(webhook_url, alert)
        alert_id, run_id = wait_for_dispatch(services.database_url, alert["fingerprint"])
        progress(f"alert {alert_id} stored and dispatched: remediation run {run_id}")
        progress("executing the remediation run on the worker (work queue remediation)")
        acted = wait_for_actions(
            services.database_url, f"alert-{alert_id}", lambda: worker.finished(run_id)
        )
        progress(f"playbook: {', '.join(acted) or 'no steps'}")
        recovered = None
        if any(step.endswith(": done") for step in acted):
            recovered = _wait_for(base_url, rule, firing=False, timeout=RECOVERY_TIMEOUT_S)
            progress(f"rule stops firing: {_fmt(recovered)}; the source resolves the alert")
            notify(
                webhook_url,
                {**alert, "status": "resolved", "endsAt": datetime.now(UTC).isoformat()},
            )
        else:  # e.g. the cooldown of a demo run minutes ago: nothing changed, nothing resolves
            progress("the playbook did not act: the rule keeps firing and the run escalates")
        run = worker.wait(run_id, "remediate-alert", timeout=REMEDIATION_TIMEOUT_S)
        if recovered is None:  # the incident ends: the lost replicas come back
            _set_replicas(base_url, replicas)
    finally:
        load.stop()
    with connect(services.database_url) as conn:
        row = conn.execute(Q["remediation_outcome"], {"alert_id": alert_id}).fetchone()
    if not run.state.is_completed() or row is None or row[0] is None:
        raise DemoError(
            f"remediation run {run_id} ended {run.state.name}: {run.state.message}; outcome {row}"
        )
    result = worker.result(run, "remediate-alert")
    progress(f"remediation: {row[0]} ({row[1]})")
    return {
        "alert_id": alert_id,
        "flow_run_id": str(run_id),
        "state": row[0],
        "note": row[1],
        "verified_by": result.get("verified_by"),
        "verification": result.get("verification"),
        "metric": {
            "rule": rule.describe(),
            "threshold_ms": rule.threshold_s * 1000,
            "baseline_ms": _ms(baseline),
            "breach_ms": _ms(breach),
            "recovered_ms": None if recovered is None else _ms(recovered),
        },
    }


class SteadyLoad:
    """Wedding-day load on the live weddings, round after round, until stopped."""

    def __init__(self, base_url: str, wedding_ids: list[int]) -> None:
        self._base_url, self._ids = base_url, wedding_ids
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="demo-steady-load", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=60)

    def _run(self) -> None:
        from wedperf.sandbox.load import drive_load

        round_no = 0
        while not self._stop.is_set():
            drive_load(
                self._base_url,
                self._ids,
                requests=LOAD_ROUND,
                concurrency=LOAD_CONCURRENCY,
                seed=1000 + round_no,
            )
            round_no += 1


def _read(base_url: str, rule):
    from wedperf.remediation.verify import read_rule

    return read_rule(base_url, rule)


def _wait_for(base_url: str, rule, *, firing: bool, timeout: float):
    """Evaluate the rule window after window until it is (or is no longer) firing."""
    deadline = time.monotonic() + timeout
    while True:
        reading = _read(base_url, rule)
        if reading.value_s is not None and (reading.value_s > rule.threshold_s) == firing:
            return reading
        if time.monotonic() > deadline:
            raise DemoError(
                f"rule {rule.describe()} still {'not ' if firing else ''}firing after "
                f"{timeout:.0f} s: {_fmt(reading)}"
            )


def _set_replicas(base_url: str, replicas: int) -> int:
    """The sandbox's replicas before the change."""
    before = httpx.get(f"{base_url}/admin/capacity", timeout=10).json()["replicas"]
    answer = httpx.put(f"{base_url}/admin/capacity", json={"replicas": replicas}, timeout=10)
    answer.raise_for_status()
    return before


def _ms(reading) -> float | None:
    return None if reading.value_s is None else reading.value_s * 1000


def _fmt(reading) -> str:
    value = _ms(reading)
    return "no requests" if value is None else f"p95 {value:.0f} ms ({reading.requests} requests)"


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
