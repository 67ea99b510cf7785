"""`wedperf collect`."""

from __future__ import annotations

import json

import typer

from cli._common import quiet_prefect


def collect_command(
    lookback: int = typer.Option(None, help="minutes to (re)collect; default from settings"),
    as_json: bool = typer.Option(False, "--json", help="print the round's summary as JSON"),
) -> None:
    """Run one collection round (the collect-metrics flow) and print what it stored."""
    quiet_prefect()
    from flows.collect_metrics import collect_metrics

    state = collect_metrics(lookback_minutes=lookback, return_state=True)
    summary = state.result(raise_on_failure=False)
    if not isinstance(summary, dict):
        typer.secho(f"collection failed: {state.message}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1)
    if as_json:
        typer.echo(json.dumps(summary, indent=2, default=str))
    else:
        typer.echo(
            f"window {summary['window_start']} .. {summary['window_end']}: "
            f"{summary['live_weddings']} live weddings, {summary['samples']} samples "
            f"({summary['new_samples']} new), {summary['rollup_rows']} rollup rows"
        )
        typer.echo(f"{'operation':<16}{'weddings':>10}{'samples':>10}{'p95 ms':>10}")
        for row in summary["operations"]:
            p95 = "-" if row["p95_ms"] is None else f"{row['p95_ms']:.1f}"
            typer.echo(f"{row['operation']:<16}{row['weddings']:>10}{row['samples']:>10}{p95:>10}")
    for name, message in summary["failed_sources"].items():
        typer.secho(f"source {name} failed: {message}", fg=typer.colors.RED, err=True)
    if summary["failed_sources"]:
        raise typer.Exit(1)
