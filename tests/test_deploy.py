"""Deploying prefect.yaml to a real Prefect server, the way production does it.

A `prefect server start` subprocess (own PREFECT_HOME and SQLite, free port, no services) is
the target — not the session harness, where other tests apply deployments of the same names.
`deployments.setup.prepare` creates the work pool and the remediation concurrency limits, then
`deployments.setup.deploy_all` runs the real `prefect deploy --all --no-prompt`. Everything is
read back through the client and compared with prefect.yaml itself, so a deployment added
there is covered without touching this file.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import yaml
from prefect.client.orchestration import PrefectClient, SyncPrefectClient
from prefect.client.schemas.actions import GlobalConcurrencyLimitUpdate
from prefect.exceptions import PrefectHTTPStatusError
from prefect.flows import load_flow_from_entrypoint
from prefect.workers.process import ProcessJobConfiguration

from deployments.setup import (
    PREFECT_FILE,
    WORK_QUEUES,
    base_job_template,
    deploy_all,
    prepare,
    remediation_limits,
    work_pool_name,
)
from wedperf.serving import free_port

pytestmark = pytest.mark.slow

ROOT = PREFECT_FILE.parent
DECLARED = yaml.safe_load(PREFECT_FILE.read_text())["deployments"]
# Where the checkout lives on the worker hosts; written into every deployment's pull step.
PROJECT_DIR = "/opt/wedperf"
SET_WORKING_DIRECTORY = "prefect.deployments.steps.set_working_directory"


@pytest.fixture(scope="module")
def prefect_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Prefect server of its own; yields its API URL."""
    home = tmp_path_factory.mktemp("prefect-server")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env |= {
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{home}/prefect.db",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }
    log_path = home / "server.log"
    with log_path.open("w") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "prefect", "server", "start"]
            + ["--host", "127.0.0.1", "--port", str(port), "--no-services", "--no-ui"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}/api"
    try:
        _wait_healthy(url, server, log_path)
        yield url
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=10)


def _wait_healthy(url: str, server: subprocess.Popen, log_path: Path) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"prefect server exited:\n{log_path.read_text()[-3000:]}")
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.25)
    pytest.fail(f"prefect server did not answer within 120 s:\n{log_path.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def client(prefect_api: str) -> Iterator[SyncPrefectClient]:
    with SyncPrefectClient(api=prefect_api) as client:
        yield client


@pytest.fixture(scope="module")
def setup_reports(client: SyncPrefectClient, prefect_api: str) -> dict:
    """Prepare twice (the second must change nothing), then `prefect deploy --all`."""
    first = prepare(client, project_dir=PROJECT_DIR)
    second = prepare(client, project_dir=PROJECT_DIR)
    env = {k: v for k, v in os.environ.items() if k != "WEDPERF_PROJECT_DIR"}
    output = deploy_all(api_url=prefect_api, project_dir=PROJECT_DIR, env=env)
    return {"first": first, "second": second, "deploy_output": output}


@pytest.fixture(scope="module")
def deployments(client: SyncPrefectClient, setup_reports: dict) -> dict:
    """Deployments on the server by name."""
    return {d.name: d for d in client.read_deployments()}


def test_setup_creates_once_then_changes_nothing(setup_reports: dict) -> None:
    pool = work_pool_name()
    limits = [limit.name for limit in remediation_limits()]
    queues = [queue.name for queue in WORK_QUEUES]
    # The pool comes with its default queue; prepare gives it its priority and description.
    assert setup_reports["first"] == {
        "work_pool": {pool: "created"},
        "work_queues": {"default": "updated", "remediation": "created"},
        "concurrency_limits": dict.fromkeys(limits, "created"),
    }
    assert setup_reports["second"] == {
        "work_pool": {pool: "unchanged"},
        "work_queues": dict.fromkeys(queues, "unchanged"),
        "concurrency_limits": dict.fromkeys(limits, "unchanged"),
    }


def test_setup_restores_a_changed_limit(client: SyncPrefectClient, setup_reports: dict) -> None:
    at_once = remediation_limits()[0]
    client.update_global_concurrency_limit(
        at_once.name, GlobalConcurrencyLimitUpdate(limit=at_once.limit + 5)
    )
    report = prepare(client, project_dir=PROJECT_DIR)
    assert report["concurrency_limits"][at_once.name] == "updated"
    assert client.read_global_concurrency_limit_by_name(at_once.name).limit == at_once.limit


def test_remediation_concurrency_limits_exist(
    client: SyncPrefectClient, setup_reports: dict
) -> None:
    for wanted in remediation_limits():
        limit = client.read_global_concurrency_limit_by_name(wanted.name)
        assert limit.active
        assert limit.limit == wanted.limit
        assert limit.slot_decay_per_second == pytest.approx(wanted.slot_decay_per_second)
    rate = remediation_limits()[1]
    assert rate.slot_decay_per_second > 0, "the per-minute limit frees its slots over time"


def test_work_pool_has_the_process_template(
    client: SyncPrefectClient, prefect_api: str, deployments: dict
) -> None:
    pool = client.read_work_pool(work_pool_name())
    assert pool.type == "process"
    assert pool.base_job_template == base_job_template(PROJECT_DIR)

    # What a worker builds for a run of any deployment: flow runs start in the checkout,
    # with the template's environment.
    async def job_configuration(job_variables: dict) -> ProcessJobConfiguration:
        async with PrefectClient(api=prefect_api) as async_client:
            return await ProcessJobConfiguration.from_template_and_values(
                pool.base_job_template, job_variables, client=async_client
            )

    for deployment in deployments.values():
        config = asyncio.run(job_configuration(deployment.job_variables or {}))
        assert str(config.working_dir) == PROJECT_DIR
        assert config.env["PREFECT_SERVER_ANALYTICS_ENABLED"] == "false"


def test_work_queues_have_their_priority_and_limit(
    client: SyncPrefectClient, deployments: dict
) -> None:
    queues = {q.name: q for q in client.read_work_queues(work_pool_name=work_pool_name())}
    assert set(queues) == {queue.name for queue in WORK_QUEUES}
    for wanted in WORK_QUEUES:
        assert queues[wanted.name].priority == wanted.priority
        assert queues[wanted.name].concurrency_limit == wanted.concurrency_limit


def test_exactly_the_declared_deployments_exist(deployments: dict) -> None:
    assert set(deployments) == {d["name"] for d in DECLARED}


@pytest.mark.parametrize("declared", DECLARED, ids=lambda d: d["name"])
def test_deployment_matches_prefect_yaml(
    declared: dict,
    deployments: dict,
    client: SyncPrefectClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(ROOT)
    flow = load_flow_from_entrypoint(declared["entrypoint"])
    deployment = deployments[declared["name"]]

    assert client.read_flow(deployment.flow_id).name == flow.name
    assert deployment.entrypoint == declared["entrypoint"]
    assert deployment.description == declared["description"]
    assert set(deployment.tags) == set(declared["tags"])
    assert deployment.work_pool_name == declared["work_pool"]["name"]
    assert deployment.work_queue_name == declared["work_pool"]["work_queue_name"]
    assert deployment.pull_steps == [{SET_WORKING_DIRECTORY: {"directory": PROJECT_DIR}}]

    assert deployment.enforce_parameter_schema is True
    schema = deployment.parameter_openapi_schema
    assert set(schema["properties"]) == set(flow.parameters.properties)
    assert set(schema.get("required", [])) == set(flow.parameters.required or [])
    assert deployment.parameters == (declared.get("parameters") or {})

    limit = declared.get("concurrency_limit")
    if limit is None:
        assert deployment.global_concurrency_limit is None
    else:
        assert deployment.global_concurrency_limit.limit == limit["limit"]
        assert deployment.concurrency_options.collision_strategy == limit["collision_strategy"]

    assert sorted(_schedule_key(s) for s in deployment.schedules) == sorted(
        _declared_schedule_key(s) for s in declared.get("schedules") or []
    )

    automations = client.read_resource_related_automations(f"prefect.deployment.{deployment.id}")
    expected_triggers = declared.get("triggers") or []
    assert len(automations) == len(expected_triggers)
    assert sorted(sorted(a.trigger.expect) for a in automations) == sorted(
        sorted(t["expect"]) for t in expected_triggers
    )
    for automation in automations:
        assert automation.enabled
        assert [a.deployment_id for a in automation.actions] == [deployment.id]


def test_enforced_schema_refuses_bad_parameters(
    client: SyncPrefectClient, deployments: dict
) -> None:
    remediate = deployments["remediate-alert"]
    with pytest.raises(PrefectHTTPStatusError) as refused:
        client.create_flow_run_from_deployment(
            remediate.id, parameters={"alert_id": "not a number"}
        )
    assert refused.value.response.status_code == 409
    assert "alert_id" in refused.value.response.text
    run = client.create_flow_run_from_deployment(remediate.id, parameters={"alert_id": 7})
    assert run.parameters == {"alert_id": 7}


def _schedule_key(schedule) -> tuple:
    spec = schedule.schedule
    what = next(
        (kind, getattr(spec, kind)) for kind in ("cron", "interval", "rrule") if hasattr(spec, kind)
    )
    return (*what, getattr(spec, "timezone", None), schedule.active, _items(schedule.parameters))


def _declared_schedule_key(schedule: dict) -> tuple:
    kind = next(k for k in ("cron", "interval", "rrule") if k in schedule)
    value = schedule[kind]
    if kind == "interval" and not isinstance(value, timedelta):
        value = timedelta(seconds=value)
    return (
        kind,
        value,
        schedule.get("timezone"),
        schedule.get("active", True),
        _items(schedule.get("parameters")),
    )


def _items(parameters: dict | None) -> tuple:
    return tuple(sorted((parameters or {}).items()))


def test_the_demo_serves_the_alert_dispatch_on_its_own_queue(
    client: SyncPrefectClient, prefect_api: str, deployments: dict
) -> None:
    """`wedperf demo`'s worker polls `demo` and `remediation`, not `default`: the demo moves
    `dispatch-pending-alerts` (every minute, on `default` in prefect.yaml) onto `demo`, and
    the runs already scheduled on `default` go (the scheduler makes them again on `demo`),
    so its runs execute instead of going Late and alerts leave `pending`."""
    from prefect.client.schemas.actions import DeploymentUpdate
    from prefect.settings import PREFECT_API_URL, temporary_settings
    from prefect.states import Scheduled

    from cli.demo.worker import DEMO_QUEUE, POLLED_QUEUES, serve_on_demo_queue

    dispatch = deployments["dispatch-pending-alerts"]
    assert dispatch.work_queue_name == "default"  # prefect.yaml: production's workers poll it
    stale = client.create_flow_run_from_deployment(dispatch.id, state=Scheduled())
    assert stale.work_queue_name == "default"
    try:
        with temporary_settings(updates={PREFECT_API_URL: prefect_api}):
            moved = serve_on_demo_queue(work_pool_name())
        assert moved == ["dispatch-pending-alerts/dispatch-pending-alerts"]
        assert client.read_deployment(dispatch.id).work_queue_name == DEMO_QUEUE
        assert DEMO_QUEUE in POLLED_QUEUES
        remaining = {r.id for r in client.read_flow_runs()}
        assert stale.id not in remaining
        fresh = client.create_flow_run_from_deployment(dispatch.id, state=Scheduled())
        assert fresh.work_queue_name == DEMO_QUEUE
        client.delete_flow_run(fresh.id)
    finally:
        client.update_deployment(dispatch.id, DeploymentUpdate(work_queue_name="default"))
