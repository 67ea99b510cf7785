"""The alert as a remediation run reads it from the inbox (wedperf.alerts.inbox)."""

from __future__ import annotations

from dataclasses import replace

import psycopg

from wedperf.alerts.inbox import alert_for_remediation
from wedperf.alerts.model import Alert


def load_alert(conn: psycopg.Connection, alert_id: int) -> Alert | None:
    """The inbox's alert `alert_id`; its wedding from the `wedding_id` label when the
    column is empty (a webhook alert names its wedding only in its labels)."""
    alert = alert_for_remediation(conn, alert_id)
    if alert is None:
        return None
    if alert.wedding_id is None and alert.labels.get("wedding_id"):
        return replace(alert, wedding_id=str(alert.labels["wedding_id"]))
    return alert
