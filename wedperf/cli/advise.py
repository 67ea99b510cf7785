"""`wedperf db advise`: the wedding-day database advisor."""

from __future__ import annotations

from wedperf.cli._common import fail


def advise_command() -> None:
    """Rank wedding-day queries from pg_stat_statements and suggest indexes."""
    fail("not built yet (issue 8)")
