"""Helpers shared by CLI commands: consistent output and error exits."""

from __future__ import annotations

import logging
import os
import sys
from typing import NoReturn

import typer


def quiet_prefect() -> None:
    """Keep Prefect's telemetry off and its console logging short for CLI use."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_SERVER_LOGGING_LEVEL", "WARNING")
    # A first ephemeral server creates and migrates its SQLite database: ~40 s on 2 cores,
    # twice Prefect's default start-up timeout.
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")


def setup_logging(verbose: bool = False) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def fail(message: str, code: int = 1) -> NoReturn:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def step(message: str) -> None:
    """A progress line on stderr, so stdout stays parseable."""
    typer.secho(f"» {message}", fg=typer.colors.CYAN, err=True)
