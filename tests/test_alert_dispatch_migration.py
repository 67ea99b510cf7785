"""Migration 0005 on an inbox that already holds internal alerts, and the dispatch defaults
that internal (critical-path) alerts rely on."""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg
from psycopg.types.json import Jsonb

from wedperf.critical_path.record import Q as CRITICAL_PATH_QUERIES
from wedperf.db.migrate import load_migrations, migrate

DISPATCH_VERSION = 5


def fire(conn: psycopg.Connection, fingerprint: str, at: datetime) -> int:
    return conn.execute(
        CRITICAL_PATH_QUERIES["fire_alert"],
        {
            "source": "critical_path",
            "fingerprint": fingerprint,
            "at": at,
            "alertname": "WeddingCriticalPathBreach",
            "severity": "warning",
            "wedding_id": "w-1",
            "labels": Jsonb({"check": "timeline_drift"}),
            "annotations": Jsonb({}),
        },
    ).fetchone()[0]


def test_history_is_not_remediated_and_live_alerts_are_pending(empty_database_url: str) -> None:
    at = datetime(2026, 10, 17, 15, 0, tzinfo=UTC)
    with psycopg.connect(empty_database_url) as conn:
        # The schema as it was before 0005, recorded as applied.
        conn.execute("CREATE SCHEMA perf")
        conn.execute(
            "CREATE TABLE perf.schema_migrations (version integer PRIMARY KEY, name text NOT "
            "NULL, checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        for migration in load_migrations():
            if migration.version < DISPATCH_VERSION:
                conn.execute(migration.sql)
                conn.execute(
                    "INSERT INTO perf.schema_migrations (version, name, checksum) "
                    "VALUES (%s, %s, %s)",
                    (migration.version, migration.name, migration.checksum),
                )
        live = fire(conn, "live", at)
        old = fire(conn, "old", at)
        conn.execute(
            CRITICAL_PATH_QUERIES["resolve_alerts"],
            {"source": "critical_path", "fingerprints": ["old"], "at": at},
        )
        conn.commit()

        result = migrate(conn)
        states = {
            row[0]: row[1:]
            for row in conn.execute(
                "SELECT alert_id, dispatch_state, resolved_event_at IS NOT NULL, repeats "
                "FROM perf.alerts"
            )
        }
        new = fire(conn, "new", at)
        new_row = conn.execute(
            "SELECT dispatch_state, next_dispatch_at <= now(), dispatch_attempts, flow_run_id "
            "FROM perf.alerts WHERE alert_id = %s",
            (new,),
        ).fetchone()

    assert "0005_alert_dispatch" in result.applied
    assert states[live] == ("pending", False, 0)  # firing now: will be remediated
    assert states[old] == ("skipped", True, 0)  # history: neither remediated nor announced
    assert new_row == ("pending", True, 0, None)  # internal alerts are due at once
