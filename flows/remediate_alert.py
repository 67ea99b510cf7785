"""Flow: remediate one alert from the inbox (playbooks land with issue 6's remediation work)."""

from __future__ import annotations

from prefect import flow, get_run_logger


@flow(name="remediate-alert", log_prints=True)
def remediate_alert(alert_id: int) -> dict:
    """Remediate the alert `alert_id` of perf.alerts: choose a playbook by its labels, act
    within the guardrails, verify recovery, escalate if it did not recover."""
    get_run_logger().info("remediation requested for alert %s", alert_id)
    return {"alert_id": alert_id}
