"""`wedperf evidence`: the evidence package for a day or a wedding."""

from __future__ import annotations

from wedperf.cli._common import fail


def evidence_command() -> None:
    """Build the evidence package (HTML + Markdown report, figures, JSON)."""
    fail("not built yet (issue 7)")
