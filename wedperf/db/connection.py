"""Connections, pools and the one place database errors are translated."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import TypeVar

import psycopg
from psycopg_pool import ConnectionPool

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


def with_db_retry(
    operation: Callable[[], T],
    *,
    what: str,
    delays: Sequence[float] = (0.2, 1.0, 3.0, 5.0),
) -> T:
    """Run `operation`, retrying when the connection is lost or the server restarts.

    Only safe for operations that are transactional and idempotent (every wedperf write has
    a natural key), so a retry after a half-done attempt neither duplicates nor loses rows.
    """
    attempts = len(delays) + 1
    for attempt in range(1, attempts + 1):
        try:
            return operation()
        except psycopg.OperationalError as exc:
            if attempt == attempts:
                raise DatabaseUnavailable(
                    f"{what} failed after {attempts} attempts: {_first_line(exc)}"
                ) from exc
            delay = delays[attempt - 1]
            log.warning(
                "%s: connection lost (%s); retry %d/%d in %.1fs",
                what,
                _first_line(exc),
                attempt,
                attempts - 1,
                delay,
            )
            time.sleep(delay)
    raise AssertionError("unreachable")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
