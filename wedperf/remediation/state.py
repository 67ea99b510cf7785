"""Reading an alert for remediation, and recording where its remediation stands."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import dict_row


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
    row = (
        conn.cursor(row_factory=dict_row)
        .execute(
            "SELECT alert_id, source, alertname, status, wedding_id, labels, annotations, "
            "fingerprint, starts_at FROM perf.alerts WHERE alert_id = %s",
            (alert_id,),
        )
        .fetchone()
    )
    if row is None:
        return None
    if row["wedding_id"] is None and row["labels"].get("wedding_id"):
        row["wedding_id"] = str(row["labels"]["wedding_id"])
    return AlertForRemediation(**row)


def set_state(conn: psycopg.Connection, alert_id: int, state: str, note: str = "") -> None:
    with conn.transaction():
        conn.execute(
            "UPDATE perf.alerts SET remediation_state = %s, remediation_note = %s "
            "WHERE alert_id = %s",
            (state, note[:1000], alert_id),
        )


def in_cooldown(
    conn: psycopg.Connection, kind: str, target: str, now: datetime, cooldown: timedelta
) -> bool:
    """Has this kind of remediation acted on this target within the cooldown?"""
    return conn.execute(
        "SELECT EXISTS (SELECT 1 FROM perf.actions WHERE kind = %s AND target = %s "
        "AND outcome = 'done' AND acted_at > %s)",
        (kind, target, now - cooldown),
    ).fetchone()[0]
