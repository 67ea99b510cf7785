"""`wedperf watch`: one wedding's critical path and error budgets, evaluated once, by hand."""

from __future__ import annotations

from contextlib import nullcontext
from datetime import UTC, datetime

import typer

from cli._common import fail
from wedperf.calendar.sync import weddings_by_id
from wedperf.critical_path.report import client_text_table, text_table
from wedperf.critical_path.round import grid_instant, run_round
from wedperf.db.connection import get_pool
from wedperf.runtime import get_runtime
from wedperf.slo.report import budget_text_table
from wedperf.slo.round import evaluate_budgets


def watch_command(
    wedding: str = typer.Option(..., "--wedding", help="wedding id (as in perf.weddings)"),
    at: datetime = typer.Option(
        None, "--at", help="evaluate as of this instant (ISO, default now; naive = UTC)"
    ),
    record: bool = typer.Option(
        False,
        help="store the evaluation and fire/resolve alerts, as a watch round would (at the "
        "round of the watch grid the instant falls in)",
    ),
) -> None:
    """Evaluate one wedding's critical path and error budgets once and print them (exit 2 if
    a check breaches or a budget pages)."""
    runtime = get_runtime()
    instant = (at or datetime.now(UTC)).replace(tzinfo=(at.tzinfo if at and at.tzinfo else UTC))
    if record:
        # A recorded round is a watch round: on the grid the scheduled rounds use, so it
        # shares their natural keys (a by-hand round and the scheduled one at the same slot
        # are one round, and repeating it rewrites the same rows).
        snapped = grid_instant(instant, runtime.settings.critical_path.interval)
        if snapped != instant:
            typer.echo(f"recording the round at {snapped:%Y-%m-%d %H:%M:%S} UTC (watch grid)")
        instant = snapped
    with runtime.pool.connection() as perf_conn:
        found = weddings_by_id(perf_conn, [wedding])
        if not found:
            fail(f"no wedding {wedding!r} in perf.weddings (run `wedperf calendar sync`)")
        target = found[0]
        if target.status == "cancelled":
            typer.secho(f"wedding {wedding} is cancelled; evaluating anyway", fg="yellow")
        with get_pool(runtime.services.app_database_url).connection() as app_conn:
            result = run_round(
                app_conn, perf_conn, [target], instant, runtime.settings, record=record
            )
            budgets = evaluate_budgets(
                lambda: nullcontext(app_conn),
                perf_conn,
                [target],
                instant,
                runtime.settings,
                record=record,
            )
    local = instant.astimezone(target.zone)
    typer.echo(
        f"wedding {wedding}: ceremony {target.local_start:%Y-%m-%d %H:%M} {target.timezone}, "
        f"{target.guest_count} guests; evaluated at {local:%Y-%m-%d %H:%M} local"
    )
    typer.echo(text_table(result.results))
    lookback = runtime.settings.critical_path.latency_lookback
    typer.echo(f"\np95 by client, last {lookback.total_seconds() / 60:g} min:")
    typer.echo(client_text_table(result.by_client, target.wedding_id))
    opens, closes = target.day_window(
        runtime.settings.day_window_before, runtime.settings.day_window_after
    )
    typer.echo(
        f"\nerror budgets over the day window {opens.astimezone(target.zone):%H:%M}-"
        f"{closes.astimezone(target.zone):%H:%M} local "
        f"({(closes - opens).total_seconds() / 60:.0f} min; burn: the first alert window's, "
        "as it alerts):"
    )
    typer.echo(budget_text_table(budgets.budgets))
    if result.alerts:
        typer.echo(
            f"alerts: {len(result.alerts.fired)} fired, {len(result.alerts.resolved)} resolved"
        )
    if budgets.alerts:
        typer.echo(
            f"budget alerts: {len(budgets.alerts.fired)} fired, "
            f"{len(budgets.alerts.resolved)} resolved"
        )
    paging = any(b.budget.page for b in budgets.budgets)
    if (result.results["status"] == "breach").any() or paging:
        raise typer.Exit(2)
