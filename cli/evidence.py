"""`wedperf evidence`: the evidence package for a day or a wedding."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path

import typer

from cli._common import fail, quiet_prefect


def evidence_command(
    day: datetime = typer.Option(
        None,
        "--date",
        formats=["%Y-%m-%d"],
        help="the day (midnight to midnight, evidence.timezone)",
    ),
    wedding: str = typer.Option(None, "--wedding", help="one wedding (its day window)"),
    out: Path = typer.Option(..., "--out", help="package directory (replaced atomically)"),
    as_json: bool = typer.Option(False, "--json", help="print paths and counts as JSON"),
    publish: bool = typer.Option(
        False, "--publish", help="run the build-evidence flow and publish its Prefect artifacts"
    ),
) -> None:
    """Build the evidence package (HTML + Markdown report, figures, JSON)."""
    if (day is None) == (wedding is None):
        fail("give exactly one of --date YYYY-MM-DD or --wedding ID", code=2)
    the_day: date | None = day.date() if day is not None else None
    if publish:
        quiet_prefect()
        from flows.build_evidence import build_evidence

        state = build_evidence(day=the_day, wedding_id=wedding, out=str(out), return_state=True)
        if not state.is_completed():
            fail(f"build-evidence failed: {state.message}")
        payload = state.result()
    else:
        from wedperf.db.connection import DatabaseUnavailable
        from wedperf.evidence.build import build_package
        from wedperf.evidence.data import EvidenceScopeError
        from wedperf.evidence.write import PackageDirError
        from wedperf.runtime import get_runtime

        runtime = get_runtime()
        try:
            result = build_package(
                runtime.settings, runtime.services, day=the_day, wedding_id=wedding, out=out
            )
        except (EvidenceScopeError, PackageDirError, DatabaseUnavailable) as exc:
            fail(str(exc))
        payload = result.as_dict()
    if as_json:
        typer.echo(json.dumps(payload, indent=2))
        return
    scope = payload["scope"]
    typer.echo(f"evidence for {scope['kind']} {scope['label']} ({scope['timezone']})")
    typer.echo(f"  report:   {payload['html']}")
    typer.echo(f"  markdown: {payload['markdown']}")
    typer.echo(f"  summary:  {payload['json']} ({len(payload['figures'])} figures)")
    for name, value in payload["counts"].items():
        typer.echo(f"  {name.replace('_', ' '):<24}{value:>8}")
