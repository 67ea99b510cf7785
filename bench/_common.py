"""Shared by benchmarks: the database to run against, where the public data sets are, and a
last-line JSON printer."""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")


def database_url() -> str:
    """WEDPERF_DATABASE_URL, or the embedded PostgreSQL: reused if it runs, else started for
    this benchmark and stopped when it exits (a benchmark leaves nothing running that was not
    running before it). Benchmarks need no Redis, so none is started."""
    from wedperf.config import get_settings
    from wedperf.services import (
        embedded_postgres_running,
        ensure_embedded_postgres,
        stop_embedded_postgres,
    )

    settings = get_settings()
    if settings.database_url:
        return settings.database_url
    running = embedded_postgres_running(settings.data_dir)
    url = ensure_embedded_postgres(settings.data_dir)
    if not running:
        progress(f"started the embedded PostgreSQL in {settings.data_dir}; stopped at exit")
        atexit.register(stop_embedded_postgres, settings.data_dir)
    return url


def datasets_dir() -> Path:
    """The public data sets the forecast and replay benchmarks read (`nab/`: NAB series with
    their labelled events; `pjm/`: PJM hourly load): WEDPERF_DATASETS_DIR, by default a
    `datasets/` folder in the checkout (ignored by git: link or unpack the data sets there,
    never commit them)."""
    default = Path(__file__).resolve().parents[1] / "datasets"
    return Path(os.environ.get("WEDPERF_DATASETS_DIR") or default)


def report(figures: dict) -> None:
    """Figures as one JSON object on the last line of stdout."""
    sys.stdout.flush()
    print(json.dumps(figures))


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@contextlib.contextmanager
def scratch_database(prefix: str = "wedperf_bench") -> Iterator[str]:
    """A new, migrated database on the benchmark's server, dropped afterwards, so a benchmark
    that seeds the sandbox never touches real data."""
    import psycopg
    from psycopg import sql

    from wedperf.db.connection import close_pools
    from wedperf.db.migrate import migrate

    admin = database_url()
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = psycopg.conninfo.make_conninfo(admin, dbname=name)
    try:
        with psycopg.connect(url) as conn:
            migrate(conn)
        yield url
    finally:
        close_pools()
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
