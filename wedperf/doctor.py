"""What wedperf is connected to, and which part is broken, in plain words."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
import psycopg
from psycopg import sql

from wedperf.calendar.sources import AppDbCalendarSource, GuestSignalsUnreadable
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
        checks.append(_guard("prometheus scrape interval", lambda: scrape_interval(settings)))
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
    # The optional view decides what the calendar estimate sizes weddings by; read it as the
    # sync does, so a malformed one shows here rather than as a warning in a sync's log.
    engagement = f"{settings.source_schema}.guest_engagement"
    source = AppDbCalendarSource(services.app_database_url, settings.source_schema)
    try:
        now = datetime.now(UTC)
        signals = source.guest_signals(
            settings.active_guests.cutoff,
            since=now - settings.active_guests.signals_lookback,
            until=now + settings.active_guests.cutoff,
        )
    except GuestSignalsUnreadable as exc:
        raise RuntimeError(
            f"{settings.source_schema}.weddings has {count} rows; calendar sizes weddings by "
            f"invited guests, the optional view is malformed: {exc}"
        ) from None
    basis = (
        f"calendar sizes weddings by active guests ({engagement})"
        if signals is not None
        else f"calendar sizes weddings by invited guests (no {engagement} view)"
    )
    return f"{settings.source_schema}.weddings has {count} rows; {basis}"


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


_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}


def _seconds(duration: str) -> float:
    """A Prometheus duration ("15s", "1m30s") in seconds."""
    parts = _DURATION.findall(duration)
    if not parts or "".join(n + u for n, u in parts) != duration:
        raise ValueError(f"not a Prometheus duration: {duration!r}")
    return sum(float(n) * _UNIT_SECONDS[u] for n, u in parts)


def scrape_interval(settings: Settings) -> str:
    """The generated SLO rules read rates over at least 4 x prometheus.scrape_interval_seconds;
    that holds only if Prometheus scrapes no slower than that setting. Compares it with the
    active targets' own interval (GET /api/v1/targets)."""
    from wedperf.slo.rules import SCRAPES_PER_RANGE, min_range_minutes

    url = settings.prometheus.url.rstrip("/")
    response = httpx.get(f"{url}/api/v1/targets", params={"state": "active"}, timeout=5)
    response.raise_for_status()
    targets = response.json()["data"]["activeTargets"]
    intervals = {
        t.get("labels", {}).get("job", t.get("scrapePool", "?")): _seconds(t["scrapeInterval"])
        for t in targets
        if t.get("scrapeInterval")
    }
    configured = settings.prometheus.scrape_interval_seconds
    shortest = min_range_minutes(settings)
    if not intervals:
        raise RuntimeError(f"Prometheus at {url} has no active targets with a scrape interval")
    job, slowest = max(intervals.items(), key=lambda item: item[1])
    if slowest > configured:
        raise RuntimeError(
            f"job {job} is scraped every {slowest:g} s but prometheus.scrape_interval_seconds "
            f"is {configured:g}: the SLO rules' shortest range ({shortest} m) holds fewer than "
            f"{SCRAPES_PER_RANGE} scrapes. Set WEDPERF_PROMETHEUS__SCRAPE_INTERVAL_SECONDS="
            f"{slowest:g} and generate the rules again (wedperf slo rules)"
        )
    return (
        f"targets scraped every {slowest:g} s at most (setting {configured:g} s): the SLO rules "
        f"read rates over {shortest} m or more, at least {SCRAPES_PER_RANGE} scrapes"
    )


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
