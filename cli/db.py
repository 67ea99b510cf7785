"""`wedperf db ...`: wedperf's own schema."""

from __future__ import annotations

import typer

from cli import advise
from cli._common import fail
from wedperf.config import get_settings
from wedperf.db.connection import DatabaseUnavailable, connect
from wedperf.db.migrate import MigrationError, migrate
from wedperf.services import resolve_services

app = typer.Typer(no_args_is_help=True)


@app.command("migrate")
def migrate_command() -> None:
    """Apply pending migrations of schema `perf` (safe to run repeatedly)."""
    settings = get_settings()
    try:
        with connect(resolve_services(settings).database_url) as conn:
            result = migrate(conn, partition_days_ahead=settings.sample_partition_days_ahead)
    except (DatabaseUnavailable, MigrationError) as exc:
        fail(str(exc))
    if result.applied:
        typer.echo(f"applied {len(result.applied)} migration(s): {', '.join(result.applied)}")
    else:
        typer.echo(f"schema up to date ({result.already_applied} migration(s) applied before)")
    if result.partitions_created:
        typer.echo(f"created {result.partitions_created} sample partition(s)")


app.command("advise")(advise.advise_command)
