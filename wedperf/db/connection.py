"""Connections, pools and the one place database errors are translated."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import TypeVar

import psycopg
from psycopg_pool import ConnectionPool
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt

log = logging.getLogger(__name__)

T = TypeVar("T")

_pools: dict[str, ConnectionPool] = {}
_pools_lock = threading.Lock()


class DatabaseUnavailable(RuntimeError):
    """PostgreSQL could not be reached or the connection was lost, after retries."""


def connect(url: str, *, autocommit: bool = False, connect_timeout: int = 10) -> psycopg.Connection:
    """A single connection; raises DatabaseUnavailable with the reason if none can be made."""
    try:
        return psycopg.connect(url, autocommit=autocommit, connect_timeout=connect_timeout)
    except psycopg.OperationalError as exc:
        raise DatabaseUnavailable(f"cannot connect to PostgreSQL: {_first_line(exc)}") from exc


def get_pool(url: str, *, max_size: int = 8) -> ConnectionPool:
    """The process-wide pool for `url`, opened on first use.

    `check` makes the pool test a connection before lending it, so a connection killed by a
    server restart is replaced instead of failing the caller's first statement.
    """
    with _pools_lock:
        pool = _pools.get(url)
        if pool is None:
            pool = ConnectionPool(
                url,
                min_size=1,
                max_size=max_size,
                open=False,
                check=ConnectionPool.check_connection,
                kwargs={"connect_timeout": 10},
                name="wedperf",
            )
            pool.open(wait=False)
            _pools[url] = pool
        return pool


def close_pools() -> None:
    """Close every pool this process opened (end of a CLI command or test session)."""
    with _pools_lock:
        for pool in _pools.values():
            pool.close()
        _pools.clear()


# Errors that mean "this statement was refused", not "the connection went away": a statement
# cancelled (statement_timeout, pg_cancel_backend, a remediation cancelling it) or a lock not
# granted in time. Retrying would run again exactly what was meant to stop.
NOT_RETRIED: tuple[type[BaseException], ...] = (
    psycopg.errors.QueryCanceled,
    psycopg.errors.LockNotAvailable,
)


def _connection_lost(exc: BaseException) -> bool:
    return isinstance(exc, psycopg.OperationalError) and not isinstance(exc, NOT_RETRIED)


def with_db_retry(
    operation: Callable[[], T],
    *,
    what: str,
    delays: Sequence[float] = (0.2, 1.0, 3.0, 5.0),
) -> T:
    """Run `operation`, retrying when the connection is lost or the server restarts.

    Only safe for operations that are transactional and idempotent (every wedperf write has
    a natural key), so a retry after a half-done attempt neither duplicates nor loses rows.
    A cancelled statement or a lock timeout (`NOT_RETRIED`) is raised at once, as it is.
    """
    attempts = len(delays) + 1

    def before_sleep(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        log.warning(
            "%s: connection lost (%s); retry %d/%d in %.1fs",
            what,
            _first_line(exc) if exc else "?",
            state.attempt_number,
            attempts - 1,
            state.upcoming_sleep,
        )

    retrying = Retrying(
        retry=retry_if_exception(_connection_lost),
        stop=stop_after_attempt(attempts),
        wait=lambda state: delays[min(state.attempt_number, len(delays)) - 1] if delays else 0,
        before_sleep=before_sleep,
        reraise=True,
    )
    try:
        return retrying(operation)
    except NOT_RETRIED:
        raise
    except psycopg.OperationalError as exc:
        raise DatabaseUnavailable(
            f"{what} failed after {attempts} attempts: {_first_line(exc)}"
        ) from exc


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
