"""The demo's Prefect process worker: every flow run of the demo is a deployment run that it
picks up from the project's work pool and executes in its own process, as in production.

The demo's own runs go to a work queue of their own (`demo`, on the same pool), which the
worker polls together with `remediation` (where the webhook's and the dispatcher's
remediation runs go). It does not poll `default`: the runs the plan and the calendar trigger
schedule there (a collection round a minute across today's day windows, pre-warms, floors, a
re-plan) would otherwise start one process each on the same 2 cores and push the demo past
its time; they stay Scheduled for a production worker. The one scheduled deployment the
demo's story needs, the every-minute `dispatch-pending-alerts` (it dispatches the watch
round's critical-path alerts and announces their resolution), is moved onto the demo's queue
once deployed (`serve_on_demo_queue`), so its runs execute rather than go Late.

Flow runs log at INFO, into the Prefect UI (`RUN_LOG_LEVEL`); the libraries they use keep
the root logger's WARNING (Prefect's logging.yml), and the CLI's own console stays quiet.

`wedperf up`, which keeps the system running, starts the same worker on `default` and
`remediation` (`queues`), so those runs execute when they are due.

`DemoWorker.run` creates a run of a deployment and waits for it (while the worker lives);
`wait` waits for a run something else created (the webhook's remediation run); `counts` is
what the worker finished since it started, from the server's record of the pool's runs.
"""

from __future__ import annotations

import os
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cli.demo.errors import PROJECT_DIR, DemoError
from cli.demo.prefect_server import LocalProcess, start_worker, stop_process, tail

DEMO_QUEUE = "demo"
POLLED_QUEUES = (DEMO_QUEUE, "remediation")
# Scheduled deployments whose runs the demo's worker executes on DEMO_QUEUE.
DEMO_SCHEDULED = ("dispatch-pending-alerts/dispatch-pending-alerts",)
# The `prefect` loggers of flow runs (get_run_logger, log_prints): INFO, the level the UI
# shows. `quiet_prefect` sets WARNING for the CLI's console, which the worker would inherit.
RUN_LOG_LEVEL = "INFO"
RUN_TIMEOUT_S = 300.0
POLL_S = 0.5
READY_TIMEOUT_S = 90.0
WORKER_STOP_S = 5.0


class DemoWorker:
    def __init__(self, pool: str, log: Path, queues: tuple[str, ...] = POLLED_QUEUES) -> None:
        self.pool = pool
        self.log = log
        self.queues = queues  # `wedperf up`'s worker polls `default` and `remediation`
        # Unique, as Prefect's default worker name is: the runs it takes carry it as their
        # `prefect.worker.name` label, which tells them from another worker's on the pool.
        self.name = f"wedperf {uuid.uuid4()}"
        self.process: LocalProcess | None = None
        self.started_at = datetime.now(UTC)

    def start(self) -> LocalProcess:
        """Start the worker with this process's environment (the demo's WEDPERF_* settings and
        PREFECT_API_URL) and wait until it has polled the pool (deployments are then Ready)."""
        env = {
            **os.environ,
            "WEDPERF_PROJECT_DIR": str(PROJECT_DIR),
            # Flow runs execute in the worker's processes; their return values are read back
            # by the demo from the local result storage both share.
            "PREFECT_RESULTS_PERSIST_BY_DEFAULT": "true",
            "PREFECT_LOGGING_LEVEL": RUN_LOG_LEVEL,
        }
        if DEMO_QUEUE in self.queues:
            ensure_demo_queue(self.pool)
        self.started_at = datetime.now(UTC)
        self.process = start_worker(
            self.pool, queues=self.queues, env=env, cwd=PROJECT_DIR, log=self.log, name=self.name
        )
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not self._polled():
            self._check_alive()
            if time.monotonic() > deadline:
                raise DemoError(f"the worker did not poll pool {self.pool}: {tail(self.log)}")
            time.sleep(POLL_S)
        return self.process

    def ensure_alive(self) -> None:
        """Raise DemoError if the worker exited (`wedperf up` looks between status lines)."""
        self._check_alive()

    def stop(self) -> None:
        """SIGTERM the worker, SIGKILL after WORKER_STOP_S: every run the demo asked for has
        finished by then and the worker polls no other queue, so nothing is cut short; its
        graceful shutdown otherwise outlasts the whole STOP_TIMEOUT_S (20 s of the demo)."""
        if self.process is not None:
            stop_process(self.process, timeout=WORKER_STOP_S)
            self.process = None

    def run(self, deployment: str, parameters: dict[str, Any] | None = None) -> Any:
        """Create a run of `deployment` (`flow/deployment`), wait for the worker to finish it,
        and return the flow's return value; a DemoError if it did not complete."""
        return self.result(self.wait(self.submit(deployment, parameters), deployment), deployment)

    def submit(self, deployment: str, parameters: dict[str, Any] | None = None) -> uuid.UUID:
        """Create a run of `deployment` for the worker and return its id at once (`wait` and
        `result` pick it up later): the worker runs it while the demo goes on."""
        from prefect.deployments import run_deployment

        created = run_deployment(
            deployment,
            parameters=parameters or {},
            timeout=0,
            as_subflow=False,
            tags=["demo"],
            work_queue_name=DEMO_QUEUE,
        )
        return created.id

    def wait(self, run_id: uuid.UUID | str, name: str, timeout: float = RUN_TIMEOUT_S):
        """The flow run once it is final (the worker must stay alive meanwhile)."""
        from prefect.client.orchestration import get_client

        deadline = time.monotonic() + timeout
        with get_client(sync_client=True) as client:
            while True:
                run = client.read_flow_run(uuid.UUID(str(run_id)))
                if run.state is not None and run.state.is_final():
                    return run
                self._check_alive()
                if time.monotonic() > deadline:
                    raise DemoError(
                        f"flow run {name} ({run_id}) still {run.state_name} after {timeout:.0f} s"
                    )
                time.sleep(POLL_S)

    def finished(self, run_id: uuid.UUID | str) -> bool:
        """Whether the run is final (raises DemoError when the worker died)."""
        from prefect.client.orchestration import get_client

        self._check_alive()
        with get_client(sync_client=True) as client:
            state = client.read_flow_run(uuid.UUID(str(run_id))).state
        return state is not None and state.is_final()

    @staticmethod
    def result(run, name: str) -> Any:
        if not run.state.is_completed():
            state = run.state
            raise DemoError(f"flow run {name} ({run.id}) ended {state.name}: {state.message}")
        return run.state.result()

    def counts(self) -> dict[str, int]:
        """Runs of the pool that finished since the worker started: completed, and failed or
        crashed. Every deployment run of the pool is executed by a worker, and this worker
        is the only one the demo started."""
        from prefect.client.orchestration import get_client
        from prefect.client.schemas.filters import (
            FlowRunFilter,
            FlowRunFilterStartTime,
            FlowRunFilterState,
            FlowRunFilterStateType,
            WorkPoolFilter,
            WorkPoolFilterName,
        )
        from prefect.client.schemas.objects import StateType

        def count(*types: StateType) -> int:
            return client.count_flow_runs(
                flow_run_filter=FlowRunFilter(
                    start_time=FlowRunFilterStartTime(after_=self.started_at),
                    state=FlowRunFilterState(type=FlowRunFilterStateType(any_=list(types))),
                ),
                work_pool_filter=WorkPoolFilter(name=WorkPoolFilterName(any_=[self.pool])),
            )

        with get_client(sync_client=True) as client:
            return {
                "runs_completed": count(StateType.COMPLETED),
                "runs_failed": count(StateType.FAILED, StateType.CRASHED),
            }

    def _polled(self) -> bool:
        return self.name in online_workers(self.pool)

    def _check_alive(self) -> None:
        if self.process is None:
            raise DemoError("the worker is not running")
        try:
            done, status = os.waitpid(self.process.pid, os.WNOHANG)
        except ChildProcessError:
            done, status = self.process.pid, 0
        if done == self.process.pid:
            self.process = None
            raise DemoError(f"the worker exited ({status}): {tail(self.log)}")


def online_workers(pool: str) -> set[str]:
    """The names of the workers the server holds ONLINE on `pool` (a recent heartbeat; a
    worker just stopped stays ONLINE until its heartbeats are missed)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import WorkerFilter, WorkerFilterStatus

    online = WorkerFilter(status=WorkerFilterStatus(any_=["ONLINE"]))
    with get_client(sync_client=True) as client:
        return {w.name for w in client.read_workers_for_work_pool(pool, worker_filter=online)}


def ensure_demo_queue(pool: str) -> None:
    """The demo's own work queue on `pool` (created if missing)."""
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    with get_client(sync_client=True) as client:
        try:
            client.read_work_queue_by_name(DEMO_QUEUE, work_pool_name=pool)
        except ObjectNotFound:
            client.create_work_queue(
                DEMO_QUEUE,
                work_pool_name=pool,
                priority=5,
                description="`wedperf demo`'s own runs, executed by the demo's worker.",
            )


def serve_on_demo_queue(pool: str, deployments: tuple[str, ...] = DEMO_SCHEDULED) -> list[str]:
    """Move `deployments` (`flow/deployment`) onto the demo's queue, so the demo's worker
    executes their scheduled runs, and delete the runs the scheduler had already put on their
    old queue (it makes them again, on the new one, at its next loop). Returns the names
    moved. The server is the demo's own: a later `prefect deploy` puts them back."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import DeploymentUpdate
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterId,
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType

    ensure_demo_queue(pool)
    moved = []
    with get_client(sync_client=True) as client:
        for name in deployments:
            deployment = client.read_deployment_by_name(name)
            if deployment.work_queue_name != DEMO_QUEUE:
                client.update_deployment(
                    deployment.id, DeploymentUpdate(work_queue_name=DEMO_QUEUE)
                )
            stale = client.read_flow_runs(
                deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment.id])),
                flow_run_filter=FlowRunFilter(
                    state=FlowRunFilterState(
                        type=FlowRunFilterStateType(any_=[StateType.SCHEDULED])
                    )
                ),
            )
            for run in stale:
                if run.work_queue_name != DEMO_QUEUE:
                    client.delete_flow_run(run.id)
            moved.append(name)
    return moved
