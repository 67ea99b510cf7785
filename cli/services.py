"""`wedperf services ...`: the embedded PostgreSQL and Redis."""

from __future__ import annotations

import typer

from wedperf.config import get_settings
from wedperf.services import (
    ensure_embedded_postgres,
    ensure_embedded_redis,
    stop_embedded_postgres,
    stop_embedded_redis,
)

app = typer.Typer(no_args_is_help=True)


@app.command("start")
def start_command() -> None:
    """Start embedded PostgreSQL and Redis in the data directory and print their URLs."""
    settings = get_settings()
    typer.echo(f"postgres: {ensure_embedded_postgres(settings.data_dir)}")
    typer.echo(f"redis:    {ensure_embedded_redis(settings.data_dir)}")


@app.command("stop")
def stop_command() -> None:
    """Stop the embedded services started in the data directory."""
    settings = get_settings()
    pg = stop_embedded_postgres(settings.data_dir)
    rd = stop_embedded_redis(settings.data_dir)
    typer.echo(f"postgres: {'stopped' if pg else 'not running'}")
    typer.echo(f"redis:    {'stopped' if rd else 'not running'}")
