"""`wedperf demo`: the main job end to end on embedded defaults."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import typer

from cli._common import fail, quiet_prefect, step


def demo_command(
    out: Path = typer.Option(Path("wedperf-demo"), help="where the report and summary go"),
    weddings: int = typer.Option(600, help="weddings in the sandbox calendar"),
    days: int = typer.Option(180, help="days the calendar spans (half past, half ahead)"),
    seed: int = typer.Option(7, help="sandbox seed"),
    requests: int = typer.Option(400, help="requests of wedding-day load per round"),
    stop_prefect: bool = typer.Option(
        True,
        "--stop-prefect/--keep-prefect",
        help="stop the Prefect server and worker the demo started at the end (default), or "
        "keep them running so the UI keeps showing the runs",
    ),
) -> None:
    """Embedded services and a local Prefect server -> sandbox -> deployments -> calendar
    sync -> load -> collect -> forecast -> plan -> pre-warm and capacity floor -> watch ->
    alert webhook -> remediation -> evidence report under --out."""
    quiet_prefect()
    began = time.monotonic()
    from cli.demo.errors import DemoError
    from cli.demo.prefect_server import PrefectServerError
    from cli.demo.run import run_demo
    from wedperf.config import get_settings

    out = out.resolve()
    configured = get_settings()
    embedded = configured.database_url is None or configured.redis_url is None
    try:
        summary = run_demo(
            out=out,
            weddings=weddings,
            days=days,
            seed=seed,
            requests=requests,
            progress=step,
            keep_prefect=not stop_prefect,
        )
    except (DemoError, PrefectServerError) as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        # Every write is a transaction and every file is renamed into place when complete.
        fail("interrupted; nothing half-written (transactions, atomic renames)", code=130)
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
    typer.echo(f"  summary: {target}")
    prefect = summary["prefect"]
    if not prefect["running"]:
        typer.echo(
            f"  the local Prefect server{_pid(summary['stopped']['prefect_server'])} was "
            f"stopped; its runs, logs and artifacts stay in {prefect['home']}. To look at "
            f"them: `{prefect['reopen']}`, then {prefect['ui']} (Ctrl-C stops it); or run "
            "the demo with --keep-prefect"
        )
    else:
        typer.echo(
            f"  the Prefect server{_pid(prefect['pid'])} keeps running for its UI at "
            f"{prefect['ui']}; the next `wedperf demo` reuses it (and stops it at its end)"
            + (f"; to stop it now: `{prefect['stop']}`" if prefect["stop"] else "")
        )
    if embedded:
        typer.echo(
            "  the embedded PostgreSQL/Redis keep running for the next wedperf commands; "
            "stop them with `uv run wedperf services stop`"
        )
    typer.echo(f"  took {summary['elapsed_seconds']} s")


def _pid(pid: int | None) -> str:
    return f" (pid {pid})" if pid else ""
