"""The pending sweep: dispatch every alert the receiver could not (or did not) dispatch.

Run by the `dispatch-pending-alerts` flow on a schedule. It claims due alerts in batches
(`claim_pending`: webhook alerts whose inline grace is over, internal critical-path alerts,
alerts left pending while Prefect was unreachable), creates their runs, then sends resolved
events still owed. Claims are leases (FOR UPDATE SKIP LOCKED, then next_dispatch_at pushed
forward), so two sweeps, or a sweep and the receiver, never block each other; if both reach
the same alert, the idempotency key still makes one run. A sweep stops early when Prefect
is unreachable: the alerts stay pending, due at once for the next sweep.

A row the sweep cannot handle — a value it cannot read back (PostgreSQL stores instants up
to year 294276, Python reads them to 9999), or an error of its own while dispatching — is
quarantined with the reason and an internal AlertQuarantined alert is raised; the other
alerts of its batch are dispatched as usual. `sweep_failure` says when the sweep must end
Failed: it quarantined something, or it dispatched nothing while runs were due.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.types.datetime import TimestamptzLoader

from wedperf.alerts.dispatch import (
    DispatchOutcome,
    RemediationDispatcher,
    describe_error,
    dispatch_alerts,
)
from wedperf.alerts.model import STORED_COLUMNS, Alert
from wedperf.alerts.settings import WebhookSettings
from wedperf.db.queries import queries

log = logging.getLogger(__name__)
Q = queries("alerts")


class DispatchFailed(RuntimeError):
    """The sweep did not do what was due (the message says what); its flow run fails."""


@dataclass(frozen=True)
class Backlog:
    pending: int
    oldest_pending: datetime | None
    failed: int
    unannounced: int
    quarantined: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "pending": self.pending,
            "oldest_pending": self.oldest_pending.isoformat() if self.oldest_pending else None,
            "failed": self.failed,
            "unannounced": self.unannounced,
            "quarantined": self.quarantined,
        }


@dataclass(frozen=True)
class Unreadable:
    """A timestamptz psycopg could not convert (its text as PostgreSQL sent it)."""

    text: str


class _LenientTimestamptz(TimestamptzLoader):
    """Claims read instants through this, so one unreadable row cannot fail the whole fetch
    (after the claim's lease has been taken on every row of the batch)."""

    def load(self, data: Any) -> Any:
        try:
            return super().load(data)
        except psycopg.DataError:
            return Unreadable(bytes(data).decode(errors="replace"))


async def dispatch_pending(
    database_url: str,
    settings: WebhookSettings,
    *,
    api_url: str | None = None,
    batch_size: int = 200,
    max_alerts: int = 10_000,
) -> tuple[DispatchOutcome, Backlog]:
    """Dispatch due pending alerts and send owed resolved events, at most `max_alerts` of
    each; returns what was done and what is left."""
    total = DispatchOutcome()
    async with (
        await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn,
        RemediationDispatcher(
            settings.remediation_deployment,
            api_url=api_url,
            timeout=settings.dispatch_timeout_seconds,
        ) as dispatcher,
    ):
        for claim in ("claim_pending", "claim_unannounced"):
            seen = 0
            while seen < max_alerts and not total.unreachable:
                batch, unreadable = await _claim(
                    conn, claim, settings, min(batch_size, max_alerts - seen)
                )
                if not batch and not unreadable:
                    break
                seen += len(batch) + len(unreadable)
                outcome = await _dispatch_isolating(conn, dispatcher, batch, settings)
                outcome.needed += sum(1 for a in batch if a.needs_run)
                outcome.quarantined += await quarantine(conn, unreadable)
                outcome.needed += len(unreadable)
                total.add(outcome)
        backlog = await read_backlog(conn)
    return total, backlog


def sweep_failure(outcome: dict[str, Any]) -> str | None:
    """Why a sweep with this outcome (`DispatchOutcome.as_dict()`) must end Failed, or None.

    It fails when it quarantined an alert, and when runs were due and it created none (Prefect
    unreachable or refusing): a Completed sweep means it did what was due.
    """
    reasons = []
    if outcome["quarantined"]:
        reasons.append(f"{outcome['quarantined']} alert(s) quarantined")
    if outcome["needed"] and not outcome["created"]:
        reasons.append(
            f"{outcome['needed']} alert(s) needed a remediation run and none was created"
            + (f" ({outcome['errors'][0]})" if outcome["errors"] else "")
        )
    return "; ".join(reasons) or None


async def quarantine(conn: psycopg.AsyncConnection, alerts: list[tuple[int, str]]) -> int:
    """Quarantine (alert_id, reason) pairs and raise their internal alerts; how many."""
    if not alerts:
        return 0
    for alert_id, reason in alerts:
        log.error("alert %d quarantined: %s", alert_id, reason)
    cursor = await conn.execute(
        Q["quarantine_alerts"],
        {"alert_ids": [a for a, _ in alerts], "reasons": [r[:1000] for _, r in alerts]},
    )
    row = await cursor.fetchone()
    return int(row[0]) if row else 0


async def read_backlog(conn: psycopg.AsyncConnection) -> Backlog:
    cursor = await conn.execute(Q["dispatch_backlog"])
    return Backlog(*(await cursor.fetchone()))


async def _dispatch_isolating(
    conn: psycopg.AsyncConnection,
    dispatcher: RemediationDispatcher,
    batch: list[Alert],
    settings: WebhookSettings,
) -> DispatchOutcome:
    """Dispatch `batch`; if that raises (not a refusal by Prefect, which `dispatch_alerts`
    records per alert, but an error of a row's own), dispatch its alerts one by one and
    quarantine those that still raise. Redoing part of a batch is safe: runs are keyed by
    the alert, events by their id."""

    async def dispatch(alerts: list[Alert]) -> DispatchOutcome:
        return await dispatch_alerts(
            conn,
            dispatcher,
            alerts,
            concurrency=settings.dispatch_concurrency,
            max_attempts=settings.dispatch_max_attempts,
        )

    if not batch:
        return DispatchOutcome()
    try:
        return await dispatch(batch)
    except (psycopg.OperationalError, psycopg.InterfaceError):
        raise  # the database, not a row: the task's retries handle it
    except Exception as exc:
        if len(batch) == 1:
            outcome = DispatchOutcome()
            outcome.quarantined += await quarantine(
                conn, [(batch[0].alert_id, f"dispatch failed: {describe_error(exc)}")]
            )
            return outcome
    total = DispatchOutcome()
    for alert in batch:
        total.add(await _dispatch_isolating(conn, dispatcher, [alert], settings))
    return total


async def _claim(
    conn: psycopg.AsyncConnection, name: str, settings: WebhookSettings, limit: int
) -> tuple[list[Alert], list[tuple[int, str]]]:
    """Claimed alerts, and the (alert_id, reason) of claimed rows that cannot be read."""
    cursor = conn.cursor()
    cursor.adapters.register_loader("timestamptz", _LenientTimestamptz)
    await cursor.execute(Q[name], {"lease": settings.dispatch_lease, "limit": limit})
    readable, unreadable = [], []
    for row in await cursor.fetchall():
        bad = [
            f"{column} {value.text!r}"
            for column, value in zip(STORED_COLUMNS, row, strict=True)
            if isinstance(value, Unreadable)
        ]
        if bad:
            unreadable.append(
                (row[0], f"cannot be read: {', '.join(bad)} (outside the years 1-9999)")
            )
        else:
            readable.append(Alert.from_stored(row))
    return readable, unreadable
