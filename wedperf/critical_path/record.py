"""Store a round's evaluations and turn breaches into alerts in the shared inbox.

A breach fires one internal alert per wedding and check (fingerprint = source + wedding +
check); further breaching rounds refresh it; the first round that finds the check ok again
resolves it. A warn neither fires nor resolves: it is the band between.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime

import pandas as pd
import psycopg
from psycopg.types.json import Jsonb

from wedperf.critical_path.slo import CHECKS
from wedperf.db.queries import queries

Q = queries("critical_path")
ALERT_SOURCE = "critical_path"
ALERT_NAME = "WeddingCriticalPathBreach"


def alert_fingerprint(wedding_id: str, check_name: str) -> str:
    return hashlib.sha256(f"{ALERT_SOURCE}|{wedding_id}|{check_name}".encode()).hexdigest()[:16]


@dataclass
class AlertChanges:
    fired: list[tuple[str, str]] = field(default_factory=list)
    refreshed: int = 0
    resolved: list[tuple[str, str]] = field(default_factory=list)


def store_round(conn: psycopg.Connection, results: pd.DataFrame, at: datetime) -> AlertChanges:
    """Write the round's rows to perf.critical_path_checks and sync perf.alerts, in one
    transaction (a retried round neither duplicates rows nor alerts)."""
    changes = AlertChanges()
    rows = [
        {
            "wedding_id": r.wedding_id,
            "check_name": r.check_name,
            "evaluated_at": at,
            "value": None if pd.isna(r.value) else float(r.value),
            "threshold": float(r.threshold),
            "warn_threshold": float(r.warn_threshold),
            "status": r.status,
            "detail": r.detail,
        }
        for r in results.itertuples(index=False)
    ]
    with conn.transaction(), conn.cursor() as cursor:
        cursor.executemany(Q["upsert_check"], rows)
        for row in rows:
            if row["status"] == "breach":
                fired = cursor.execute(Q["fire_alert"], _alert_params(row, at)).fetchone()
                if fired[1]:
                    changes.fired.append((row["wedding_id"], row["check_name"]))
                else:
                    changes.refreshed += 1
        recovered = [
            alert_fingerprint(row["wedding_id"], row["check_name"])
            for row in rows
            if row["status"] == "ok"
        ]
        resolved = cursor.execute(
            Q["resolve_alerts"],
            {"source": ALERT_SOURCE, "fingerprints": recovered, "at": at},
        ).fetchall()
        changes.resolved = [(wedding_id, check) for wedding_id, check in resolved]
    return changes


def _alert_params(row: dict, at: datetime) -> dict:
    spec = CHECKS[row["check_name"]]
    return {
        "source": ALERT_SOURCE,
        "fingerprint": alert_fingerprint(row["wedding_id"], row["check_name"]),
        "at": at,
        "alertname": ALERT_NAME,
        "severity": "critical" if row["check_name"].startswith("incident_") else "warning",
        "wedding_id": row["wedding_id"],
        "labels": Jsonb(
            {
                "alertname": ALERT_NAME,
                "wedding_id": row["wedding_id"],
                "check": row["check_name"],
                "source": ALERT_SOURCE,
            }
        ),
        "annotations": Jsonb(
            {
                "summary": f"wedding {row['wedding_id']}: {spec.description}",
                "value": row["value"],
                "threshold": row["threshold"],
                "unit": spec.unit,
                "detail": row["detail"],
            }
        ),
    }
