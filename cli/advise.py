"""`wedperf db advise`: the wedding-day database advisor."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import typer

from cli._common import fail
from wedperf.db.connection import DatabaseUnavailable, close_pools, connect


def advise_command(
    as_json: bool = typer.Option(False, "--json", help="print the findings as JSON"),
    save_baseline: bool = typer.Option(
        False, "--save-baseline", help="take the current figures as the known-good baseline"
    ),
) -> None:
    """Rank wedding-day queries from pg_stat_statements and suggest indexes.

    Exit 1 when pg_stat_statements cannot be read (the message says why and what to do).
    """
    from wedperf.advisor.advise import run_advisor
    from wedperf.advisor.report import report_markdown
    from wedperf.runtime import SchemaNotReady, get_runtime

    try:
        runtime = get_runtime()
        with (
            connect(runtime.services.app_database_url, autocommit=True) as app_conn,
            connect(runtime.services.database_url) as perf_conn,
        ):
            report = run_advisor(
                app_conn,
                perf_conn,
                runtime.settings.advisor,
                now=datetime.now(UTC),
                save_baseline=save_baseline,
            )
    except (DatabaseUnavailable, SchemaNotReady) as exc:
        fail(str(exc))
    finally:
        close_pools()
    if as_json:
        typer.echo(json.dumps(report.to_dict(), indent=2, default=str))
    else:
        typer.echo(report_markdown(report))
        if report.baselines_saved:
            typer.echo(f"\n{report.baselines_saved} baseline(s) recorded")
    if not report.available:
        typer.secho(f"error: {report.message}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1)
