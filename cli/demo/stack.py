"""What `wedperf up` starts and stops, by pid: embedded services, the Prefect server, the
worker, the load; its state file (under an exclusive lock) and the tokens file.

Every stop here is by a pid this process recorded when it started the thing (or read from
the service's own pid file and checked against the recorded one), never by name; and the
flow runs marked Crashed after its worker stopped are those that worker held.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import signal
import time
import uuid
from collections.abc import Collection
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from cli.demo.errors import DemoError, Progress

if TYPE_CHECKING:
    from cli.demo.prefect_server import LocalServer
    from cli.demo.worker import DemoWorker
    from wedperf.sandbox.paced import PacedLoad

TOKENS_FILE = "up-tokens.env"
FAST_SHUTDOWN_WAIT_S = 30.0
STOP_GROUP_TIMEOUT_S = 20.0
MISSED_PAGE = 200
RUNS_PAGE = 200
WORKER_LABEL = "prefect.worker.name"  # given by a Prefect worker to each run it takes
_LOCKS: dict[Path, int] = {}  # lock file -> the descriptor holding its flock


def alive(pid: int | None) -> bool:
    return pid is not None and Path(f"/proc/{pid}").exists()


def _pid_in(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def embedded_pids(data_dir: Path) -> dict[str, int | None]:
    """The running embedded services of `data_dir`, by their own pid files."""
    found = {
        "postgres": _pid_in(data_dir / "postgres" / "postmaster.pid"),
        "redis": _pid_in(data_dir / "redis" / "redis.pid"),
    }
    return {name: pid if alive(pid) else None for name, pid in found.items()}


def stop_embedded(data_dir: Path, started: dict[str, int], progress: Progress) -> None:
    """Stop the embedded services this command started (`started`: name -> pid), Redis
    first; PostgreSQL's smart shutdown waits for clients, so pools are closed before it,
    and a fast shutdown (SIGINT) follows if it still runs."""
    from wedperf.db.connection import close_pools
    from wedperf.services import stop_embedded_postgres, stop_embedded_redis

    close_pools()
    for name, stop in (("redis", stop_embedded_redis), ("postgres", stop_embedded_postgres)):
        pid = started.get(name)
        if pid is None:
            continue
        if embedded_pids(data_dir)[name] == pid:  # still the process this command started
            stop(data_dir)
        if name == "postgres" and alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGINT)  # PostgreSQL's fast shutdown
            deadline = time.monotonic() + FAST_SHUTDOWN_WAIT_S
            while alive(pid) and time.monotonic() < deadline:
                time.sleep(0.2)
        progress(f"embedded {name} {'still running' if alive(pid) else 'stopped'} (pid {pid})")


def stop_server(server: LocalServer, progress: Progress) -> None:
    """Stop the local Prefect server if its pid is known (started here, or kept by an earlier
    demo in this data dir, as `wedperf demo` does); a server of unknown pid is left alone."""
    from cli.demo.prefect_server import forget_server, stop_process

    if server.process is None:
        progress(f"the Prefect server at {server.api_url} was not started here: left running")
        return
    stop_process(server.process)
    forget_server(server.home)
    progress(f"Prefect server stopped (pid {server.process.pid})")


def stop_worker(worker: DemoWorker, progress: Progress) -> None:
    """Stop the worker and the flow runs in flight. The process worker starts each flow run
    in a session of its own (so a group-wide signal cannot reach it first), so stopping the
    worker's group leaves them running: they are found as its children, while it lives, and
    each one's group is stopped too."""
    if worker.process is None:
        return
    pid = worker.process.pid
    runs = children(pid)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)  # it stops taking runs
    runs |= children(pid)
    for run in sorted(runs):
        stop_group(run)
    worker.stop()  # SIGKILL after its timeout, and reaped
    stopped = f"; {len(runs)} flow run(s) in flight stopped ({', '.join(map(str, sorted(runs)))})"
    progress(f"worker stopped (pid {pid}){stopped if runs else ''}")
    crashed = crash_unfinished(worker.pool, worker.name, runs, queues=worker.queues)
    if crashed is None:
        progress(f"could not read the unfinished runs of pool {worker.pool}: left as they are")
    elif crashed:
        progress(f"{crashed} unfinished flow run(s) of its worker marked Crashed")


def crash_unfinished(
    pool: str, worker_name: str, pids: Collection[int], *, queues: Collection[str] = ()
) -> int | None:
    """Mark Crashed the runs of `pool` still Pending, Running or Cancelling that the worker
    `worker_name`, now stopped, held, and their subflow runs (a flow run stopped by SIGTERM
    usually reports Crashed itself; one killed, or claimed but not started, does not): left
    so, they would show as running in the UI of the next `wedperf up` and could hold their
    deployment's concurrency slot (a new run of a CANCEL_NEW deployment is then cancelled).

    A run is the worker's when it carries its name (the `prefect.worker.name` label a worker
    gives each run it takes, before starting it) or its process is one of `pids` (those it
    stopped). A run the worker claimed (Pending) but had not labelled yet carries neither:
    one on `queues` is taken for its when no other worker is online on the pool, and left
    alone otherwise. Every other run, another worker's, is left as it is. Returns how many
    were marked; None if the server could not be asked."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterParentFlowRunId,
        FlowRunFilterState,
        FlowRunFilterStateType,
        WorkPoolFilter,
        WorkPoolFilterName,
    )
    from prefect.client.schemas.objects import StateType
    from prefect.exceptions import PrefectException
    from prefect.states import Crashed

    from cli.demo.worker import online_workers

    unfinished = FlowRunFilterState(
        type=FlowRunFilterStateType(
            any_=[StateType.PENDING, StateType.RUNNING, StateType.CANCELLING]
        )
    )
    pools = WorkPoolFilter(name=WorkPoolFilterName(any_=[pool]))
    try:
        with get_client(sync_client=True) as client:
            runs = _read_all(client, FlowRunFilter(state=unfinished), work_pool_filter=pools)
            held = {run.id for run in runs if _held(run, worker_name, pids)}
            unlabelled = [run.id for run in runs if _unlabelled_claim(run, queues)]
            if unlabelled and not online_workers(pool) - {worker_name}:
                held.update(unlabelled)
            parents = held
            while parents:  # their subflow runs (no pool of their own), at any depth
                subflows = FlowRunFilter(
                    state=unfinished,
                    parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[*parents]),
                )
                parents = {run.id for run in _read_all(client, subflows)} - held
                held |= parents
            for run_id in held:
                client.set_flow_run_state(
                    run_id, Crashed(message="stopped with `wedperf up` (its worker)"), force=True
                )
    except (PrefectException, httpx.HTTPError):
        return None
    return len(held)


def _read_all(client: Any, flow_runs: Any, **filters: Any) -> list:
    found: list = []
    while page := client.read_flow_runs(
        flow_run_filter=flow_runs, offset=len(found), limit=RUNS_PAGE, **filters
    ):
        found += page
    return found


def _held(run: Any, worker_name: str, pids: Collection[int]) -> bool:
    return (run.labels or {}).get(WORKER_LABEL) == worker_name or run_pid(run) in pids


def _unlabelled_claim(run: Any, queues: Collection[str]) -> bool:
    from prefect.client.schemas.objects import StateType

    return (
        run.state_type == StateType.PENDING
        and run.work_queue_name in queues
        and WORKER_LABEL not in (run.labels or {})
        and not run.infrastructure_pid
    )


def run_pid(run: Any) -> int | None:
    """The pid of a flow run's process, from its `infrastructure_pid` ("<pid>", or
    "<host>:<pid>"); None if it has none."""
    try:
        return int(str(run.infrastructure_pid).rsplit(":", 1)[-1])
    except ValueError:
        return None


def children(pid: int) -> set[int]:
    """The live child processes of `pid`."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[1] == str(pid) and fields[0] != "Z":
            found.add(int(stat.parent.name))
    return found


def running(pid: int) -> bool:
    """Alive and not a zombie (a killed child its parent has not reaped yet is gone)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def stop_group(pid: int, timeout: float = STOP_GROUP_TIMEOUT_S) -> None:
    """SIGTERM the process group `pid` leads (the process alone if it leads none), SIGKILL
    if it still runs after `timeout`."""
    for signum in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            if os.getpgid(pid) == pid:
                os.killpg(pid, signum)
            else:
                os.kill(pid, signum)
        deadline = time.monotonic() + timeout
        while running(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if not running(pid):
            return


def stop_load(load: PacedLoad, progress: Progress) -> None:
    ended = load.stop()
    totals = load.totals()
    progress(
        f"load stopped{'' if ended else ' (its last round still in flight)'}: "
        f"{totals['requests']} requests, {totals['errors']} errors, "
        f"{totals['beacons_stored']} RUM beacons stored"
    )


def cancel_missed(pool: str, before: datetime) -> int:
    """Cancel the pool's runs that came due before `before` and never started: on a server
    kept from an earlier `wedperf up` they are the rounds planned for while it was stopped,
    which a worker would otherwise start all at once (each later round re-reads its own
    lookback, so nothing is lost). Returns how many."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterExpectedStartTime,
        FlowRunFilterState,
        FlowRunFilterStateType,
        WorkPoolFilter,
        WorkPoolFilterName,
    )
    from prefect.client.schemas.objects import StateType
    from prefect.states import Cancelled

    missed = FlowRunFilter(
        state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.SCHEDULED])),
        expected_start_time=FlowRunFilterExpectedStartTime(before_=before),
    )
    pools = WorkPoolFilter(name=WorkPoolFilterName(any_=[pool]))
    cancelled: set = set()
    with get_client(sync_client=True) as client:
        while True:
            page = client.read_flow_runs(
                flow_run_filter=missed, work_pool_filter=pools, limit=MISSED_PAGE
            )
            fresh = [run for run in page if run.id not in cancelled]
            if not fresh:  # none left (or the server refused: do not loop on them)
                return len(cancelled)
            for run in fresh:
                client.set_flow_run_state(
                    run.id, Cancelled(message="came due while `wedperf up` was stopped"), force=True
                )
                cancelled.add(run.id)


def ensure_tokens(data_dir: Path) -> Path | None:
    """The webhook's and /rum's bearer tokens: the configured ones, else two of 32 random
    bytes set in this process's environment (the worker and the apps inherit them) and
    written to `<data_dir>/up-tokens.env` (mode 600) for the user's curl. Never printed.
    Returns the file, or None when both were configured."""
    from wedperf.config import get_settings, reset_settings_cache

    settings = get_settings()
    generated = {
        name: secrets.token_urlsafe(32)
        for name, configured in (
            ("WEDPERF_WEBHOOK__TOKEN", settings.webhook.token),
            ("WEDPERF_RUM__TOKEN", settings.rum.token),
        )
        if configured is None
    }
    if not generated:
        return None
    os.environ.update(generated)
    reset_settings_cache()
    path = data_dir / TOKENS_FILE
    tmp = path.with_suffix(f".{uuid.uuid4().hex}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as sink:
        sink.writelines(f"{name}={value}\n" for name, value in generated.items())
    os.replace(tmp, path)
    return path


def claim(state: Path) -> None:
    """Make this process the data dir's `wedperf up`: an exclusive lock (flock) on
    `<state>.lock`, held until `release` or until the process ends however it ends (the
    kernel drops it), then the state file written. A DemoError if another process holds the
    lock; a state file left by one that is gone is taken over. Two started together cannot
    both pass: taking the lock is one step, not a look then a write."""
    lock = state.with_suffix(".lock")
    if lock not in _LOCKS:
        state.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)  # not inherited by children
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            pid = _pid_in(lock) or _state_pid(state)  # the holder writes it just after
            of = f" (pid {pid}); stop it with Ctrl-C in its terminal or `kill {pid}`" if pid else ""
            raise DemoError(f"`wedperf up` already runs on this data dir{of}") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        _LOCKS[lock] = fd
    write_json(state, {"pid": os.getpid(), "starting": True})


def release(state: Path) -> None:
    """Give up the lock `claim` took (the lock file itself stays: removing it would let a
    third process lock a new file while a second still holds the old one)."""
    fd = _LOCKS.pop(state.with_suffix(".lock"), None)
    if fd is not None:
        os.close(fd)


def _state_pid(state: Path) -> int | None:
    try:
        return json.loads(state.read_text()).get("pid")
    except (OSError, ValueError, AttributeError):
        return None


def write_json(path: Path, value: dict[str, Any]) -> None:
    """Written whole, then renamed into place: a reader never sees half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(value, indent=2, default=str))
    os.replace(tmp, path)
