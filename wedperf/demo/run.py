"""`run_demo`: every step of the demo, reporting progress; returns the summary."""

from __future__ import annotations

import os
import secrets
import subprocess
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from wedperf.config import reset_settings_cache
from wedperf.db.connection import connect
from wedperf.demo.prefect_server import ensure_local_server, prefect_command, ui_url

LIVE_WEDDINGS = 4
PROJECT_DIR = Path(__file__).resolve().parents[2]
REMEDIATION_VERIFY_S = 5  # the demo does not wait the production verification delay
DISPATCH_TIMEOUT_S = 60.0
REMEDIATION_TIMEOUT_S = 300.0

Progress = Callable[[str], None]


class DemoError(RuntimeError):
    """A step failed; the message names it and why."""


def run_demo(
    *,
    out: Path,
    weddings: int,
    days: int,
    seed: int,
    requests: int,
    progress: Progress,
) -> dict[str, Any]:
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from wedperf.runtime import get_runtime

    began = time.monotonic()
    report = progress

    def progress(message: str) -> None:  # every step stamped with the time it began
        report(f"[{time.monotonic() - began:5.0f} s] {message}")

    progress("starting embedded PostgreSQL and Redis (a first run initialises them)")
    runtime = get_runtime()
    settings, services = runtime.settings, runtime.services
    progress("starting the local Prefect server (reused if a previous demo left it running)")
    api_url, started = ensure_local_server(settings.data_dir / "prefect")
    progress(f"Prefect UI: {ui_url(api_url)} ({'started' if started else 'already running'})")

    # Runs this process starts, and the worker-like subprocess below, talk to that server;
    # the settings are re-read so every flow sees the demo's environment.
    os.environ["PREFECT_API_URL"] = api_url
    os.environ["WEDPERF_DATABASE_URL"] = services.database_url
    os.environ["WEDPERF_APP_DATABASE_URL"] = services.app_database_url
    os.environ["WEDPERF_REDIS_URL"] = services.redis_url
    os.environ["WEDPERF_REMEDIATION__VERIFY_DELAY"] = f"PT{REMEDIATION_VERIFY_S}S"
    os.environ.setdefault("WEDPERF_WEBHOOK__TOKEN", secrets.token_urlsafe(24))
    reset_settings_cache()

    with temporary_settings(updates={PREFECT_API_URL: api_url}):
        return _story(
            out=out,
            api_url=api_url,
            services=services,
            weddings=weddings,
            days=days,
            seed=seed,
            requests=requests,
            progress=progress,
        )


def _story(*, out, api_url, services, weddings, days, seed, requests, progress) -> dict[str, Any]:
    from wedperf.sandbox.app import create_app
    from wedperf.serving import serve_in_thread

    now = datetime.now(UTC)
    seeded, live_ids = _seed(
        services, weddings=weddings, days=days, seed=seed, now=now, progress=progress
    )
    deployed = _register_deployments(api_url, progress)

    with (
        serve_in_thread(create_app(services.app_database_url, services.redis_url)) as base_url,
        serve_in_thread(_receiver(services, api_url)) as webhook_url,
    ):
        os.environ["WEDPERF_PROBES__BASE_URL"] = base_url  # probes and the sandbox actuator
        reset_settings_cache()
        progress(f"sandbox app on {base_url}; alert webhooks and RUM beacons on {webhook_url}")
        from flows.sync_calendar import sync_calendar

        progress("calendar sync (flow sync-calendar)")
        synced = _result(sync_calendar(plan_collection=False, return_state=True), "sync-calendar")

        from wedperf.mobile.client import drive_mobile_client
        from wedperf.sandbox.load import drive_load

        progress(f"driving {requests} requests of wedding-day load at the sandbox app")
        # The next wedding (pre-warmed below) is left cold until then, so the pre-warm's
        # before/after guest-list figures measure a first touch against a warmed cache.
        load = drive_load(base_url, live_ids[1:], requests=requests, concurrency=16, seed=seed)
        progress(
            f"{requests // 2} requests from synthetic mobile clients (4g/3g/wifi), RUM beacons"
        )
        mobile = drive_mobile_client(
            base_url,
            f"{webhook_url}/rum",
            _token(),
            live_ids[1:],
            requests=requests // 2,
            seed=seed,
        )

        from flows.collect_metrics import collect_metrics

        progress("one collection round (flow collect-metrics)")
        collected = _result(
            collect_metrics(lookback_minutes=15, return_state=True), "collect-metrics"
        )

        from flows.fit_forecasts import fit_forecasts

        progress("forecasting the calendar-driven series (flow fit-forecasts)")
        forecasts = _result(fit_forecasts(return_state=True), "fit-forecasts")

        from flows.plan_wedding_ops import plan_wedding_ops

        progress("planning pre-warm and capacity-floor runs (flow plan-wedding-ops)")
        plan = _result(plan_wedding_ops(return_state=True), "plan-wedding-ops")
        for run in plan["runs"][:8]:
            progress(f"  scheduled {run['scheduled (UTC)']}  {run['name']}")
        if len(plan["runs"]) > 8:
            progress(f"  ... {len(plan['runs']) - 8} more in the Prefect UI")

        next_wedding = [str(live_ids[0])]
        plan_id = f"demo-{now:%Y%m%dT%H%M%S}"  # actions are keyed by (plan, kind, target)
        from flows.capacity_floor import capacity_floor
        from flows.prewarm_weddings import prewarm_weddings

        progress(f"pre-warming wedding {next_wedding[0]} (flow prewarm-weddings)")
        prewarm = _result(
            prewarm_weddings(wedding_ids=next_wedding, plan_id=plan_id, return_state=True),
            "prewarm-weddings",
        )
        progress(f"raising the capacity floor for wedding {next_wedding[0]} (flow capacity-floor)")
        floor = _result(
            capacity_floor(
                target="sandbox",
                action="raise",
                wedding_ids=next_wedding,
                plan_id=plan_id,
                return_state=True,
            ),
            "capacity-floor",
        )
        progress("more wedding-day load, then collection again")
        drive_load(base_url, live_ids, requests=requests, concurrency=16, seed=seed + 1)
        collect_metrics(lookback_minutes=15, return_state=True)

        from flows.watch_wedding_day import watch_wedding_day

        progress("critical-path watch of the live weddings (flow watch-wedding-day)")
        watched = _result(watch_wedding_day(return_state=True), "watch-wedding-day")

        remediation = _alert_and_remediate(
            services, base_url, webhook_url, str(live_ids[1]), progress
        )

    from flows.build_evidence import build_evidence

    progress("building the evidence report (flow build-evidence)")
    evidence = _result(
        build_evidence(day=date.today(), out=str((out / "evidence").resolve()), return_state=True),
        "build-evidence",
    )
    return _summary(
        out=out,
        api_url=api_url,
        services=services,
        seeded=seeded,
        live_ids=live_ids,
        deployed=deployed,
        synced=synced,
        load=load,
        mobile=mobile,
        collected=collected,
        forecasts=forecasts,
        plan=plan,
        prewarm=prewarm,
        floor=floor,
        watched=watched,
        remediation=remediation,
        evidence=evidence,
    )


def _result(state, name: str) -> Any:
    """The flow's return value, or a DemoError naming the flow and its failure."""
    if not state.is_completed():
        raise DemoError(f"flow {name} ended {state.name}: {state.message}")
    return state.result()


def _seed(services, *, weddings, days, seed, now, progress) -> tuple[Any, list[int]]:
    from wedperf.sandbox.cache import clear_sandbox_cache
    from wedperf.sandbox.live import bring_weddings_live
    from wedperf.sandbox.seed import seed_sandbox

    progress(f"seeding the sandbox platform: {weddings} weddings over {days} days (seed {seed})")
    with connect(services.app_database_url) as conn:
        seeded = seed_sandbox(
            conn,
            weddings=weddings,
            days=days,
            seed=seed,
            start=date.today() - timedelta(days=days // 2),
            now=now,
        )
        live_ids = bring_weddings_live(conn, count=LIVE_WEDDINGS, now=now, seed=seed)
    clear_sandbox_cache(services.redis_url)  # a previous run's cache describes old data
    progress(f"{LIVE_WEDDINGS} weddings moved into today's day window: {live_ids}")
    return seeded, live_ids


def _register_deployments(api_url: str, progress: Progress) -> dict[str, Any]:
    """The work pool, the remediation concurrency limits, then `prefect deploy --all`."""
    from prefect.client.orchestration import get_client

    from deployments.setup import deploy_all, prepare

    progress("registering the deployments of prefect.yaml (work pool, limits, prefect deploy)")
    with get_client(sync_client=True) as client:
        prepared = prepare(client, project_dir=PROJECT_DIR)
    try:
        deploy_all(api_url=api_url, project_dir=PROJECT_DIR)
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        raise DemoError(f"registering deployments failed: {exc}") from exc
    with get_client(sync_client=True) as client:
        names = sorted(
            f"{client.read_flow(d.flow_id).name}/{d.name}" for d in client.read_deployments()
        )
    progress(f"{len(names)} deployments on work pool {next(iter(prepared['work_pool']))}")
    return {"deployments": names, **prepared}


def _token() -> str:
    from wedperf.config import get_settings

    return get_settings().webhook.token.get_secret_value()


def _receiver(services, api_url: str):
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


def _notify(webhook_url: str, alert: dict[str, Any]) -> None:
    from wedperf.alerts.samples import alertmanager_notification

    answer = httpx.post(
        f"{webhook_url}/alerts/alertmanager",
        json=alertmanager_notification([alert]),
        headers={"Authorization": f"Bearer {_token()}"},
        timeout=30,
    )
    if answer.status_code >= 300:
        raise DemoError(f"the webhook answered {answer.status_code}: {answer.text[:300]}")


def _alert_and_remediate(
    services, sandbox_url: str, webhook_url: str, wedding_id: str, progress: Progress
) -> dict[str, Any]:
    """POST an Alertmanager notification at the webhook; execute the remediation run it
    dispatched the way a process worker would (`prefect flow-run execute`); once the playbook
    has acted, the source sends its resolved notification — as Alertmanager would when the
    latency came back — and the run's verification sees it."""
    from wedperf.alerts.samples import alertmanager_alert

    alert = alertmanager_alert(
        1, alertname="HighRequestLatency", starts_at=datetime.now(UTC).isoformat()
    )
    alert["labels"].update(wedding_id=wedding_id, service="sandbox", demo="true")
    alert["annotations"]["summary"] = f"p95 above SLO for wedding {wedding_id} (demo)"
    alert["fingerprint"] = secrets.token_hex(8)  # a fresh episode every demo
    progress(f"firing an Alertmanager alert at {webhook_url}/alerts/alertmanager")
    _notify(webhook_url, alert)
    alert_id, run_id = _wait_for_dispatch(services.database_url, alert["fingerprint"])
    progress(f"alert {alert_id} stored and dispatched: remediation run {run_id}")
    progress("executing the remediation run as a worker would (prefect flow-run execute)")
    env = {
        **os.environ,
        "WEDPERF_PROBES__BASE_URL": sandbox_url,
        "WEDPERF_PROJECT_DIR": str(PROJECT_DIR),
        "PREFECT_LOGGING_LEVEL": "WARNING",
    }
    with subprocess.Popen(
        [*prefect_command(), "flow-run", "execute", str(run_id)],
        cwd=PROJECT_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as worker:
        try:
            acted = _wait_for_actions(services.database_url, f"alert-{alert_id}", worker)
            if acted:
                progress(f"playbook acted ({', '.join(acted)}); the source resolves the alert")
                _notify(
                    webhook_url,
                    {**alert, "status": "resolved", "endsAt": datetime.now(UTC).isoformat()},
                )
            output, _ = worker.communicate(timeout=REMEDIATION_TIMEOUT_S)
        except BaseException:
            worker.kill()
            raise
    with connect(services.database_url) as conn:
        row = conn.execute(
            "SELECT remediation_state, remediation_note FROM perf.alerts WHERE alert_id = %s",
            (alert_id,),
        ).fetchone()
    if worker.returncode != 0 or row is None or row[0] is None:
        raise DemoError(
            f"remediation run {run_id} failed ({worker.returncode}): {output.strip()[-1500:]}"
        )
    progress(f"remediation: {row[0]} ({row[1]})")
    return {"alert_id": alert_id, "flow_run_id": str(run_id), "state": row[0], "note": row[1]}


def _wait_for_actions(database_url: str, plan_id: str, worker: subprocess.Popen) -> list[str]:
    """The actions the remediation run recorded, once there are any (or [] if it ended)."""
    deadline = time.monotonic() + REMEDIATION_TIMEOUT_S
    with connect(database_url, autocommit=True) as conn:
        while time.monotonic() < deadline and worker.poll() is None:
            kinds = [
                f"{kind} {target}: {outcome}"
                for kind, target, outcome in conn.execute(
                    "SELECT kind, target, outcome FROM perf.actions WHERE plan_id = %s "
                    "ORDER BY kind",
                    (plan_id,),
                )
            ]
            if kinds:
                return kinds
            time.sleep(0.5)
    return []


def _wait_for_dispatch(database_url: str, fingerprint: str) -> tuple[int, Any]:
    deadline = time.monotonic() + DISPATCH_TIMEOUT_S
    with connect(database_url) as conn:
        while True:
            row = conn.execute(
                "SELECT alert_id, flow_run_id FROM perf.alerts WHERE fingerprint = %s "
                "ORDER BY alert_id DESC LIMIT 1",
                (fingerprint,),
            ).fetchone()
            if row is not None and row[1] is not None:
                return row[0], row[1]
            if time.monotonic() > deadline:
                raise DemoError(
                    f"the alert was not dispatched within {DISPATCH_TIMEOUT_S:.0f} s "
                    f"({'not stored' if row is None else 'stored, still pending'})"
                )
            time.sleep(0.5)


def _summary(**parts) -> dict[str, Any]:
    services = parts["services"]
    with connect(services.database_url) as conn:
        totals = dict(
            zip(
                ("weddings", "samples", "rollups", "checks", "alerts", "actions", "forecasts"),
                conn.execute(
                    "SELECT (SELECT count(*) FROM perf.weddings), "
                    "(SELECT count(*) FROM perf.samples), "
                    "(SELECT count(*) FROM perf.rollups_minute), "
                    "(SELECT count(*) FROM perf.critical_path_checks), "
                    "(SELECT count(*) FROM perf.alerts), "
                    "(SELECT count(*) FROM perf.actions), "
                    "(SELECT count(DISTINCT series) FROM perf.forecasts)"
                ).fetchone(),
                strict=True,
            )
        )
    seeded, collected, evidence = parts["seeded"], parts["collected"], parts["evidence"]
    lines = [
        f"report: {evidence['html']}",
        f"markdown twin: {evidence['markdown']}; numbers: {evidence['json']}",
        f"Prefect UI: {ui_url(parts['api_url'])} "
        f"({len(parts['deployed']['deployments'])} deployments, runs, artifacts)",
        f"sandbox: {seeded.counts['weddings']} weddings, {seeded.counts['guests']} guests; "
        f"live now: {parts['live_ids']}",
        f"calendar: {parts['synced']['inserted']} new, {parts['synced']['updated']} updated, "
        f"{parts['synced']['rejected']} rejected",
        f"load: {parts['load'].requests} web requests: "
        + ", ".join(f"{op} p95 {st.p95_ms:.0f} ms" for op, st in parts["load"].operations.items()),
        f"mobile: {parts['mobile'].requests} requests, {parts['mobile'].beacons_stored} RUM "
        f"beacons stored",
        f"pre-warm: guest-list p95 {_ms(parts['prewarm'].get('guest_list_p95_before_ms'))} first "
        f"touch -> {_ms(parts['prewarm'].get('guest_list_p95_after_ms'))} warmed, "
        f"{parts['prewarm'].get('redis_keys', 0)} Redis keys",
        f"collection: {collected['samples']} samples ({collected['new_samples']} new)",
        f"forecasts: {_forecast_line(parts['forecasts'])}",
        f"plan: {len(parts['plan']['runs'])} scheduled runs for "
        f"{parts['plan']['weddings']} weddings in the horizon",
        f"capacity floor: {parts['floor']['outcome']} "
        f"({parts['floor']['before']} -> {parts['floor']['after']}): {parts['floor']['reason']}",
        f"critical path: {parts['watched'].get('weddings', '?')} live weddings checked",
        f"remediation: alert {parts['remediation']['alert_id']} -> {parts['remediation']['state']}",
        "perf tables: " + ", ".join(f"{k} {v}" for k, v in totals.items()),
    ]
    return {
        "lines": lines,
        "prefect_ui": ui_url(parts["api_url"]),
        "report": evidence["html"],
        "evidence": evidence,
        "totals": totals,
        "live_weddings": parts["live_ids"],
        "remediation": parts["remediation"],
        "plan_runs": len(parts["plan"]["runs"]),
        "deployments": parts["deployed"]["deployments"],
        "out": str(parts["out"]),
    }


def _forecast_line(result: dict[str, Any]) -> str:
    fitted = ", ".join(f"{name} ({fit['model']})" for name, fit in result["series"].items())
    skipped = ", ".join(sorted(result["skipped"]))
    return f"fitted {fitted or 'none'}" + (f"; too short: {skipped}" if skipped else "")


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} ms"
