"""What a running command or flow needs: settings, resolved services and pools, made once."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from psycopg_pool import ConnectionPool

from wedperf.config import Settings, get_settings
from wedperf.db.connection import connect, get_pool
from wedperf.db.migrate import load_migrations, migrate, pending_migrations
from wedperf.services import ResolvedServices, resolve_services


class SchemaNotReady(RuntimeError):
    """wedperf's schema is missing or behind; the message says what to run."""


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    services: ResolvedServices

    @property
    def pool(self) -> ConnectionPool:
        """wedperf's own database."""
        return get_pool(self.services.database_url)


_runtime: Runtime | None = None
_lock = threading.Lock()


def get_runtime() -> Runtime:
    """Settings and services for this process, starting embedded services on first use.

    The embedded database is wedperf's own, so its schema is migrated automatically; a
    configured database must be migrated explicitly (`wedperf db migrate`), and a missing or
    stale schema is reported here rather than as a confusing error deep in a flow.
    """
    global _runtime
    with _lock:
        settings = get_settings()
        if _runtime is None or _runtime.settings is not settings:
            services = resolve_services(settings)
            _check_schema(services, settings)
            _runtime = Runtime(settings, services)
        return _runtime


def _check_schema(services: ResolvedServices, settings: Settings) -> None:
    with connect(services.database_url) as conn:
        if services.embedded_postgres:
            migrate(conn, partition_days_ahead=settings.sample_partition_days_ahead)
            return
        pending = pending_migrations(conn)
    if pending:
        total = len(load_migrations())
        raise SchemaNotReady(
            f"wedperf schema is behind ({len(pending)} of {total} migrations pending: "
            f"{', '.join(pending)}); run `wedperf db migrate`"
        )
