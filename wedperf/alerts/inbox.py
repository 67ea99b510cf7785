"""The durable alert inbox (perf.alerts) on the receiver's request path.

One notification is one statement in its own transaction: when `store_alerts` returns,
every alert of the notification is committed, and when it raises nothing is (the rows are
read back before the commit, so a row that could not be read back is not committed either).
Database errors are translated here, once, by what a retry would do: `InboxUnavailable`
(no connection in time, connection lost, server shutting down, out of resources, statement
timeout, deadlock: the receiver answers 503 so the sender retries) and `InboxRejected` (a
value PostgreSQL refuses, a row over a limit: the same request would fail again, 422). The
receiver validates every field so that the second should not happen; any other error is a
bug, and surfaces as one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import replace
from datetime import datetime, timedelta

import psycopg
from psycopg import errors
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from wedperf.alerts.model import Alert
from wedperf.alerts.schemas import collapse, ended_by
from wedperf.db.queries import queries

log = logging.getLogger(__name__)
Q = queries("alerts")
ONE_FIRING_INDEX = "alerts_one_firing_idx"
_RACE_RETRIES = 3


class InboxUnavailable(RuntimeError):
    """PostgreSQL could not store the alerts now; nothing was stored."""


class InboxRejected(ValueError):
    """PostgreSQL refused a value of the notification; nothing was stored."""


def open_pool(
    database_url: str, *, size: int, name: str = "wedperf-webhook"
) -> AsyncConnectionPool:
    """The receiver's pool: autocommit connections, a 5 s statement timeout, not yet opened
    (`await pool.open(wait=False)`: the receiver starts, and answers 503, while PostgreSQL is
    down)."""
    return AsyncConnectionPool(
        database_url,
        min_size=min(2, size),
        max_size=size,
        open=False,
        check=AsyncConnectionPool.check_connection,
        kwargs={
            "autocommit": True,
            "connect_timeout": 5,
            "options": "-c statement_timeout=5000",
        },
        name=name,
    )


async def store_alerts(
    pool: AsyncConnectionPool,
    alerts: list[Alert],
    *,
    grace: timedelta,
    timeout: float,
) -> list[Alert]:
    """Commit a notification's alerts (already `collapse`d) and return them as stored.

    `grace` delays the pending dispatcher for new alerts, leaving them to inline dispatch.
    Raises InboxUnavailable or InboxRejected; on either, nothing was stored.
    """
    if not alerts:
        return []
    try:
        async with pool.connection(timeout=timeout) as conn:
            for attempt in range(1, _RACE_RETRIES + 1):
                try:
                    return await _upsert(conn, alerts, grace)
                except errors.UniqueViolation as exc:
                    if exc.diag.constraint_name != ONE_FIRING_INDEX:
                        raise
                    try:
                        return await _upsert_new_episodes(conn, alerts, grace)
                    except (errors.UniqueViolation, errors.DeadlockDetected):
                        if attempt == _RACE_RETRIES:
                            raise
                except errors.DeadlockDetected:
                    if attempt == _RACE_RETRIES:
                        raise
            raise AssertionError("unreachable")
    except PoolTimeout as exc:
        raise InboxUnavailable(f"no database connection within {timeout:g}s") from exc
    except psycopg.Error as exc:
        if is_retryable(exc) or _lost_race(exc):
            raise InboxUnavailable(f"database error: {_first_line(exc)}") from exc
        if is_refusal(exc):
            raise InboxRejected(f"a value cannot be stored: {_first_line(exc)}") from exc
        raise


# SQLSTATE classes after which the same statement may succeed: connection exception,
# transaction rollback (deadlock, serialization), insufficient resources, operator
# intervention (shutdown, statement timeout / cancel).
_RETRYABLE_CLASSES = ("08", "40", "53", "57")
# ...and after which it would fail again: data exception, integrity constraint violation
# (other than the race handled above), program limit exceeded (an index row too large).
_REFUSAL_CLASSES = ("22", "23", "54")


def _lost_race(exc: psycopg.Error) -> bool:
    """Concurrent deliveries of one alert kept colliding: a retry will find it settled."""
    return isinstance(exc, errors.UniqueViolation) and exc.diag.constraint_name == ONE_FIRING_INDEX


def is_retryable(exc: psycopg.Error) -> bool:
    """Trying again later may succeed (a lost connection has no SQLSTATE)."""
    state = exc.sqlstate
    if state is None:
        return isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError)
    return state[:2] in _RETRYABLE_CLASSES


def is_refusal(exc: psycopg.Error) -> bool:
    """The same request would fail again: a value PostgreSQL refuses, or one psycopg cannot
    read back (a DataError without SQLSTATE, e.g. a date past year 9999)."""
    state = exc.sqlstate
    if state is None:
        return isinstance(exc, psycopg.DataError)
    return state[:2] in _REFUSAL_CLASSES


async def _upsert(
    conn: psycopg.AsyncConnection, alerts: list[Alert], grace: timedelta
) -> list[Alert]:
    # Read back inside the transaction: if a returned row cannot be converted, nothing is
    # committed (on an autocommit connection it would already be, behind a 4xx).
    async with conn.transaction():
        cursor = await conn.execute(
            Q["upsert_alerts"], {"alerts": Jsonb([a.row() for a in alerts]), "grace": grace}
        )
        return [Alert.from_stored(row) for row in await cursor.fetchall()]


async def _upsert_new_episodes(
    conn: psycopg.AsyncConnection, alerts: list[Alert], grace: timedelta
) -> list[Alert]:
    """The rare path: an alert fires again under a new start while its earlier episode is
    still firing here (that episode's resolved notification was missed or is late). The
    earlier episode is resolved as of the new start; a stale firing copy of an episode older
    than the one firing is stored as resolved. One transaction, rows locked."""
    firing = [a for a in alerts if a.status == "firing"]
    async with conn.transaction():
        cursor = await conn.execute(
            Q["firing_now"],
            {
                "sources": [a.source for a in firing],
                "fingerprints": [a.fingerprint for a in firing],
            },
        )
        current = {(s, f): (alert_id, starts) for alert_id, s, f, starts in await cursor.fetchall()}
        ended_ids, ended_at, adjusted = [], [], []
        for alert in alerts:
            held = current.get((alert.source, alert.fingerprint))
            if alert.status == "firing" and held and held[1] != alert.starts_at:
                if held[1] < alert.starts_at:
                    ended_ids.append(held[0])
                    ended_at.append(alert.starts_at)
                else:
                    alert = ended_by(alert, held[1])
            adjusted.append(alert)
        if ended_ids:
            await conn.execute(Q["end_episodes"], {"alert_ids": ended_ids, "ended_at": ended_at})
        return await _upsert(conn, adjusted, grace)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class InboxWriter:
    """Group commit for the receiver: notifications that arrive while a statement is in
    flight share the next one.

    `writers` tasks each take everything waiting (up to `max_rows` alerts), store it with
    one `store_alerts` call and hand every notification its own stored rows. Alone, a
    notification is written at once; under load, one commit serves many. Each caller still
    gets its answer only after the commit that holds its alerts. A value PostgreSQL refuses
    fails the shared statement, so the batch is then retried one notification at a time and
    only the offending one gets InboxRejected.
    """

    def __init__(
        self,
        pool: AsyncConnectionPool,
        *,
        grace: timedelta,
        timeout: float,
        writers: int = 4,
        max_rows: int = 2000,
    ) -> None:
        self.pool = pool
        self.grace = grace
        self.timeout = timeout
        self.writers = writers
        self.max_rows = max_rows
        self._waiting: list[tuple[list[Alert], asyncio.Future[list[Alert]]]] = []
        self._wake = asyncio.Condition()
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        if not self._tasks:
            self._tasks = [
                asyncio.create_task(self._write(), name=f"wedperf-inbox-writer-{n}")
                for n in range(self.writers)
            ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        for _, future in self._waiting:
            if not future.done():
                future.set_exception(InboxUnavailable("receiver stopping"))
        self._waiting = []

    async def store(self, alerts: list[Alert]) -> list[Alert]:
        """Commit `alerts` (one collapsed notification); same errors as `store_alerts`."""
        if not alerts:
            return []
        if not self._tasks:
            return await store_alerts(self.pool, alerts, grace=self.grace, timeout=self.timeout)
        future: asyncio.Future[list[Alert]] = asyncio.get_running_loop().create_future()
        async with self._wake:
            self._waiting.append((alerts, future))
            self._wake.notify()
        return await future

    async def _write(self) -> None:
        while True:
            async with self._wake:
                await self._wake.wait_for(lambda: bool(self._waiting))
                batch, rows = [], 0
                while self._waiting and (
                    not batch or rows + len(self._waiting[0][0]) <= self.max_rows
                ):
                    item = self._waiting.pop(0)
                    batch.append(item)
                    rows += len(item[0])
            await self._store_batch(batch)

    async def _store_batch(
        self, batch: list[tuple[list[Alert], asyncio.Future[list[Alert]]]]
    ) -> None:
        merged = collapse([alert for alerts, _ in batch for alert in alerts])
        try:
            stored = await store_alerts(self.pool, merged, grace=self.grace, timeout=self.timeout)
        except InboxRejected as exc:
            if len(batch) == 1:
                _settle(batch[0][1], exc)
                return
            for alerts, future in batch:  # find the notification PostgreSQL refuses
                try:
                    one = await store_alerts(
                        self.pool, alerts, grace=self.grace, timeout=self.timeout
                    )
                except Exception as single:
                    _settle(future, single)
                else:
                    _settle(future, one)
            return
        except Exception as exc:
            for _, future in batch:
                _settle(future, exc)
            return
        by_key = {a.key: a for a in stored}
        reported: set[tuple[str, str, datetime]] = set()
        for alerts, future in batch:
            mine = []
            for alert in alerts:
                row = by_key[alert.key]
                if alert.key in reported:  # inserted for an earlier notification
                    row = replace(row, inserted=False)
                reported.add(alert.key)
                mine.append(row)
            _settle(future, mine)


def _settle(future: asyncio.Future[list[Alert]], result: object) -> None:
    if future.done():
        return
    if isinstance(result, BaseException):
        future.set_exception(result)
    else:
        future.set_result(result)  # type: ignore[arg-type]


# --- the inbox as a remediation run reads and updates it (synchronous, a flow's connection) ---

RQ = queries("alerts_remediation")


def load_alert(conn: psycopg.Connection, alert_id: int) -> Alert | None:
    """The inbox's alert `alert_id` as stored, or None when the inbox holds no such alert;
    its wedding from the `wedding_id` label when the column is empty (a webhook alert names
    its wedding only in its labels)."""
    row = conn.execute(RQ["alert_for_remediation"], {"alert_id": alert_id}).fetchone()
    if row is None:
        return None
    alert = Alert.from_stored(row)
    if alert.wedding_id is None and alert.labels.get("wedding_id"):
        return replace(alert, wedding_id=str(alert.labels["wedding_id"]))
    return alert


def set_remediation_state(
    conn: psycopg.Connection, alert_id: int, state: str, note: str = ""
) -> None:
    """Record where the alert's remediation stands and why (the note kept to 1000 chars)."""
    with conn.transaction():
        conn.execute(
            RQ["set_remediation_state"],
            {"alert_id": alert_id, "state": state, "note": note[:1000]},
        )
