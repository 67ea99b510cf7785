"""Flow: dispatch the alerts of the inbox that have no remediation run yet."""

from __future__ import annotations

from prefect import flow
from prefect.artifacts import create_markdown_artifact

from tasks.alerts import dispatch_pending_task
from wedperf.alerts.pending import DispatchFailed, sweep_failure


@flow(name="dispatch-pending-alerts", log_prints=True)
def dispatch_pending_alerts(max_alerts: int = 10_000) -> dict:
    """Create a remediation run for every pending alert in perf.alerts whose time has come —
    webhook alerts the receiver could not dispatch (Prefect was unreachable, queue overflow,
    a restart), internal critical-path alerts — and send resolved events still owed.

    At most `max_alerts` of each per run; runs are keyed by the alert identity, so this
    flow, the receiver and a retry never make two runs for one alert. When Prefect refused
    some, or alerts are left failed or quarantined, the markdown artifact `alert-dispatch`
    says which. The run ends Failed when it quarantined an alert or created no run while
    some were due.
    """
    summary = dispatch_pending_task(max_alerts)
    backlog = summary["backlog"]
    if summary["errors"] or backlog["failed"] or backlog["quarantined"]:
        create_markdown_artifact(
            key="alert-dispatch",
            markdown=_markdown(summary),
            description="Alerts the dispatcher could not turn into remediation runs",
        )
    failure = sweep_failure(summary)
    if failure:
        raise DispatchFailed(f"{failure}; dispatched {summary['created']}")
    return summary


def _markdown(summary: dict) -> str:
    backlog = summary["backlog"]
    lines = [
        "# Alert dispatch",
        "",
        f"Created {summary['created']} remediation runs; {summary['failed']} attempts failed.",
        f"Left: {backlog['pending']} pending (oldest received {backlog['oldest_pending']}), "
        f"{backlog['failed']} failed, {backlog['unannounced']} resolutions not announced, "
        f"{backlog['quarantined']} quarantined.",
        "",
    ]
    lines += [f"- {error}" for error in summary["errors"]]
    if backlog["failed"]:
        lines += [
            "",
            "Failed alerts: `SELECT alert_id, alertname, dispatch_error FROM perf.alerts "
            "WHERE dispatch_state = 'failed'`; after fixing the cause, `UPDATE perf.alerts SET "
            "dispatch_state = 'pending', dispatch_attempts = 0 WHERE dispatch_state = 'failed'`.",
        ]
    if backlog["quarantined"]:
        lines += [
            "",
            "Quarantined alerts (rows the dispatcher cannot handle): `SELECT alert_id, "
            "alertname, quarantine_reason FROM perf.alerts WHERE dispatch_state = "
            "'quarantined'`; fix or delete the row, then set its dispatch_state back to "
            "'pending' to dispatch it.",
        ]
    return "\n".join(lines)
