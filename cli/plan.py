"""`wedperf plan`."""

from __future__ import annotations

import json

import typer

from cli._common import fail, quiet_prefect


def plan_command(
    dry_run: bool = typer.Option(False, "--dry-run", help="show the runs, create nothing"),
    as_json: bool = typer.Option(False, "--json", help="print the plan as JSON"),
) -> None:
    """Plan pre-warm and capacity-floor runs for the next days' weddings (plan-wedding-ops)."""
    quiet_prefect()
    from flows.plan_wedding_ops import plan_wedding_ops

    state = plan_wedding_ops(dry_run=dry_run, return_state=True)
    if not state.is_completed():
        fail(f"planning failed: {state.message}")
    result = state.result()
    if as_json:
        typer.echo(json.dumps(result, indent=2, default=str))
        return
    verb = "would schedule" if dry_run else "scheduled"
    typer.echo(f"{result['weddings']} weddings in the horizon; {verb} {len(result['runs'])} runs")
    typer.echo(f"{'scheduled (UTC)':<18}{'operation':<21}{'target':<12}{'weddings':>9}  name")
    for run in result["runs"]:
        typer.echo(
            f"{run['scheduled (UTC)']:<18}{run['operation']:<21}{run['target']:<12}"
            f"{run['weddings']:>9}  {run['name']}"
        )
    for deployment, counts in result["reconciled"].items():
        typer.echo(f"{deployment}: {counts}")
