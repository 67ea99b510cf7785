"""`wedperf sandbox ...`: seed the sandbox platform, serve its API, drive load against it."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

import typer

from wedperf.sandbox.capacity import BASELINE_REPLICAS

if TYPE_CHECKING:
    from wedperf.config import Settings
    from wedperf.services import ResolvedServices

app = typer.Typer(no_args_is_help=True, pretty_exceptions_show_locals=False)


def _services() -> tuple[Settings, ResolvedServices]:
    """Settings and service URLs; starts embedded PostgreSQL/Redis when none is configured."""
    # Imported here so `wedperf --help` stays fast and touches no service.
    from wedperf.config import get_settings
    from wedperf.services import resolve_services

    settings = get_settings()
    return settings, resolve_services(settings)


def _parse_day(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(
            f"{value!r} is not a date like 2026-10-17", param_hint=option
        ) from None


def _parse_now(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not an ISO timestamp", param_hint="--now") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@app.command("seed")
def seed_command(
    weddings: int = typer.Option(200, "--weddings", min=1, help="number of weddings"),
    days: int = typer.Option(120, "--days", min=1, help="length of the date range in days"),
    seed: int = typer.Option(1, "--seed", help="random seed; same seed, same data"),
    start: str | None = typer.Option(
        None, "--start", help="first day YYYY-MM-DD (default: today minus days//2)"
    ),
    now: str | None = typer.Option(
        None, "--now", help="cut-off instant (ISO; default: the current time)"
    ),
) -> None:
    """Replace the sandbox app's data with a fresh, deterministic data set and its views."""
    import psycopg

    from wedperf.sandbox.cache import clear_sandbox_cache
    from wedperf.sandbox.seed import seed_sandbox

    first_day = _parse_day(start, "--start") or date.today() - timedelta(days=days // 2)
    cut_off = _parse_now(now)
    settings, services = _services()
    with psycopg.connect(services.app_database_url) as conn:
        summary = seed_sandbox(
            conn,
            weddings=weddings,
            days=days,
            seed=seed,
            start=first_day,
            schema=settings.source_schema,
            now=cut_off,
        )
    cleared = clear_sandbox_cache(services.redis_url)
    for line in summary.lines():
        typer.echo(line)
    typer.echo(f"cleared {cleared} cached sandbox entries")


@app.command("serve")
def serve_command(
    host: str = typer.Option("127.0.0.1", "--host"),
    port: int = typer.Option(8765, "--port"),
    capacity: int = typer.Option(
        BASELINE_REPLICAS, "--capacity", min=1, help="worker slots (replicas)"
    ),
) -> None:
    """Serve the sandbox API with uvicorn until interrupted."""
    import uvicorn

    from wedperf.sandbox.app import create_app

    _settings, services = _services()
    api = create_app(services.app_database_url, services.redis_url, capacity=capacity)
    typer.echo(f"sandbox API on http://{host}:{port} (capacity {capacity})")
    uvicorn.run(api, host=host, port=port, log_level="warning")


@app.command("load")
def load_command(
    base_url: str = typer.Option("http://127.0.0.1:8765", "--base-url"),
    requests: int = typer.Option(500, "--requests", min=1),
    concurrency: int = typer.Option(16, "--concurrency", min=1),
    seed: int = typer.Option(1, "--seed"),
    weddings: int = typer.Option(
        10, "--weddings", min=1, help="drive the N non-cancelled weddings nearest to now"
    ),
) -> None:
    """Drive wedding-day load against a running sandbox API and print latency percentiles."""
    import psycopg

    from wedperf.sandbox.load import drive_load

    _settings, services = _services()
    with psycopg.connect(services.app_database_url) as conn:
        rows = conn.execute(
            "SELECT id FROM app.weddings WHERE status <> 'cancelled' "
            "ORDER BY abs(extract(epoch FROM ceremony_at - now())), id LIMIT %s",
            (weddings,),
        ).fetchall()
    if not rows:
        raise typer.BadParameter("no weddings in the app database; run `wedperf sandbox seed`")
    summary = drive_load(
        base_url, [r[0] for r in rows], requests=requests, concurrency=concurrency, seed=seed
    )
    for line in summary.lines():
        typer.echo(line)
