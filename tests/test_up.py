"""`wedperf up` as a user runs it: a fresh home directory, nothing configured, started in a
terminal's process group, left running until runs the schedules and the calendar created
have been executed by its worker, then Ctrl-C (SIGINT to the group, as a terminal sends it).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import select
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from datetime import datetime
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[1]
READY_TIMEOUT_S = 900.0  # a first run initialises PostgreSQL and Prefect's database
RUNS_TIMEOUT_S = 600.0
STOP_TIMEOUT_S = 300.0

pytestmark = pytest.mark.slow


def _processes_of(home: Path) -> dict[int, str]:
    """Processes started for this home: its HOME in their environment, or its path in their
    command line (Redis rewrites its title over its environment)."""
    found = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            environ = (proc / "environ").read_bytes().split(b"\0")
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        if f"HOME={home}".encode() in environ or str(home).encode() in cmdline:
            found[int(proc.name)] = cmdline.decode(errors="replace")[:160]
    return found


def _executed_run(api: str, deployment: str, *, auto_scheduled: bool | None, tag: str | None):
    """A Completed run of `deployment` (`flow/name`) that a process worker executed, or None."""
    deployments = httpx.post(f"{api}/deployments/filter", json={}, timeout=30).json()
    flows = {f["id"]: f["name"] for f in httpx.post(f"{api}/flows/filter", json={}).json()}
    ids = [d["id"] for d in deployments if f"{flows[d['flow_id']]}/{d['name']}" == deployment]
    assert ids, f"deployment {deployment} not registered"
    runs = httpx.post(
        f"{api}/flow_runs/filter",
        json={
            "deployments": {"id": {"any_": ids}},
            "flow_runs": {"state": {"type": {"any_": ["COMPLETED"]}}},
            "limit": 50,
        },
        timeout=30,
    ).json()
    for run in runs:
        labels = run.get("labels") or {}
        if (
            (auto_scheduled is None or run["auto_scheduled"] == auto_scheduled)
            and (tag is None or tag in run["tags"])
            and run["infrastructure_pid"]
            and labels.get("prefect.worker.type") == "process"
        ):
            return run
    return None


def _run_pid(run: dict) -> int | None:
    pid = run["infrastructure_pid"]  # "<pid>" or "<host>:<pid>"
    return int(str(pid).rsplit(":", 1)[-1]) if pid else None


def _wait_for_running_run(
    api: str, process: subprocess.Popen, home: Path
) -> tuple[dict | None, dict[int, str]]:
    """A flow run the worker is executing right now (runs start every minute) and the
    processes of `home` with that run's among them; (None, processes) if none came."""
    deadline = time.monotonic() + RUNS_TIMEOUT_S
    while time.monotonic() < deadline and process.poll() is None:
        runs = httpx.post(
            f"{api}/flow_runs/filter",
            json={"flow_runs": {"state": {"type": {"any_": ["RUNNING"]}}}, "limit": 10},
            timeout=30,
        ).json()
        processes = _processes_of(home)
        for run in runs:
            if _run_pid(run) in processes:
                return run, processes
        time.sleep(0.5)
    return None, _processes_of(home)


@pytest.fixture(scope="module")
def up_run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    home = tmp_path_factory.mktemp("home")
    logs = tmp_path_factory.mktemp("up")
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("WEDPERF_", "PREFECT_")) or k == "PREFECT_SERVER_ANALYTICS_ENABLED"
    }
    env.update(HOME=str(home), PREFECT_SERVER_ANALYTICS_ENABLED="false")
    state_file = home / ".wedperf" / "up.json"
    out, err = logs / "stdout", logs / "stderr"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        process = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "wedperf"),
                *("up", "--weddings", "200", "--days", "60", "--rate", "4"),
                # A safety net only: the test stops it with SIGINT long before.
                *("--duration", "3000"),
            ],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
            start_new_session=True,  # a terminal's process group: Ctrl-C reaches all of it
            # As a terminal starts it: SIGINT at its default. A test run started in the
            # background of a non-interactive shell (CI) inherits SIGINT ignored, and
            # `wedperf up` keeps an ignored SIGINT ignored (nohup semantics).
            preexec_fn=_sigint_default,
        )
    found: dict = {"home": home, "stdout": out, "stderr": err}
    try:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while "processes" not in (state := _read_json(state_file)):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"wedperf up did not start: {out.read_text()} {err.read_text()}")
            time.sleep(0.5)
        found["state"] = state
        tokens = Path(state["tokens"])
        found["tokens"] = dict(line.split("=", 1) for line in tokens.read_text().splitlines())
        found["tokens_mode"] = tokens.stat().st_mode & 0o777
        found["ui_api_url"] = httpx.get(f"{state['prefect_ui']}/ui-settings").json()["api_url"]

        api = state["prefect_api"]
        wanted = {
            # created by the server's scheduler from prefect.yaml's cron (every minute)
            "auto_scheduled": ("dispatch-pending-alerts/dispatch-pending-alerts", True, None),
            # created by the calendar sync across today's day windows (every minute)
            "calendar_planned": ("collect-metrics/collect-metrics-live", False, "calendar-planned"),
        }
        deadline = time.monotonic() + RUNS_TIMEOUT_S
        runs: dict = {}
        while set(runs) != set(wanted) and time.monotonic() < deadline:
            assert process.poll() is None, err.read_text()
            for key, (name, auto, tag) in wanted.items():
                if key not in runs and (
                    run := _executed_run(api, name, auto_scheduled=auto, tag=tag)
                ):
                    runs[key] = run
            if set(runs) != set(wanted):
                time.sleep(2)
        found["runs"] = runs
        # Ctrl-C while a flow run is in flight: the worker's runs must stop with it.
        # `processes`: the whole system, flow runs included, just before Ctrl-C.
        found["in_flight"], found["processes"] = _wait_for_running_run(api, process, home)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGINT)  # Ctrl-C
        try:
            found["returncode"] = process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            found["returncode"] = process.wait()
    found["left"] = _processes_of(home)
    if found["returncode"] != 0:  # the test fails on it; leave nothing of this home running
        for pid in found["left"]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    found["state_file"] = state_file
    return found


def _sigint_default() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def test_scheduled_runs_execute_on_the_worker(up_run: dict) -> None:
    """A run the server's scheduler created from prefect.yaml and a run the calendar sync
    planned for a live wedding's day window, each Completed by a process worker on the
    project's pool; the UI is told where its API is."""
    state = up_run["state"]
    assert up_run["ui_api_url"] == state["prefect_api"]
    assert set(up_run["runs"]) == {"auto_scheduled", "calendar_planned"}, (
        up_run["runs"],
        up_run["stderr"].read_text()[-3000:],
    )
    for run in up_run["runs"].values():
        assert run["work_queue_name"] == "default"
        assert run["state_type"] == "COMPLETED"
        # it ran when due: started at or after its scheduled time, not at once when created
        started, due = (
            datetime.fromisoformat(run[k]) for k in ("start_time", "expected_start_time")
        )
        assert started >= due, run
    pids = state["processes"]
    assert set(pids) >= {"prefect_server", "worker", "embedded_postgres", "embedded_redis"}
    assert all(pids[name] in up_run["processes"] for name in pids), up_run["processes"]


def test_ctrl_c_stops_everything_it_started(up_run: dict) -> None:
    stderr = up_run["stderr"].read_text()
    assert up_run["returncode"] == 0, stderr[-3000:]
    stdout = up_run["stdout"].read_text()
    assert "wedperf up stopped (SIGINT)" in stdout, stdout
    pids = up_run["state"]["processes"]
    for line in (
        "SIGINT: stopping",
        f"worker stopped (pid {pids['worker']})",
        f"Prefect server stopped (pid {pids['prefect_server']})",
        f"embedded postgres stopped (pid {pids['embedded_postgres']})",
        f"embedded redis stopped (pid {pids['embedded_redis']})",
        "everything `wedperf up` started is stopped",
    ):
        assert line in stderr, line
    # the wedding-day load ran: web requests, and mobile clients' beacons stored by /rum
    load = re.search(r"load stopped: (\d+) requests, \d+ errors, (\d+) RUM beacons stored", stderr)
    assert load and int(load[1]) > 0 and int(load[2]) > 0, stderr[-2000:]
    for name, pid in pids.items():
        assert not Path(f"/proc/{pid}").exists(), f"{name} (pid {pid}) still running"
    # Nothing else of it either: no flow run, uvicorn or PostgreSQL backend left behind,
    # and the run that was in flight at Ctrl-C stopped with the worker.
    assert not up_run["left"], up_run["left"]
    in_flight = up_run["in_flight"]
    assert in_flight is not None, "no flow run was in flight to interrupt"
    run_pid = _run_pid(in_flight)
    assert not Path(f"/proc/{run_pid}").exists(), f"flow run {in_flight['name']} still running"
    # and no run is left Pending or Running in the server's database for the next start
    # (it would hold its deployment's concurrency slot): read where the stopped server keeps it
    with sqlite3.connect(up_run["home"] / ".wedperf" / "prefect" / "prefect.db") as db:
        states = dict(db.execute("SELECT state_type, count(*) FROM flow_run GROUP BY 1"))
    assert not {"PENDING", "RUNNING", "CANCELLING"} & set(states), states
    assert not up_run["state_file"].exists()
    assert not Path(up_run["state"]["tokens"]).exists()
    assert not (up_run["home"] / ".wedperf" / "prefect" / "demo-server.json").exists()


def test_tokens_are_in_a_private_file_never_in_the_output(up_run: dict) -> None:
    assert set(up_run["tokens"]) == {"WEDPERF_WEBHOOK__TOKEN", "WEDPERF_RUM__TOKEN"}
    assert up_run["tokens_mode"] == 0o600
    printed = up_run["stdout"].read_text() + up_run["stderr"].read_text()
    assert up_run["state"]["tokens"] in printed  # where they are is said
    for token in up_run["tokens"].values():
        assert len(token) >= 40 and token not in printed


CLAIMANT = """
import sys
from pathlib import Path

from cli.demo.errors import DemoError
from cli.demo.stack import claim

try:
    claim(Path(sys.argv[1]))
    print("claimed", flush=True)
except DemoError as exc:
    print("refused", exc, flush=True)
sys.stdin.read()  # holds what it claimed until its stdin is closed
"""
CLAIM_TIMEOUT_S = 120.0


def _claimant(state: Path) -> subprocess.Popen:
    """A process that claims `state` as `wedperf up` does, and holds it until told to end."""
    return subprocess.Popen(
        [sys.executable, "-c", CLAIMANT, str(state)],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def _answer(process: subprocess.Popen) -> str:
    """The claimant's first line; fails clearly if none comes."""
    ready, _, _ = select.select([process.stdout], [], [], CLAIM_TIMEOUT_S)
    if not ready:
        pytest.fail(f"the claimant (pid {process.pid}) said nothing in {CLAIM_TIMEOUT_S:.0f} s")
    return process.stdout.readline().strip()


def _end(process: subprocess.Popen) -> None:
    process.stdin.close()
    process.wait(timeout=CLAIM_TIMEOUT_S)


def test_a_second_up_on_the_same_data_dir_is_refused(tmp_path: Path) -> None:
    from cli.demo.errors import DemoError
    from cli.demo.stack import claim, release

    state = tmp_path / "up.json"
    other = _claimant(state)  # a `wedperf up` that has claimed the data dir
    try:
        assert _answer(other) == "claimed"
        with pytest.raises(DemoError, match=f"already runs on this data dir \\(pid {other.pid}\\)"):
            claim(state)
    finally:
        other.kill()
        other.wait()
    assert json.loads(state.read_text())["pid"] == other.pid  # its state file is left behind
    claim(state)  # its pid is gone now: the stale file is taken over
    try:
        assert json.loads(state.read_text())["pid"] == os.getpid()
    finally:
        release(state)


def test_two_ups_started_together_cannot_both_claim_the_data_dir(tmp_path: Path) -> None:
    state = tmp_path / "up.json"
    claimants = [_claimant(state) for _ in range(4)]
    try:
        answers = [_answer(claimant) for claimant in claimants]
    finally:
        for claimant in claimants:
            _end(claimant)
    assert sorted(a.split()[0] for a in answers) == ["claimed", "refused", "refused", "refused"]
    winner = claimants[[a.split()[0] for a in answers].index("claimed")]
    assert json.loads(state.read_text())["pid"] == winner.pid


def test_generated_tokens_go_to_a_private_file_and_configured_ones_are_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cli.demo.stack import ensure_tokens
    from wedperf.config import get_settings, reset_settings_cache

    for name in ("WEDPERF_WEBHOOK__TOKEN", "WEDPERF_WEBHOOK_TOKEN", "WEDPERF_RUM__TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("WEDPERF_RUM__TOKEN", "r" * 43)
    reset_settings_cache()
    try:
        path = ensure_tokens(tmp_path)
        assert path is not None and path.stat().st_mode & 0o777 == 0o600
        written = dict(line.split("=", 1) for line in path.read_text().splitlines())
        assert set(written) == {"WEDPERF_WEBHOOK__TOKEN"}  # the configured one is not touched
        settings = get_settings()
        assert settings.webhook.token.get_secret_value() == written["WEDPERF_WEBHOOK__TOKEN"]
        assert settings.rum.token.get_secret_value() == "r" * 43
        assert ensure_tokens(tmp_path / "again") is None  # both configured now
    finally:
        monkeypatch.delenv("WEDPERF_WEBHOOK__TOKEN", raising=False)
        reset_settings_cache()


OURS = "wedperf ours"
OUR_PID = 4_000_001  # a process the stopped worker ran (no such pid need exist)


@pytest.mark.usefixtures("prefect_harness")
def test_stopping_crashes_only_the_runs_its_own_worker_held() -> None:
    """After its worker stops, `wedperf up` marks Crashed the unfinished runs that worker
    held (by its name label or a pid it stopped) and their subflow runs; a run another
    worker holds on the same pool, and that one's subflow run, are left as they are."""
    from prefect import flow, task
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.states import Cancelling, Completed, Pending, Running

    from cli.demo.stack import WORKER_LABEL, crash_unfinished

    @flow(name="up-crash-check")
    def child() -> None: ...

    @task
    def spawn() -> None: ...

    with get_client(sync_client=True) as client:

        def deployment(pool: str) -> object:
            client.create_work_pool(WorkPoolCreate(name=pool, type="process"))
            client.create_work_queue("elsewhere", work_pool_name=pool)
            return client.create_deployment(
                flow_id=client.create_flow_from_name("up-crash-check"),
                name=f"on-{pool}",
                work_pool_name=pool,
                work_queue_name="default",
            )

        def run(dep, state, *, worker: str | None = None, pid: int | None = None, **kw):
            created = client.create_flow_run_from_deployment(
                dep, state=state, labels={WORKER_LABEL: worker} if worker else None, **kw
            )
            if pid is not None:
                client.update_flow_run(created.id, infrastructure_pid=str(pid))
            return created.id

        def subflow(parent) -> object:  # an inline subflow run: no pool, no worker
            placeholder = client.create_task_run(spawn, parent, dynamic_key=uuid.uuid4().hex)
            return client.create_flow_run(
                child, parent_task_run_id=placeholder.id, state=Running()
            ).id

        def state(run_id) -> str:
            return client.read_flow_run(run_id).state.type.value

        pool = f"up-crash-{uuid.uuid4().hex[:8]}"
        dep = deployment(pool)
        ours_labelled = run(dep, Running(), worker=OURS, pid=4_000_002)
        ours_by_pid = run(dep, Running(), pid=OUR_PID)  # its label never set
        ours_cancelling = run(dep, Running(), worker=OURS)
        client.set_flow_run_state(ours_cancelling, Cancelling(), force=True)
        sub = subflow(ours_labelled)
        sub_of_sub = subflow(sub)
        ours_done = run(dep, Completed(), worker=OURS)
        theirs = run(dep, Running(), worker="another worker", pid=4_000_003)
        theirs_sub = subflow(theirs)
        unlabelled = run(dep, Pending())  # claimed by a worker not known yet
        # the other worker is online on the pool, so an unlabelled claim may be its own
        client.send_worker_heartbeat(pool, "another worker")
        client.send_worker_heartbeat(pool, OURS)

        crashed = crash_unfinished(pool, OURS, {OUR_PID}, queues=("default",))

        ours = [ours_labelled, ours_by_pid, ours_cancelling, sub, sub_of_sub]
        assert crashed == len(ours)
        assert [state(r) for r in ours] == ["CRASHED"] * len(ours)
        assert state(ours_done) == "COMPLETED"
        assert [state(theirs), state(theirs_sub), state(unlabelled)] == [
            "RUNNING",
            "RUNNING",
            "PENDING",
        ]

        # With no other worker online on its pool, a claim not labelled yet can only be its
        # worker's (on a queue it polls): crashed, lest it hold its deployment's slot.
        alone = f"up-crash-{uuid.uuid4().hex[:8]}"
        dep = deployment(alone)
        client.send_worker_heartbeat(alone, OURS)
        claimed = run(dep, Pending())
        elsewhere = run(dep, Pending(), work_queue_name="elsewhere")
        assert crash_unfinished(alone, OURS, set(), queues=("default",)) == 1
        assert [state(claimed), state(elsewhere)] == ["CRASHED", "PENDING"]
