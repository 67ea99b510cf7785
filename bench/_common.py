"""Shared by benchmarks: the database to run against and a last-line JSON printer."""

from __future__ import annotations

import json
import os
import sys

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")


def database_url() -> str:
    """WEDPERF_DATABASE_URL, or the embedded PostgreSQL (started if needed)."""
    from wedperf.config import get_settings
    from wedperf.services import resolve_services

    return resolve_services(get_settings()).database_url


def report(figures: dict) -> None:
    """Figures as one JSON object on the last line of stdout."""
    sys.stdout.flush()
    print(json.dumps(figures))


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
