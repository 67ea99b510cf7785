"""Did it recover? Re-read the metric behind the alert after the action."""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg

from wedperf.alerts.inbox import load_alert
from wedperf.alerts.model import Alert
from wedperf.calendar.sync import weddings_by_id
from wedperf.config import Settings
from wedperf.critical_path.round import run_round


def recovered(
    perf_conn: psycopg.Connection,
    app_conn: psycopg.Connection,
    alert: Alert,
    settings: Settings,
) -> tuple[bool, str]:
    """Internal critical-path alerts: evaluate the wedding's check again now. Webhook alerts:
    the source's own verdict — has it sent the resolved notification?"""
    check = alert.labels.get("check")
    if alert.source == "critical_path" and check and alert.wedding_id:
        weddings = weddings_by_id(perf_conn, [alert.wedding_id])
        if not weddings:
            return False, f"wedding {alert.wedding_id} no longer in the calendar"
        result = run_round(
            app_conn, perf_conn, weddings, datetime.now(UTC), settings, record=False
        ).results
        row = result[result["check_name"] == check].iloc[0]
        return row.status != "breach", f"{check} is {row.status} ({row.detail})"
    now = load_alert(perf_conn, alert.alert_id)
    if now is None:
        return False, "the alert is no longer in the inbox"
    return now.status == "resolved", f"alert is {now.status} at its source"
