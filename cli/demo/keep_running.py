"""What `wedperf up` does while it runs: the first calendar sync (waited for a while, its
outcome reported later if it is slow), then a status line a minute, watching that the
worker lives and the Prefect server answers."""

from __future__ import annotations

import time
from typing import Any

STATUS_EVERY_S = 60.0
SYNC_WAIT_S = 180.0


def initial_sync(worker, progress) -> str | None:
    """One sync-calendar run on the worker (the deployment's own queue), which plans the
    collection and watch runs across today's day windows. Waited for up to SYNC_WAIT_S (the
    load's RUM beacons name weddings it reads in); still running then, its id is returned
    and its outcome reported when it ends. A failure is reported, not fatal: the
    deployment's schedule runs it again every 15 minutes."""
    from prefect.deployments import run_deployment

    from cli.demo.errors import DemoError

    progress("calendar sync (a run of sync-calendar, on the worker): plans the day windows")
    created = run_deployment(
        "sync-calendar/sync-calendar", timeout=0, as_subflow=False, tags=["wedperf-up"]
    )
    try:
        run = worker.wait(created.id, "sync-calendar", timeout=SYNC_WAIT_S)
    except DemoError:
        worker.ensure_alive()  # a dead worker is fatal; a slow run is not
        progress(f"  still running after {SYNC_WAIT_S:.0f} s; its outcome follows when it ends")
        return str(created.id)
    report_sync(worker, run, progress)
    return None


def report_sync(worker, run, progress) -> None:
    from cli.demo.errors import DemoError

    if run.state.is_cancelled() and "concurrency" in (run.state.message or "").lower():
        # the deployment runs one sync at a time (CANCEL_NEW): its schedule's run is at it
        progress("  another sync-calendar run (its schedule's) is syncing and planning now")
        return
    try:
        synced = worker.result(run, "sync-calendar")
    except DemoError as exc:
        progress(f"  {exc}; its schedule runs it again every 15 minutes")
        return
    progress(
        f"  calendar sync: {synced['seen']} weddings read; {synced['planned_runs']} collection "
        f"and {synced['planned_watch_runs']} watch runs scheduled across today's day windows"
    )


def keep_running(running: dict[str, Any], duration: float, progress) -> str:
    """Until `duration` is over (0: forever), a status line a minute; a DemoError when the
    worker or the server died (then everything is stopped and the command fails)."""
    import httpx
    from prefect.exceptions import PrefectException

    from cli.demo.errors import DemoError
    from cli.demo.prefect_server import healthy

    worker, server = running["worker"], running["server"]
    ends = time.monotonic() + duration if duration else None
    next_status = time.monotonic() + STATUS_EVERY_S
    unhealthy = 0
    while ends is None or time.monotonic() < ends:
        time.sleep(1.0)
        worker.ensure_alive()
        if time.monotonic() < next_status:
            continue
        next_status += STATUS_EVERY_S
        if not healthy(server.api_url):
            unhealthy += 1
            if unhealthy >= 3:
                raise DemoError(f"the Prefect server at {server.api_url} stopped answering")
            progress(f"the Prefect server at {server.api_url} does not answer ({unhealthy})")
            continue
        unhealthy = 0
        try:
            status_line(running, progress)
        except (httpx.HTTPError, PrefectException) as exc:  # a busy server: next minute
            progress(f"status unavailable: {type(exc).__name__}: {exc}")
    progress(f"--duration {duration:g} s is over: stopping")
    return f"--duration {duration:g} s"


def status_line(running: dict[str, Any], progress) -> None:
    worker, load = running["worker"], running["load"]
    if running["pending_sync"] and worker.finished(running["pending_sync"]):
        report_sync(worker, worker.wait(running["pending_sync"], "sync-calendar"), progress)
        running["pending_sync"] = None
    counts, totals = worker.counts(), load.totals()
    late = f", {totals['late_rounds']} rounds late" if totals["late_rounds"] else ""
    p95 = totals["last_guest_list_p95_ms"]
    progress(
        f"worker: {counts['runs_completed']} runs completed, {counts['runs_failed']} "
        f"failed; load: {totals['requests']} requests, {totals['errors']} errors{late}"
        + (f", guest-list p95 {p95:.0f} ms" if p95 is not None else "")
    )


def final_counts(running: dict[str, Any]) -> dict[str, Any]:
    """What the worker and the load did, read before they stop (None if unreadable)."""
    try:
        worker = running["worker"].counts()
    except Exception:  # the server may be the part that broke
        worker = None
    return {"worker": worker, "load": running["load"].totals()}
