"""What wedperf is connected to, and which part is broken, in plain words."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

import httpx
import psycopg
from psycopg import sql

from wedperf.config import Settings
from wedperf.db.migrate import pending_migrations
from wedperf.services import ResolvedServices, resolve_services


@dataclass(frozen=True)
class Check:
    part: str
    ok: bool
    detail: str


def run_checks(settings: Settings) -> list[Check]:
    """Check every part; a part that cannot be checked because another is down says so."""
    try:
        services = resolve_services(settings)
    except Exception as exc:
        return [Check("services", False, f"cannot start embedded services: {exc}")]
    checks = [
        _guard("postgresql", lambda: _postgres(services)),
        _guard("app database", lambda: _app_views(services, settings)),
        _guard("redis", lambda: _redis(services)),
        _guard("prefect api", _prefect),
    ]
    if settings.prometheus.url:
        checks.append(_guard("prometheus", lambda: _prometheus(settings)))
    return checks


def _guard(part: str, check: Callable[[], str]) -> Check:
    try:
        return Check(part, True, check())
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return Check(part, False, first)


def _postgres(services: ResolvedServices) -> str:
    with psycopg.connect(services.database_url, connect_timeout=5) as conn:
        version = conn.execute("SHOW server_version").fetchone()[0]
        pending = pending_migrations(conn)
    where = "embedded" if services.embedded_postgres else _redact(services.database_url)
    schema = (
        "schema current"
        if not pending
        else f"{len(pending)} migrations pending (wedperf db migrate)"
    )
    if pending:
        raise RuntimeError(f"PostgreSQL {version} at {where}: {schema}")
    return f"PostgreSQL {version} at {where}; {schema}"


def _app_views(services: ResolvedServices, settings: Settings) -> str:
    with psycopg.connect(services.app_database_url, connect_timeout=5) as conn:
        try:
            count = conn.execute(
                sql.SQL("SELECT count(*) FROM {}.weddings").format(
                    sql.Identifier(settings.source_schema)
                )
            ).fetchone()[0]
        except psycopg.errors.UndefinedTable:
            raise RuntimeError(
                f"view {settings.source_schema}.weddings missing: create the contract views "
                "or run `wedperf sandbox seed`"
            ) from None
    return f"{settings.source_schema}.weddings has {count} rows"


def _redis(services: ResolvedServices) -> str:
    import redis

    client = redis.Redis.from_url(services.redis_url, socket_connect_timeout=3)
    try:
        info = client.info("server")
    finally:
        client.close()
    where = "embedded" if services.embedded_redis else _redact(services.redis_url)
    return f"Redis {info['redis_version']} at {where}"


def _prefect() -> str:
    from wedperf.prefect_api import configured_api_url, server_version

    url = configured_api_url()
    if not url:
        return "no PREFECT_API_URL: flows run against a temporary local server (ephemeral mode)"
    return f"Prefect API {server_version()} at {url}"


def _prometheus(settings: Settings) -> str:
    url = settings.prometheus.url.rstrip("/")
    response = httpx.get(f"{url}/api/v1/status/buildinfo", timeout=5)
    response.raise_for_status()
    return f"Prometheus {response.json()['data']['version']} at {url}"


def _redact(url: str) -> str:
    """The URL without its password."""
    try:
        parts = psycopg.conninfo.conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return url.split("@")[-1]
    host = parts.get("host", "localhost")
    port = parts.get("port", "5432")
    db = parts.get("dbname", "")
    user = parts.get("user", os.environ.get("USER", ""))
    return f"{user}@{host}:{port}/{db}"
