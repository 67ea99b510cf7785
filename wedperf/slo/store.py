"""Store a round's budgets and keep their page and ticket alerts in the shared inbox.

Per wedding, SLO and severity there is at most one alert firing (fingerprint = source +
wedding + SLO + severity). A round whose windows of that severity fire opens it or
refreshes it; the first round in which none fires resolves it; the wedding's day window
closing resolves whatever is left. The alerts are written with the critical path's
`fire_alert` (perf.alerts' one-firing-per-fingerprint rule), so the dispatcher and the
remediation flow treat them like any internal alert.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from wedperf.db.queries import queries

Q = queries("slo")
FIRE_ALERT = queries("critical_path")["fire_alert"]
ALERT_SOURCE = "slo"
ALERT_NAME = "WeddingErrorBudgetBurn"
SEVERITIES = ("page", "ticket")


def alert_fingerprint(wedding_id: str, slo: str, severity: str) -> str:
    key = f"{ALERT_SOURCE}|{wedding_id}|{slo}|{severity}"
    return hashlib.sha256(key.encode()).hexdigest()[:16]


@dataclass
class BudgetAlertChanges:
    fired: list[tuple[str, str, str]] = field(default_factory=list)  # wedding, slo, severity
    refreshed: int = 0
    resolved: list[tuple[str, str, str]] = field(default_factory=list)


def _finite(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def budget_row(b) -> dict:
    """The perf.slo_budgets row of a WeddingBudget (wedperf.slo.round)."""
    budget = b.budget
    return {
        "wedding_id": b.wedding.wedding_id,
        "slo": b.definition.name,
        "evaluated_at": b.evaluated_at,
        "window_start": b.window_start,
        "window_end": b.window_end,
        "operation": b.definition.operation,
        "clients": b.definition.clients,
        "threshold_s": b.definition.threshold_s,
        "objective": budget.objective,
        "events": budget.events,
        "bad_events": budget.bad,
        "consumed": budget.consumed,
        "remaining": budget.remaining,
        "burn_rate": _finite(budget.burn_rate),
        "exhaustion_burn": budget.exhaustion_burn,
        "page": budget.page,
        "ticket": budget.ticket,
        "windows": Jsonb(
            [
                {k: (_finite(v) if isinstance(v, float) else v) for k, v in w.as_dict().items()}
                for w in budget.windows
            ]
        ),
    }


def store_budgets(
    conn: psycopg.Connection, budgets: Sequence, at: datetime, *, after: timedelta
) -> BudgetAlertChanges:
    """Write the round's budgets to perf.slo_budgets and sync their alerts, in one
    transaction (a retried round neither duplicates rows nor alerts). `after`: the day
    window's tail after the reception (closed windows' alerts resolve)."""
    changes = BudgetAlertChanges()
    with conn.transaction(), conn.cursor() as cursor:
        cursor.executemany(Q["upsert_budget"], [budget_row(b) for b in budgets])
        calm = []
        for b in budgets:
            for severity in SEVERITIES:
                firing = getattr(b.budget, severity)
                key = (b.wedding.wedding_id, b.definition.name, severity)
                if not firing:
                    calm.append(alert_fingerprint(*key))
                    continue
                inserted = cursor.execute(FIRE_ALERT, _alert_params(b, severity)).fetchone()[1]
                if inserted:
                    changes.fired.append(key)
                else:
                    changes.refreshed += 1
        resolved = cursor.execute(
            Q["resolve_alerts"], {"source": ALERT_SOURCE, "fingerprints": calm, "at": at}
        ).fetchall()
        closed = cursor.execute(
            Q["resolve_closed"], {"source": ALERT_SOURCE, "at": at, "after": after}
        ).fetchall()
        changes.resolved = [tuple(r) for r in (*resolved, *closed)]
    return changes


def _alert_params(b, severity: str) -> dict:
    budget, d = b.budget, b.definition
    firing = [w for w in budget.windows if w.firing and w.severity == severity]
    worst = max(firing, key=lambda w: w.burn_long or 0)
    labels = {
        "alertname": ALERT_NAME,
        "wedding_id": b.wedding.wedding_id,
        "slo": d.name,
        "operation": d.operation,
        "severity": severity,
        "source": ALERT_SOURCE,
    }
    return {
        "source": ALERT_SOURCE,
        "fingerprint": alert_fingerprint(b.wedding.wedding_id, d.name, severity),
        "at": b.evaluated_at,
        "alertname": ALERT_NAME,
        "severity": severity,
        "wedding_id": b.wedding.wedding_id,
        "labels": Jsonb(labels),
        "annotations": Jsonb(
            {
                "summary": (
                    f"wedding {b.wedding.wedding_id}: {d.name} burning its budget at "
                    f"{worst.burn_long:.1f}x over {worst.long_minutes} min "
                    f"({worst.burn_short:.1f}x over the last {worst.short_minutes} min); "
                    f"{budget.remaining:.0%} of the day's budget left"
                ),
                "description": d.description,
                "remaining": budget.remaining,
                "burn_rate": _finite(worst.burn_long),
                "windows": [w.name for w in firing],
                "objective": budget.objective,
                "threshold_s": d.threshold_s,
            }
        ),
    }


def stored_budgets(
    conn: psycopg.Connection,
    wedding_ids: Sequence[str],
    *,
    start: datetime | None = None,
    end: datetime | None = None,
) -> list[dict]:
    """Every stored round of the weddings' budgets in [start, end) (default: all), oldest
    first, as perf.slo_budgets rows."""
    return (
        conn.cursor(row_factory=dict_row)
        .execute(
            Q["budgets_of_weddings"],
            {
                "wedding_ids": list(wedding_ids),
                "start": start or datetime(1970, 1, 1, tzinfo=UTC),
                "end": end or datetime(9999, 1, 1, tzinfo=UTC),
            },
        )
        .fetchall()
    )


def budget_alerts(conn: psycopg.Connection, wedding_ids: Sequence[str]) -> list[dict]:
    """The weddings' page and ticket alerts (wedding_id, slo, severity, starts_at, ends_at,
    status), oldest first."""
    return (
        conn.cursor(row_factory=dict_row)
        .execute(
            Q["budget_alerts_of_weddings"],
            {"source": ALERT_SOURCE, "wedding_ids": list(wedding_ids)},
        )
        .fetchall()
    )
