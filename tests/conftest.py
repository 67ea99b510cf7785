"""Shared fixtures: real PostgreSQL, real Redis, one Prefect test harness per session.

PostgreSQL: `WEDPERF_TEST_PG_URL` (default the local server's `postgres` database) is used only
to create throw-away databases named `wedperf_test_*`, dropped at the end.
Redis: `WEDPERF_TEST_REDIS_URL` (default db 15 of the local server), flushed per session.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

# Prefect reads its settings at import: isolate its home and silence telemetry first.
_PREFECT_HOME = tempfile.mkdtemp(prefix="wedperf-test-prefect-")
os.environ.setdefault("PREFECT_HOME", _PREFECT_HOME)
os.environ.setdefault("PREFECT_RESULTS_LOCAL_STORAGE_PATH", str(Path(_PREFECT_HOME) / "results"))
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")

import psycopg  # noqa: E402
import pytest  # noqa: E402
import redis  # noqa: E402
from psycopg import sql  # noqa: E402

from bench._common import datasets_dir  # noqa: E402
from wedperf.config import reset_settings_cache  # noqa: E402
from wedperf.db.connection import close_pools  # noqa: E402
from wedperf.db.migrate import migrate  # noqa: E402
from wedperf.sandbox.app import create_app  # noqa: E402
from wedperf.sandbox.live import bring_weddings_live  # noqa: E402
from wedperf.sandbox.seed import seed_sandbox  # noqa: E402
from wedperf.services import stop_embedded_postgres, stop_embedded_redis  # noqa: E402
from wedperf.serving import serve_in_thread  # noqa: E402

ADMIN_URL = os.environ.get("WEDPERF_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("WEDPERF_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
NAB_DIR = datasets_dir() / "nab"  # WEDPERF_DATASETS_DIR, as the benchmarks read it


def _db_url(name: str) -> str:
    return psycopg.conninfo.make_conninfo(ADMIN_URL, dbname=name)


def create_database(prefix: str = "wedperf_test") -> str:
    """A new empty database on the test server; returns its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return _db_url(name)


_TEMPLATES: dict[date, str] = {}


def _migrated_template() -> str:
    """A database migrated once, to copy: a copy (CREATE DATABASE ... TEMPLATE) has exactly
    the schema and recorded migrations that migrating a new database gives, in a fraction of
    the time. One per calendar day, as migrate() creates sample partitions from yesterday on."""
    today = date.today()
    if today not in _TEMPLATES:
        url = create_database("wedperf_test_template")
        with psycopg.connect(url) as conn:
            migrate(conn)
        _TEMPLATES[today] = url
    return _TEMPLATES[today]


def create_migrated_database() -> str:
    """A new database with wedperf's schema, as `migrate` leaves an empty one; its URL."""
    template = psycopg.conninfo.conninfo_to_dict(_migrated_template())["dbname"]
    name = f"wedperf_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(name), sql.Identifier(template)
            )
        )
    return _db_url(name)


@pytest.fixture(scope="session", autouse=True)
def drop_migrated_templates() -> Iterator[None]:
    yield
    for url in _TEMPLATES.values():
        drop_database(url)
    _TEMPLATES.clear()


def store_weddings(conn, weddings) -> None:
    """Calendar rows for `weddings` (wedperf.calendar.model.Wedding) in perf.weddings, as a
    sync would leave them (source 'test'); committed. Existing ids are left as they are."""
    for w in weddings:
        conn.execute(
            "INSERT INTO perf.weddings (wedding_id, source, starts_at, ends_at, timezone, venue, "
            "guest_count, status, active_guests) VALUES (%s, 'test', %s, %s, %s, %s, %s, %s, %s) "
            "ON CONFLICT DO NOTHING",
            (w.wedding_id, w.starts_at, w.ends_at, w.timezone, w.venue, w.guest_count, w.status,
             w.active_guests),
        )  # fmt: skip
    conn.commit()


def drop_database(url: str) -> None:
    name = psycopg.conninfo.conninfo_to_dict(url)["dbname"]
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """A migrated database shared by the whole session."""
    url = create_database()
    with psycopg.connect(url) as conn:
        migrate(conn)
    yield url
    close_pools()
    drop_database(url)


@pytest.fixture(scope="session")
def make_database() -> Iterator[Callable[[], str]]:
    """Make migrated databases for module-scoped fixtures; all dropped at session end."""
    made: list[str] = []

    def make() -> str:
        url = create_migrated_database()
        made.append(url)
        return url

    yield make
    close_pools()
    for url in made:
        drop_database(url)


@pytest.fixture
def empty_database_url() -> Iterator[str]:
    """A fresh, empty database for one test."""
    url = create_database()
    yield url
    close_pools()
    drop_database(url)


@pytest.fixture(scope="session", autouse=True)
def stop_embedded_services_left_by_tests(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[None]:
    """CLI tests run wedperf with a temporary data dir, and wedperf starts embedded PostgreSQL
    or Redis there when a URL is unset (by design they outlive the command). Stop every one
    the session started, so the suite leaves nothing running."""
    yield
    base = tmp_path_factory.getbasetemp()
    data_dirs = {p.parent.parent for p in base.glob("**/redis/redis.pid")}
    data_dirs |= {p.parent.parent for p in base.glob("**/postgres/postmaster.pid")}
    for data_dir in data_dirs:
        stop_embedded_redis(data_dir)
        stop_embedded_postgres(data_dir)


@pytest.fixture
def migrated_database_url() -> Iterator[str]:
    """A fresh database with wedperf's schema, for one test."""
    url = create_migrated_database()
    yield url
    close_pools()
    drop_database(url)


@pytest.fixture(scope="session")
def redis_url() -> str:
    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    client.close()
    return REDIS_URL


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    """One real Prefect API (ephemeral server on SQLite) for every test that needs it."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=90):
        yield


REMEDIATION_DEPLOYMENT = "remediate-alert/remediate-alert"


@pytest.fixture(scope="module")
def remediation_deployment(prefect_harness: None) -> str:
    """The remediate-alert deployment on the session's Prefect API; its name."""
    from flows.remediate_alert import remediate_alert

    remediate_alert.to_deployment(name="remediate-alert").apply()
    return REMEDIATION_DEPLOYMENT


@pytest.fixture
def inbox(
    make_database: Callable[[], str], monkeypatch: pytest.MonkeyPatch, redis_url: str
) -> Iterator[str]:
    """A fresh inbox database that wedperf's settings (and so the flows) point at."""
    url = make_database()
    monkeypatch.setenv("WEDPERF_DATABASE_URL", url)
    monkeypatch.setenv("WEDPERF_REDIS_URL", redis_url)
    reset_settings_cache()
    yield url
    reset_settings_cache()


@pytest.fixture(scope="session")
def nab_dir() -> Path:
    if not NAB_DIR.is_dir():
        pytest.skip(f"NAB data not found at {NAB_DIR} (set WEDPERF_DATASETS_DIR)")
    return NAB_DIR


@pytest.fixture
def platform(
    migrated_database_url: str, redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict]:
    """A seeded sandbox with three weddings live now, served over HTTP, and wedperf's
    settings pointing at it all."""
    now = datetime.now(UTC)
    with psycopg.connect(migrated_database_url) as conn:
        seed_sandbox(
            conn, weddings=80, days=30, seed=11, start=date.today() - timedelta(days=15), now=now
        )
        live = bring_weddings_live(conn, count=3, now=now, seed=11)
    with serve_in_thread(create_app(migrated_database_url, redis_url)) as base_url:
        monkeypatch.setenv("WEDPERF_DATABASE_URL", migrated_database_url)
        monkeypatch.setenv("WEDPERF_REDIS_URL", redis_url)
        monkeypatch.setenv("WEDPERF_DATA_DIR", str(tmp_path / "data"))
        monkeypatch.setenv("WEDPERF_PROBES__BASE_URL", base_url)
        reset_settings_cache()
        yield {
            "url": migrated_database_url,
            "base_url": base_url,
            "live": live,
            "now": now,
            "redis_url": redis_url,
        }
    reset_settings_cache()
