"""Database retries against real PostgreSQL: a lost connection is retried, a cancelled
statement or a lock timeout is tried exactly once and raised as it is."""

from __future__ import annotations

import logging

import psycopg
import pytest

from wedperf.db.connection import DatabaseUnavailable, with_db_retry

NO_WAIT = (0.0, 0.0, 0.0)


def test_lost_connection_is_retried(database_url: str, caplog) -> None:
    attempts = []

    def operation() -> int:
        attempts.append(1)
        with psycopg.connect(database_url) as conn:
            if len(attempts) == 1:  # the server ends this backend mid-operation
                conn.execute("SELECT pg_terminate_backend(pg_backend_pid())")
            return conn.execute("SELECT 42").fetchone()[0]

    with caplog.at_level(logging.WARNING, logger="wedperf.db.connection"):
        assert with_db_retry(operation, what="probe", delays=NO_WAIT) == 42
    assert len(attempts) == 2
    assert "probe: connection lost" in caplog.text and "retry 1/3" in caplog.text


def test_connection_lost_every_time_is_unavailable_after_bounded_attempts(
    database_url: str,
) -> None:
    attempts = []

    def operation() -> None:
        attempts.append(1)
        with psycopg.connect(database_url) as conn:
            conn.execute("SELECT pg_terminate_backend(pg_backend_pid())")

    with pytest.raises(DatabaseUnavailable, match="probe failed after 4 attempts"):
        with_db_retry(operation, what="probe", delays=NO_WAIT)
    assert len(attempts) == 4


def test_cancelled_statement_is_tried_exactly_once(database_url: str) -> None:
    attempts = []

    def operation() -> None:
        attempts.append(1)
        with psycopg.connect(database_url) as conn:
            conn.execute("SET statement_timeout = '50ms'")
            conn.execute("SELECT pg_sleep(5)")

    with pytest.raises(psycopg.errors.QueryCanceled):
        with_db_retry(operation, what="slow", delays=NO_WAIT)
    assert len(attempts) == 1


def test_lock_timeout_is_tried_exactly_once(database_url: str) -> None:
    attempts = []
    with psycopg.connect(database_url) as holder:
        holder.execute("CREATE TABLE IF NOT EXISTS public.retry_lock_probe (id int)")
        holder.commit()
        holder.execute("LOCK TABLE public.retry_lock_probe IN ACCESS EXCLUSIVE MODE")

        def operation() -> None:
            attempts.append(1)
            with psycopg.connect(database_url) as conn:
                conn.execute("SET lock_timeout = '50ms'")
                conn.execute("SELECT count(*) FROM public.retry_lock_probe")

        with pytest.raises(psycopg.errors.LockNotAvailable):
            with_db_retry(operation, what="locked", delays=NO_WAIT)
        holder.rollback()
        holder.execute("DROP TABLE public.retry_lock_probe")
        holder.commit()
    assert len(attempts) == 1
