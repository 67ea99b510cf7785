"""`run_demo`: every step of the demo, reporting progress; returns the summary."""

from __future__ import annotations

import os
import secrets
import subprocess
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from cli.demo.alerting import alert_and_remediate, receiver_app, rum_token
from cli.demo.capacity_raise import raise_floor_measured
from cli.demo.errors import PROJECT_DIR, DemoError, Progress
from cli.demo.prefect_server import (
    LocalServer,
    ensure_local_server,
    forget_server,
    stop_process,
    ui_api_url,
)
from cli.demo.prewarm_ab import measure_prewarm_ab
from cli.demo.summary import summarise
from cli.demo.worker import DEMO_QUEUE, DemoWorker, serve_on_demo_queue
from wedperf.config import reset_settings_cache
from wedperf.db.connection import connect

LIVE_WEDDINGS = 4
# Dense collection (a run a minute) and watch runs are materialised this far ahead by the
# plan: the demo is over long before, and at the production 3 h the plan alone creates ~220
# runs, a minute or two of a loaded machine. The runs stay Scheduled for a production worker.
COLLECT_PLAN_HORIZON = "PT30M"
PAST_WEDDINGS = 4  # weddings of yesterday (the report's clock) that have happened


def run_demo(
    *,
    out: Path,
    weddings: int,
    days: int,
    seed: int,
    requests: int,
    progress: Progress,
    keep_prefect: bool = False,
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
    home = settings.data_dir / "prefect"
    server = ensure_local_server(home)
    api_url = server.api_url
    progress(
        f"Prefect UI: {server.ui_url} "
        f"({'started' if server.started else 'already running'}"
        f"; its UI talks to {ui_api_url(api_url)})"
    )

    # The worker started below, and what this process asks of Prefect, talk to that server;
    # the settings are re-read so every flow sees the demo's environment.
    os.environ["PREFECT_API_URL"] = api_url
    os.environ["WEDPERF_DATABASE_URL"] = services.database_url
    os.environ["WEDPERF_APP_DATABASE_URL"] = services.app_database_url
    os.environ["WEDPERF_REDIS_URL"] = services.redis_url
    os.environ.setdefault("WEDPERF_COLLECT_PLAN_HORIZON", COLLECT_PLAN_HORIZON)
    # Every wedding of the two days gets its timeline figure (the default draws the 12 worst).
    os.environ.setdefault("WEDPERF_EVIDENCE__MAX_WEDDING_FIGURES", "16")
    # Two credentials of 32 random bytes: the alert routes' and /rum's own (the apps').
    os.environ.setdefault("WEDPERF_WEBHOOK__TOKEN", secrets.token_urlsafe(32))
    os.environ.setdefault("WEDPERF_RUM__TOKEN", secrets.token_urlsafe(32))
    reset_settings_cache()

    stopped = False
    try:
        with temporary_settings(updates={PREFECT_API_URL: api_url}):
            summary = _story(
                out=out,
                server=server,
                services=services,
                weddings=weddings,
                days=days,
                seed=seed,
                requests=requests,
                progress=progress,
            )
    finally:
        if server.process is not None and not keep_prefect:
            progress(f"stopping the local Prefect server (pid {server.process.pid})")
            stop_process(server.process)
            forget_server(home)
            stopped = True
    summary["prefect"] = prefect_afterwards(server, stopped=stopped)
    # `processes`: what the demo leaves running (None: stopped); `stopped`: what it stopped.
    summary["processes"] = {
        "prefect_server": None if stopped or server.process is None else server.process.pid,
        "worker": None,
    }
    summary["stopped"] = {
        "prefect_server": server.process.pid if stopped and server.process else None,
        "worker": summary.pop("worker_pid"),
    }
    return summary


def prefect_afterwards(server: LocalServer, *, stopped: bool) -> dict[str, Any]:
    """How to look at the demo's runs once it has ended: the server's state, and the
    commands to reopen its UI (a stopped server's runs stay in its PREFECT_HOME's SQLite) or
    to stop one kept running (by the pid of its process group)."""
    home, api_url = server.home, server.api_url
    port = api_url.rsplit(":", 1)[1].split("/", 1)[0]
    pid = server.process.pid if server.process else None
    running = not stopped
    return {
        "ui": server.ui_url,
        "api": api_url,
        "home": str(home),
        "running": running,
        "pid": pid if running else None,
        # The runs, flows, logs and artifacts, read back from the SQLite of `home`; the
        # scheduler off (--no-services): a UI to look with, no new runs going Late.
        "reopen": f"PREFECT_HOME={home} PREFECT_UI_API_URL={api_url} "
        f"uv run prefect server start --port {port} --no-services",
        "stop": f"kill -TERM -- -{pid}" if running and pid else None,
    }


def _story(
    *, out, server: LocalServer, services, weddings, days, seed, requests, progress
) -> dict[str, Any]:
    from wedperf.sandbox.app import create_app
    from wedperf.sandbox.capacity import BASELINE_REPLICAS
    from wedperf.serving import serve_in_thread

    now = datetime.now(UTC)
    seeded, live_ids = _seed(
        services, weddings=weddings, days=days, seed=seed, now=now, progress=progress
    )
    api_url = server.api_url
    deployed = _register_deployments(api_url, progress)
    pool = next(iter(deployed["work_pool"]))
    for name in serve_on_demo_queue(pool):
        progress(f"  {name}: its scheduled runs on the demo's work queue {DEMO_QUEUE}")

    with (
        serve_in_thread(
            create_app(services.app_database_url, services.redis_url, capacity=BASELINE_REPLICAS)
        ) as base_url,
        serve_in_thread(receiver_app(services, api_url)) as webhook_url,
    ):
        os.environ["WEDPERF_PROBES__BASE_URL"] = base_url  # probes and the sandbox actuator
        reset_settings_cache()
        progress(f"sandbox app on {base_url}; alert webhooks and RUM beacons on {webhook_url}")
        # Started now, so it carries every setting above (the sandbox URL included) into the
        # flow runs it executes.
        progress(f"starting a Prefect process worker on work pool {pool}")
        worker = DemoWorker(pool, server.home / "demo-worker.log")
        worker.start()
        progress(f"worker pid {worker.process.pid} polling {pool}; it executes every run below")
        try:
            story = _on_worker(
                worker,
                out=out,
                base_url=base_url,
                webhook_url=webhook_url,
                services=services,
                live_ids=live_ids,
                now=now,
                seed=seed,
                requests=requests,
                progress=progress,
            )
            story["worker"] = worker.counts()
            story["worker_pid"] = worker.process.pid
        finally:
            progress("stopping the worker")
            worker.stop()
    progress(
        f"worker: {story['worker']['runs_completed']} flow runs completed, "
        f"{story['worker']['runs_failed']} failed"
    )
    return summarise(
        out=out,
        api_url=api_url,
        services=services,
        seeded=seeded,
        live_ids=live_ids,
        deployed=deployed,
        **story,
    )


def _on_worker(
    worker: DemoWorker,
    *,
    out: Path,
    base_url: str,
    webhook_url: str,
    services,
    live_ids: list[int],
    now: datetime,
    seed: int,
    requests: int,
    progress: Progress,
) -> dict[str, Any]:
    """The story's flow runs, each a deployment run that the worker picks up and executes."""
    from cli.demo.history import model_history
    from wedperf.mobile.client import drive_mobile_client
    from wedperf.sandbox.load import drive_load

    progress("calendar sync (flow sync-calendar)")
    synced = worker.run("sync-calendar/sync-calendar", {"plan_collection": False})
    # Yesterday and this morning, modelled while the live part runs (joined before the watch).
    # Left without joining it (a step below failed), the modelling is cancelled and its
    # process terminated: it must not go on writing while the services stop.
    with model_history(worker, services, now=now, seed=seed, progress=progress) as past:
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
            rum_token(),
            live_ids[1:],
            requests=requests // 2,
            seed=seed,
            concurrency=16,
            # Beacons carry what the phone would see (app + network time); the demo does not
            # also wait out a 3G photo upload in wall-clock time.
            simulate_network=False,
        )

        collect = "collect-metrics/collect-metrics-sparse"
        progress("one collection round (flow collect-metrics)")
        collected = worker.run(collect, {"lookback_minutes": 15})

        progress("forecasting the calendar-driven series (flow fit-forecasts)")
        forecasts = worker.run("fit-forecasts/fit-forecasts")

        progress("planning pre-warm and capacity-floor runs (flow plan-wedding-ops)")
        plan = worker.run("plan-wedding-ops/plan-wedding-ops")
        past.submit_forecast()  # yesterday's forecast, on the worker while the live part goes on
        for run in plan["runs"][:8]:
            progress(f"  scheduled {run['scheduled (UTC)']}  {run['name']}")
        if len(plan["runs"]) > 8:
            progress(f"  ... {len(plan['runs']) - 8} more in the Prefect UI")

        next_wedding = [str(live_ids[0])]
        plan_id = f"demo-{now:%Y%m%dT%H%M%S}"  # actions are keyed by (plan, kind, target)
        progress(f"pre-warming wedding {next_wedding[0]} (flow prewarm-weddings)")
        prewarm = worker.run(
            "prewarm-weddings/prewarm-weddings", {"wedding_ids": next_wedding, "plan_id": plan_id}
        )
        prewarm_ab = measure_prewarm_ab(
            worker, base_url=base_url, services=services, live_ids=live_ids, plan_id=plan_id,
            seed=seed, progress=progress,
        )  # fmt: skip
        slot = {"target": "sandbox", "wedding_ids": next_wedding, "plan_id": plan_id}
        floor, capacity = raise_floor_measured(
            worker, slot, base_url=base_url, live_ids=live_ids, requests=requests, seed=seed,
            progress=progress,
        )  # fmt: skip

        progress("more wedding-day load, then collection again")
        drive_load(base_url, live_ids, requests=requests, concurrency=16, seed=seed + 1)
        worker.run(collect, {"lookback_minutes": 15})

        progress("waiting for the modelled past (forecast run, load model, watch rounds)")
        history = past.wait(progress)
    _run_of_show(services, live_ids, seed=seed, progress=progress)
    progress("critical-path watch of the live weddings (flow watch-wedding-day)")
    watched = worker.run("watch-wedding-day/watch-wedding-day-live")

    remediation = alert_and_remediate(
        services, webhook_url, str(live_ids[1]), progress, worker=worker, base_url=base_url,
        live_ids=live_ids,
    )  # fmt: skip

    progress(
        f"restoring the capacity floor while wedding {next_wedding[0]} is still live (flow "
        "capacity-floor): tried now, expected to be held until its day window closes"
    )
    restore = worker.run("capacity-floor/capacity-floor", {**slot, "action": "restore"})
    progress(f"  restore: {restore.get('outcome')} ({restore.get('reason', '')})")
    _run_of_show(services, live_ids, seed=seed, progress=progress)
    after_incident = _round_after_incident(worker, services, progress)

    # Yesterday and today on the report's clock (New York by default), not the host's
    # dates: at 00:30 UTC it is still yesterday evening in New York.
    day = date.fromisoformat(history["day"])
    progress(
        f"building the evidence report of {day} and {day + timedelta(days=1)} (flow build-evidence)"
    )
    evidence = worker.run(
        "build-evidence/build-evidence",
        {"day": day.isoformat(), "days": 2, "out": str((out / "evidence").resolve())},
    )
    return {
        "synced": synced,
        "load": load,
        "mobile": mobile,
        "collected": collected,
        "forecasts": forecasts,
        "plan": plan,
        "prewarm": prewarm,
        "floor": floor,
        "prewarm_ab": prewarm_ab,
        "capacity": capacity,
        "restore": restore,
        "watched": watched,
        "after_incident": after_incident,
        "remediation": remediation,
        "evidence": evidence,
        "history": history,
    }


def _run_of_show(services, live_ids: list[int], *, seed: int, progress: Progress) -> int:
    """Before a watch round: start the live weddings' timeline items that have come due (and
    complete those whose time has run), as the day goes on; the sandbox's cached timelines
    of those weddings are dropped after it, so the next read shows the run-of-show as it is."""
    import redis

    from wedperf.sandbox.cache import timeline_key
    from wedperf.sandbox.live import start_due_items

    with connect(services.app_database_url) as conn:
        changed = start_due_items(conn, live_ids, now=datetime.now(UTC), seed=seed)
    if changed:
        client = redis.Redis.from_url(services.redis_url)
        try:
            client.delete(*[timeline_key(i) for i in live_ids])
        finally:
            client.close()
    progress(f"  run-of-show: {changed} timeline items of the live weddings started or completed")
    return changed


def _round_after_incident(worker: DemoWorker, services, progress: Progress) -> dict[str, Any]:
    """A collection round, then the checks and error budgets of a watch round at this
    instant, after the staged incident, so the report's data holds the incident (the watch
    round above ran before it). The round is one watch-wedding-shard run of the weddings the
    watch flow would take now (live, or just closed for their final budget): the flow's own
    instant is floored to the watch grid (critical_path.interval, 5 min), which has most
    likely not moved since the round before the incident."""
    from wedperf.config import get_settings
    from wedperf.critical_path.round import live_weddings
    from wedperf.slo.round import budget_weddings

    progress("after the incident: a collection round, then a watch round at this instant")
    collected = worker.run("collect-metrics/collect-metrics-sparse", {"lookback_minutes": 15})
    settings = get_settings()
    at = datetime.now(UTC)
    with connect(services.database_url) as conn:
        live = [w.wedding_id for w in live_weddings(conn, at, settings)]
        budgets = (
            [w.wedding_id for w in budget_weddings(conn, at, settings)]
            if settings.slo.enabled
            else []
        )
    shard = worker.run(
        settings.critical_path.shard_deployment,
        {"at": at.isoformat(), "wedding_ids": live, "budget_ids": budgets, "label": "after"},
    )
    progress(
        f"  {collected['new_samples']} new samples; {len(live)} weddings checked and "
        f"{len(budgets)} error budgets at {at:%H:%M:%S} UTC"
    )
    return {
        "at": at.isoformat(),
        "new_samples": collected["new_samples"],
        "weddings": live,
        "budgets": budgets,
        "breaches": shard.get("breaches", {}),
    }


def _seed(services, *, weddings, days, seed, now, progress) -> tuple[Any, list[int]]:
    from cli.demo.history import past_day_start
    from wedperf.config import get_settings
    from wedperf.evidence.data import report_timezone
    from wedperf.sandbox.cache import clear_sandbox_cache
    from wedperf.sandbox.live import bring_weddings_live, bring_weddings_to_day
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
        settings = get_settings()
        past_day, _ = past_day_start(settings, now)
        past_ids = bring_weddings_to_day(
            conn,
            count=PAST_WEDDINGS,
            day=past_day,
            now=now,
            zones=[report_timezone(settings)],
        )
        live = _local_ceremonies(conn, live_ids)
        past = _local_ceremonies(conn, past_ids)
    clear_sandbox_cache(services.redis_url)  # a previous run's cache describes old data
    progress(f"{len(live_ids)} weddings moved into today's day window: {live}")
    progress(f"{len(past_ids)} weddings that have happened moved onto {past_day}: {past}")
    return seeded, live_ids


def _local_ceremonies(conn, ids: list[int]) -> str:
    rows = conn.execute(
        "SELECT id, to_char(ceremony_at AT TIME ZONE timezone, 'HH24:MI'), timezone "
        "FROM app.weddings WHERE id = ANY(%s) ORDER BY ceremony_at",
        (ids,),
    ).fetchall()
    return ", ".join(f"{i} (ceremony {at} {zone})" for i, at, zone in rows)


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
