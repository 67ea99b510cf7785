"""The remediation task: one playbook run (wedperf.remediation.playbooks.apply_playbook)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from prefect import task
from prefect.cache_policies import NONE

from wedperf.alerts.model import Alert
from wedperf.calendar.model import Wedding
from wedperf.remediation import playbooks
from wedperf.remediation.playbooks import StepResult
from wedperf.runtime import get_runtime


# No retries: a half-done remediation is re-decided by a new run, not blindly repeated.
@task(name="apply-playbook", task_run_name="{playbook}", cache_policy=NONE)
def apply_playbook(
    alert: Alert,
    playbook: str,
    params: dict[str, Any],
    touched: Sequence[Wedding],
    plan_id: str,
) -> list[StepResult]:
    runtime = get_runtime()
    with runtime.pool.connection() as conn:
        return playbooks.apply_playbook(
            conn,
            alert,
            playbook,
            params,
            touched,
            plan_id=plan_id,
            settings=runtime.settings,
            services=runtime.services,
        )
