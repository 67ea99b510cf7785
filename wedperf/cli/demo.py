"""`wedperf demo`: the main job end to end on embedded defaults."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import typer

from wedperf.cli._common import fail, quiet_prefect, step


def demo_command(
    out: Path = typer.Option(Path("wedperf-demo"), help="where the summary is written"),
    weddings: int = typer.Option(600, help="weddings in the sandbox calendar"),
    days: int = typer.Option(180, help="days the calendar spans (half past, half ahead)"),
    seed: int = typer.Option(7, help="sandbox seed"),
    requests: int = typer.Option(400, help="requests of wedding-day load driven at the app"),
) -> None:
    """Embedded services -> sandbox seed -> sandbox app + load -> calendar sync ->
    one collection round through Prefect -> a printed summary."""
    quiet_prefect()
    began = time.monotonic()
    from wedperf.demo import DemoError, run_demo

    try:
        summary = run_demo(
            out=out, weddings=weddings, days=days, seed=seed, requests=requests, progress=step
        )
    except DemoError as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        # Every write is transactional, so an interrupted demo leaves nothing half-written.
        fail("interrupted; nothing half-written (every write is a transaction)", code=130)
    summary["elapsed_seconds"] = round(time.monotonic() - began, 1)
    out.mkdir(parents=True, exist_ok=True)
    target = out / "summary.json"
    tmp = target.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(summary, indent=2, default=str))
    os.replace(tmp, target)  # atomic: a reader never sees a half-written summary

    typer.echo("")
    typer.secho("wedperf demo complete", bold=True)
    for line in summary["lines"]:
        typer.echo(f"  {line}")
    typer.echo(f"  summary: {target.resolve()}")
    typer.echo(f"  took {summary['elapsed_seconds']} s")
