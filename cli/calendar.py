"""`wedperf calendar ...`."""

from __future__ import annotations

import typer

from cli._common import fail, quiet_prefect

app = typer.Typer(no_args_is_help=True)


@app.command("sync")
def sync_command(
    ical: str = typer.Option(
        None, help="iCalendar feed (file path or URL) instead of the app-DB views"
    ),
    plan: bool = typer.Option(
        True, help="also plan dense collection runs (needs registered deployments)"
    ),
) -> None:
    """Sync weddings into perf.weddings (runs the sync-calendar flow) and report rejects."""
    quiet_prefect()
    from flows.sync_calendar import sync_calendar

    state = sync_calendar(ical=ical, plan_collection=plan, return_state=True)
    if not state.is_completed():
        fail(f"calendar sync failed: {state.message}")
    result = state.result()
    typer.echo(
        f"{result['source']}: {result['seen']} rows, {result['inserted']} new, "
        f"{result['updated']} updated, {result['cancelled']} cancelled, "
        f"{result['rejected']} rejected, {result['planned_runs']} collection runs planned"
    )
