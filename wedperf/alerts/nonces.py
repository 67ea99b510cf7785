"""The nonce store of signed requests (perf.webhook_nonces): each nonce is used once.

A nonce is recorded once the request's signature and body digest have checked out, before
its alerts are parsed or stored; a resend must therefore sign again (new nonce and
timestamp), as `wedperf.alerts.auth.signed_headers` does for every call.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import psycopg
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from wedperf.alerts.inbox import InboxUnavailable
from wedperf.db.queries import queries

Q = queries("alerts")
PURGE_EVERY_SECONDS = 60.0


class NonceStore:
    def __init__(self, pool: AsyncConnectionPool, *, timeout: float) -> None:
        self.pool = pool
        self.timeout = timeout
        self._purged = 0.0

    async def use(self, nonce: str, expires_at: datetime) -> bool:
        """True the first time `nonce` is seen, False for a replay. Raises InboxUnavailable
        when PostgreSQL cannot say (the sender retries, signing anew)."""
        try:
            async with self.pool.connection(timeout=self.timeout) as conn:
                if time.monotonic() - self._purged > PURGE_EVERY_SECONDS:
                    self._purged = time.monotonic()
                    # The receiver's clock, the one the window was checked with; a minute's
                    # margin for a database whose clock runs ahead.
                    before = datetime.now(UTC) - timedelta(minutes=1)
                    await conn.execute(Q["purge_nonces"], {"before": before})
                cursor = await conn.execute(
                    Q["use_nonce"], {"nonce": nonce, "expires_at": expires_at}
                )
                return await cursor.fetchone() is not None
        except PoolTimeout as exc:
            raise InboxUnavailable(f"no database connection within {self.timeout:g}s") from exc
        except (psycopg.OperationalError, psycopg.errors.QueryCanceled) as exc:
            raise InboxUnavailable("database error while checking the nonce") from exc
