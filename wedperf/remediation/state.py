"""The alert as a remediation run sees it, read from the inbox (wedperf.alerts.inbox)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg

from wedperf.alerts.inbox import alert_for_remediation


@dataclass(frozen=True)
class AlertForRemediation:
    alert_id: int
    source: str
    alertname: str
    status: str
    wedding_id: str | None
    labels: dict[str, Any]
    annotations: dict[str, Any]
    fingerprint: str = ""
    starts_at: datetime | None = None

    @property
    def identity(self) -> str:
        """(source, fingerprint, starts_at): the alert episode across databases and restores,
        where `alert_id` is only a row number of one database."""
        starts = self.starts_at.astimezone(UTC).isoformat() if self.starts_at else ""
        return f"{self.source}|{self.fingerprint}|{starts}"

    @property
    def match_labels(self) -> dict[str, Any]:
        return {"alertname": self.alertname, **self.labels}


def load_alert(conn: psycopg.Connection, alert_id: int) -> AlertForRemediation | None:
    """The inbox's alert `alert_id`; its wedding from the `wedding_id` label when the
    column is empty (a webhook alert names its wedding only in its labels)."""
    row = alert_for_remediation(conn, alert_id)
    if row is None:
        return None
    if row["wedding_id"] is None and row["labels"].get("wedding_id"):
        row["wedding_id"] = str(row["labels"]["wedding_id"])
    return AlertForRemediation(**row)
