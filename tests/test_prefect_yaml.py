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


def test_triggers_are_valid_deployment_triggers() -> None:
    from prefect.events import DeploymentTriggerTypes
    from pydantic import TypeAdapter

    triggers = [t for d in DEPLOYMENTS for t in d.get("triggers") or []]
    assert triggers, "calendar changes trigger re-planning"
    for trigger in triggers:
        parsed = TypeAdapter(DeploymentTriggerTypes).validate_python(trigger)
        assert parsed.expect
