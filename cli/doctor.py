"""`wedperf doctor`."""

from __future__ import annotations

import typer

from cli._common import quiet_prefect
from wedperf.config import get_settings
from wedperf.doctor import run_checks


def doctor_command() -> None:
    """Report what wedperf is connected to and name each broken part."""
    quiet_prefect()
    try:
        settings = get_settings()
    except Exception as exc:
        typer.secho(f"✗ settings: {exc}", fg=typer.colors.RED)
        raise typer.Exit(1) from None
    checks = run_checks(settings)
    for check in checks:
        mark, colour = ("✓", typer.colors.GREEN) if check.ok else ("✗", typer.colors.RED)
        typer.secho(f"{mark} {check.part}: {check.detail}", fg=colour)
    if not all(c.ok for c in checks):
        raise typer.Exit(1)
