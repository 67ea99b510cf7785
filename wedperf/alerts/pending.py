"""The pending sweep: dispatch every alert the receiver could not (or did not) dispatch.

Run by the `dispatch-pending-alerts` flow on a schedule. It claims due alerts in batches
(`claim_pending`: webhook alerts whose inline grace is over, internal critical-path alerts,
alerts left pending while Prefect was unreachable), creates their runs, then sends resolved
events still owed. Claims are leases (FOR UPDATE SKIP LOCKED, then next_dispatch_at pushed
forward), so two sweeps, or a sweep and the receiver, never block each other; if both reach
the same alert, the idempotency key still makes one run. A sweep stops early when Prefect
is unreachable: the alerts stay pending, due at once for the next sweep.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

from wedperf.alerts.dispatch import DispatchOutcome, RemediationDispatcher, dispatch_alerts
from wedperf.alerts.inbox import StoredAlert
from wedperf.alerts.settings import WebhookSettings
from wedperf.db.queries import queries

Q = queries("alerts")


@dataclass(frozen=True)
class Backlog:
    pending: int
    oldest_pending: datetime | None
    failed: int
    unannounced: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "pending": self.pending,
            "oldest_pending": self.oldest_pending.isoformat() if self.oldest_pending else None,
            "failed": self.failed,
            "unannounced": self.unannounced,
        }


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
                batch = await _claim(conn, claim, settings, min(batch_size, max_alerts - seen))
                if not batch:
                    break
                seen += len(batch)
                outcome = await dispatch_alerts(
                    conn,
                    dispatcher,
                    batch,
                    concurrency=settings.dispatch_concurrency,
                    max_attempts=settings.dispatch_max_attempts,
                )
                total.add(outcome)
        backlog = await read_backlog(conn)
    return total, backlog


async def read_backlog(conn: psycopg.AsyncConnection) -> Backlog:
    cursor = await conn.execute(Q["dispatch_backlog"])
    return Backlog(*(await cursor.fetchone()))


async def _claim(
    conn: psycopg.AsyncConnection, name: str, settings: WebhookSettings, limit: int
) -> list[StoredAlert]:
    cursor = await conn.execute(Q[name], {"lease": settings.dispatch_lease, "limit": limit})
    return [StoredAlert(*row) for row in await cursor.fetchall()]
