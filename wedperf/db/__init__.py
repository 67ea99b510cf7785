"""wedperf's PostgreSQL spine: connection pools, migrations and named queries."""

from wedperf.db.connection import DatabaseUnavailable, connect, get_pool, with_db_retry

__all__ = ["DatabaseUnavailable", "connect", "get_pool", "with_db_retry"]
