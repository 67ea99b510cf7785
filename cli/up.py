"""`wedperf up`: the whole local system, kept running until Ctrl-C.

What the demo runs once, left running as production would: embedded PostgreSQL and Redis,
the local Prefect server (its UI names its API), every deployment of prefect.yaml with its
schedules, a process worker on the project's pool polling `default` (where scheduled and
calendar-planned runs go) and `remediation` (the webhook's runs), the sandbox app with a
few weddings live today under continuous wedding-day load (web and mobile clients, RUM
beacons), and the alert webhook with /rum. One calendar sync runs at start (a deployment
run, executed by the worker), so the day windows' collection and watch runs are planned
now rather than at the next quarter hour; every other run comes from a schedule, the
calendar's plan or an event trigger, as in production.

Ctrl-C (SIGINT) or SIGTERM stops, in reverse order and by pid, what this command started:
the load, the worker, the apps, the Prefect server, the embedded services. A server or a
service something else started is left running, and said so.
"""

from __future__ import annotations

import os
import signal
import time
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import typer

from cli._common import fail, quiet_prefect, step

STATE_FILE = "up.json"
UP_QUEUES = ("default", "remediation")
MISSED_GRACE = timedelta(minutes=2)  # a run due just now is still started


def up_command(
    weddings: int = typer.Option(600, min=1, help="weddings in the sandbox calendar"),
    days: int = typer.Option(180, min=2, help="days the calendar spans (half past, half ahead)"),
    seed: int = typer.Option(7, help="sandbox seed (and of the load's request plans)"),
    rate: float = typer.Option(
        5.0, min=0.1, help="wedding-day requests per second at the sandbox app"
    ),
    duration: float = typer.Option(
        0, min=0, help="stop after this many seconds; 0 runs until Ctrl-C"
    ),
) -> None:
    """Keep the local system running until Ctrl-C: Prefect server and worker (scheduled runs
    execute on time), the sandbox app under continuous wedding-day load, the alert webhook."""
    quiet_prefect()
    from cli.demo.errors import DemoError
    from cli.demo.prefect_server import PrefectServerError
    from wedperf.services import EmbeddedServiceError

    began = time.monotonic()

    def progress(message: str) -> None:  # each step stamped: wall clock and elapsed
        step(f"[{datetime.now():%H:%M:%S} +{time.monotonic() - began:.0f} s] {message}")

    try:
        outcome = run_up(
            weddings=weddings, days=days, seed=seed, rate=rate, duration=duration, progress=progress
        )
    except (DemoError, PrefectServerError, EmbeddedServiceError) as exc:
        fail(str(exc))
    worker, load = outcome.get("worker"), outcome.get("load")
    typer.echo(f"wedperf up stopped ({outcome['reason']}) after {time.monotonic() - began:.0f} s")
    if worker:
        typer.echo(
            f"  worker: {worker['runs_completed']} flow runs completed, "
            f"{worker['runs_failed']} failed"
        )
    if load:
        typer.echo(f"  load: {load['requests']} requests, {load['errors']} errors")


def run_up(
    *, weddings: int, days: int, seed: int, rate: float, duration: float, progress
) -> dict[str, Any]:
    """Start everything, keep it running, stop it; returns why it stopped and the counts."""
    from cli.demo.keep_running import final_counts, keep_running
    from cli.demo.stack import claim, embedded_pids, release, write_json
    from wedperf.config import get_settings

    data_dir = get_settings().data_dir
    state = data_dir / STATE_FILE
    embedded_before = embedded_pids(data_dir)
    claim(state)
    outcome: dict[str, Any] = {"reason": "error"}
    running: dict[str, Any] | None = None
    stack = ExitStack()
    signal.signal(signal.SIGTERM, _interrupt)  # SIGTERM stops it as Ctrl-C does
    try:
        stack.callback(release, state)  # last: once everything else is stopped
        stack.callback(state.unlink, missing_ok=True)
        running = _start(
            stack,
            data_dir,
            embedded_before,
            weddings=weddings,
            days=days,
            seed=seed,
            rate=rate,
            progress=progress,
        )
        write_json(state, {"pid": os.getpid(), **running["state"]})
        _print_ready(running, rate, state)
        outcome["reason"] = keep_running(running, duration, progress)
        outcome.update(final_counts(running))
    except KeyboardInterrupt as interrupt:
        outcome["reason"] = str(interrupt) or "SIGINT"
        progress(f"{outcome['reason']}: stopping")
        if running is not None:
            outcome.update(final_counts(running))
    finally:
        # A second Ctrl-C must not leave half of it running: stopping is not interruptible.
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: progress("still stopping; please wait"))
        stack.close()
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        progress("everything `wedperf up` started is stopped")
    return outcome


def _start(
    stack: ExitStack,
    data_dir: Path,
    embedded_before: dict[str, int | None],
    *,
    weddings: int,
    days: int,
    seed: int,
    rate: float,
    progress,
) -> dict[str, Any]:
    """Start each part, registering its stop on `stack` as soon as it runs."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from cli.demo.alerting import receiver_app
    from cli.demo.keep_running import initial_sync
    from cli.demo.prefect_server import ensure_local_server, ui_api_url
    from cli.demo.run import _register_deployments, _seed
    from cli.demo.stack import (
        cancel_missed,
        embedded_pids,
        ensure_tokens,
        stop_embedded,
        stop_load,
        stop_server,
        stop_worker,
    )
    from cli.demo.worker import DemoWorker
    from wedperf.config import get_settings, reset_settings_cache
    from wedperf.runtime import get_runtime
    from wedperf.sandbox.app import create_app
    from wedperf.sandbox.capacity import BASELINE_REPLICAS
    from wedperf.sandbox.paced import PacedLoad
    from wedperf.serving import serve_in_thread

    progress("starting embedded PostgreSQL and Redis (a first run initialises them)")
    services = get_runtime().services
    started = {
        name: pid
        for name, pid in embedded_pids(data_dir).items()
        if pid is not None and pid != embedded_before[name]
    }
    stack.callback(stop_embedded, data_dir, started, progress)
    embedded = {"postgres": services.embedded_postgres, "redis": services.embedded_redis}
    for name, pid in embedded_before.items():
        if pid is not None and embedded[name]:
            progress(f"embedded {name} (pid {pid}) was already running: it is left running")

    progress("starting the local Prefect server (reused if a previous command left it running)")
    home = data_dir / "prefect"
    server = ensure_local_server(home)
    stack.callback(stop_server, server, progress)
    api_url = server.api_url
    how = "started" if server.started else "already running"
    pid = f", pid {server.process.pid}" if server.process else ""
    progress(f"Prefect UI {server.ui_url} ({how}{pid}); API {api_url}")
    progress(f"  its UI talks to {ui_api_url(api_url)}")

    # The worker, and what this process asks of Prefect, use that server and these services.
    os.environ["PREFECT_API_URL"] = api_url
    os.environ["WEDPERF_DATABASE_URL"] = services.database_url
    os.environ["WEDPERF_APP_DATABASE_URL"] = services.app_database_url
    os.environ["WEDPERF_REDIS_URL"] = services.redis_url
    reset_settings_cache()
    tokens = ensure_tokens(data_dir)  # generated ones are put in this process's environment
    if tokens is not None:
        stack.callback(tokens.unlink, missing_ok=True)
    stack.enter_context(temporary_settings(updates={PREFECT_API_URL: api_url}))

    now = datetime.now(UTC)
    _, live_ids = _seed(
        services, weddings=weddings, days=days, seed=seed, now=now, progress=progress
    )
    deployed = _register_deployments(api_url, progress)
    pool = next(iter(deployed["work_pool"]))
    missed = cancel_missed(pool, before=now - MISSED_GRACE)
    if missed:
        progress(f"{missed} runs that came due while `wedperf up` was stopped: cancelled")

    app = create_app(services.app_database_url, services.redis_url, capacity=BASELINE_REPLICAS)
    base_url = stack.enter_context(serve_in_thread(app))
    webhook_url = stack.enter_context(serve_in_thread(receiver_app(services, api_url)))
    stack.callback(progress, "sandbox app and webhook stopped")
    os.environ["WEDPERF_PROBES__BASE_URL"] = base_url  # probes and the sandbox actuator
    reset_settings_cache()
    progress(f"sandbox app on {base_url}; alert webhooks and RUM beacons on {webhook_url}")

    progress(f"starting a Prefect process worker on pool {pool}, queues {', '.join(UP_QUEUES)}")
    worker = DemoWorker(pool, home / "up-worker.log", queues=UP_QUEUES)
    stack.callback(stop_worker, worker, progress)
    worker.start()
    progress(f"worker pid {worker.process.pid} polling {pool} (log {worker.log})")
    pending_sync = initial_sync(worker, progress)

    rum_token = get_settings().rum.token.get_secret_value()
    load = PacedLoad(
        base_url, live_ids, rate=rate, seed=seed, rum_url=f"{webhook_url}/rum", rum_token=rum_token
    )
    stack.callback(stop_load, load, progress)
    load.start()
    progress(f"wedding-day load: {rate:g} requests/s on weddings {live_ids} (web and mobile)")
    processes = {
        "prefect_server": server.process.pid if server.process else None,
        "worker": worker.process.pid,
        **{f"embedded_{name}": pid for name, pid in started.items()},
    }
    return {
        "server": server,
        "worker": worker,
        "load": load,
        "pending_sync": pending_sync,
        "state": {
            "prefect_api": api_url,
            "prefect_ui": server.ui_url,
            "sandbox": base_url,
            "webhook": webhook_url,
            "tokens": str(tokens) if tokens else None,
            "pool": pool,
            "queues": list(UP_QUEUES),
            "live_weddings": live_ids,
            "deployments": deployed["deployments"],
            "processes": processes,
        },
    }


def _print_ready(running: dict[str, Any], rate: float, state: Path) -> None:
    s = running["state"]
    worker = running["worker"]
    typer.echo("")
    typer.secho("wedperf up: running; Ctrl-C stops everything it started", bold=True)
    typer.echo(f"  Prefect UI:  {s['prefect_ui']}   API: {s['prefect_api']}")
    typer.echo(f"  deployments: {len(s['deployments'])} on pool {s['pool']}, with their schedules")
    typer.echo(
        f"  worker:      pid {worker.process.pid}, queues {', '.join(s['queues'])} "
        f"(log {worker.log})"
    )
    typer.echo(f"  sandbox app: {s['sandbox']}  (/metrics, /healthz, /weddings/ID/guests)")
    typer.echo(
        f"  webhook:     {s['webhook']}/alerts/{{alertmanager,grafana,generic}}, "
        f"RUM beacons {s['webhook']}/rum"
    )
    if s["tokens"]:
        typer.echo(
            f"  tokens:      {s['tokens']} (mode 600; `set -a; . {s['tokens']}; set +a`, then "
            '`curl -H "Authorization: Bearer $WEDPERF_WEBHOOK__TOKEN" ...`)'
        )
    else:
        typer.echo("  tokens:      the configured WEDPERF_WEBHOOK__TOKEN and WEDPERF_RUM__TOKEN")
    typer.echo(f"  load:        {rate:g} requests/s on live weddings {s['live_weddings']}")
    typer.echo(f"  state:       {state} (URLs and pids)")


def _interrupt(signum: int, _frame) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)
