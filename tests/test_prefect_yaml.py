"""Every deployment in prefect.yaml loads: entrypoints resolve to flows, schedules name a
timezone, parameters fit the flow's signature."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from prefect import Flow
from prefect.flows import load_flow_from_entrypoint

ROOT = Path(__file__).resolve().parents[1]
DEPLOYMENTS = yaml.safe_load((ROOT / "prefect.yaml").read_text())["deployments"]


@pytest.mark.parametrize("deployment", DEPLOYMENTS, ids=lambda d: d["name"])
def test_deployment_is_loadable(deployment: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    flow = load_flow_from_entrypoint(deployment["entrypoint"])
    assert isinstance(flow, Flow)
    assert deployment.get("description"), "every deployment says what it is for"
    assert deployment.get("enforce_parameter_schema") is True
    assert "wedperf" in deployment.get("tags", [])
    accepted = set(flow.parameters.properties)
    assert set(deployment.get("parameters") or {}) <= accepted
    for schedule in deployment.get("schedules") or []:
        assert schedule.get("timezone"), f"{deployment['name']}: schedule without timezone"
        assert sum(k in schedule for k in ("cron", "interval", "rrule")) == 1


def test_calendar_planned_deployment_exists() -> None:
    from wedperf.config import Settings

    flow_name, deployment_name = Settings().collect_deployment.split("/")
    names = {d["name"] for d in DEPLOYMENTS}
    assert deployment_name in names


def test_shard_deployments_exist() -> None:
    """The watch round, collection and pre-warm create their shard runs on deployments
    prefect.yaml declares, each of the shard flow its round runs in-process without one."""
    from wedperf.config import Settings

    settings = Settings()
    by_name = {d["name"]: d["entrypoint"] for d in DEPLOYMENTS}
    for setting, entrypoint in [
        (settings.critical_path.shard_deployment, "flows/watch_wedding_shard.py"),
        (settings.collect_shard_deployment, "flows/collect_metrics_shard.py"),
        (settings.prewarm.shard_deployment, "flows/prewarm_weddings_shard.py"),
    ]:
        flow_name, deployment_name = setting.split("/")
        assert by_name[deployment_name].startswith(entrypoint + ":")
        assert load_flow_from_entrypoint(by_name[deployment_name]).name == flow_name


def test_triggers_are_valid_deployment_triggers() -> None:
    from prefect.events import DeploymentTriggerTypes
    from pydantic import TypeAdapter

    triggers = [t for d in DEPLOYMENTS for t in d.get("triggers") or []]
    assert triggers, "calendar changes trigger re-planning"
    for trigger in triggers:
        parsed = TypeAdapter(DeploymentTriggerTypes).validate_python(trigger)
        assert parsed.expect


def test_prefect_deploy_accepts_the_file() -> None:
    """The model `prefect deploy` validates prefect.yaml with (a typo'd key is skipped there
    with only a warning)."""
    from prefect.cli.deploy._models import PrefectYamlModel

    raw = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    model = PrefectYamlModel.model_validate(raw)
    assert [d.name for d in model.deployments] == [d["name"] for d in DEPLOYMENTS]
    assert not model.build and not model.push, "workers run a checkout: nothing to build"


def test_deployment_names_are_unique() -> None:
    names = [d["name"] for d in DEPLOYMENTS]
    assert len(names) == len(set(names))


def test_every_deployment_runs_on_a_declared_queue_of_the_process_pool() -> None:
    from deployments.setup import WORK_QUEUES, work_pool_name

    pool = work_pool_name()
    queues = {queue.name for queue in WORK_QUEUES}
    for deployment in DEPLOYMENTS:
        assert deployment["work_pool"]["name"] == pool
        assert deployment["work_pool"].get("work_queue_name") in queues, deployment["name"]
    remediation = [d for d in DEPLOYMENTS if d["name"] == "remediate-alert"]
    assert remediation[0]["work_pool"]["work_queue_name"] == "remediation"


@pytest.mark.parametrize(
    "deployment", [d for d in DEPLOYMENTS if d.get("concurrency_limit")], ids=lambda d: d["name"]
)
def test_concurrency_limits_are_valid(deployment: dict) -> None:
    from prefect.client.schemas.objects import ConcurrencyLimitStrategy

    limit = deployment["concurrency_limit"]
    assert isinstance(limit["limit"], int) and limit["limit"] >= 1
    assert limit["collision_strategy"] in {s.value for s in ConcurrencyLimitStrategy}


def test_recurring_rounds_never_overlap() -> None:
    """Rounds that re-plan or re-scan everything run one at a time."""
    for name in (
        "sync-calendar",
        "watch-wedding-day-live",
        "plan-wedding-ops",
        "capacity-floor",
        "fit-forecasts",
        "dispatch-pending-alerts",
        "collect-metrics-sparse",
    ):
        (deployment,) = [d for d in DEPLOYMENTS if d["name"] == name]
        assert deployment["concurrency_limit"]["limit"] == 1, name


@pytest.mark.parametrize(
    "deployment",
    [d for d in DEPLOYMENTS if d.get("schedules") or d.get("triggers")],
    ids=lambda d: d["name"],
)
def test_scheduled_runs_get_every_required_parameter(
    deployment: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Runs the scheduler or a trigger creates carry only the deployment's parameters (and a
    schedule's): with an enforced schema, a missing required one would fail every run."""
    monkeypatch.chdir(ROOT)
    flow = load_flow_from_entrypoint(deployment["entrypoint"])
    required = set(flow.parameters.required or [])
    given = set(deployment.get("parameters") or {})
    assert required <= given, f"scheduled without {required - given}"
    for schedule in deployment.get("schedules") or []:
        assert required <= given | set(schedule.get("parameters") or {})


def test_process_pool_template_matches_the_process_worker() -> None:
    """deployments/process-pool.json keeps the process worker's job configuration and
    variables, with wedperf's defaults."""
    import re

    from prefect.workers.process import ProcessWorker

    from deployments.setup import base_job_template

    default = ProcessWorker.get_default_base_job_template()
    template = base_job_template()
    assert template["job_configuration"] == default["job_configuration"]
    variables = template["variables"]["properties"]
    assert set(variables) == set(default["variables"]["properties"])
    for value in template["job_configuration"].values():
        for placeholder in re.findall(r"{{\s*(\w+)\s*}}", value):
            assert placeholder in variables
    assert variables["env"]["default"]["PREFECT_SERVER_ANALYTICS_ENABLED"] == "false"
    assert variables["working_dir"]["default"] is None
    pinned = base_job_template("/opt/wedperf")["variables"]["properties"]
    assert pinned["working_dir"]["default"] == "/opt/wedperf"


def test_remediation_limits_are_the_ones_the_flow_uses() -> None:
    from deployments.setup import remediation_limits
    from wedperf.config import Settings

    settings = Settings().remediation
    at_once, rate = remediation_limits()
    assert (at_once.name, rate.name) == (settings.concurrency_limit, settings.rate_limit)
    assert at_once.slot_decay_per_second == 0
    assert rate.slot_decay_per_second == pytest.approx(rate.limit / 60, rel=1e-3)
