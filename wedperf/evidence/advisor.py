"""Hook for an optional "Database advisor findings" section.

The evidence package does not depend on the database advisor (wedperf/advisor/, built
separately). When that package offers the function below, the report grows a section with
its findings; until then, or if it fails, the report is built without it.

Contract for the advisor (module `wedperf.advisor.evidence`)::

    def evidence_findings(
        conn: psycopg.Connection, *, start: datetime, end: datetime, settings: Settings
    ) -> list[dict[str, str | int | float | None]]

one dict per finding, the same keys in each (e.g. query id, table, finding, mean ms,
calls, suggestion), JSON-ready, ids and timings only, never query parameters or guest data.
"""

from __future__ import annotations

import importlib
import logging

import psycopg

from wedperf.config import Settings
from wedperf.evidence.data import Scope
from wedperf.evidence.sections import Section, Table

log = logging.getLogger(__name__)
ADVISOR_MODULE = "wedperf.advisor.evidence"


def advisor_section(conn: psycopg.Connection, scope: Scope, settings: Settings) -> Section | None:
    """The advisor's findings for the scope as a section, or None when no advisor hook is
    installed (nothing is said about an advisor that does not exist)."""
    try:
        module = importlib.import_module(ADVISOR_MODULE)
    except ModuleNotFoundError:
        return None
    findings_of = getattr(module, "evidence_findings", None)
    if findings_of is None:
        return None
    section = Section(
        "advisor",
        "Database advisor findings",
        "What the database advisor found about the app database's wedding-day queries.",
    )
    try:
        with conn.transaction():
            findings = list(findings_of(conn, start=scope.start, end=scope.end, settings=settings))
    except Exception as exc:  # the advisor must never break the evidence package
        log.warning("evidence: database advisor findings unavailable: %s", exc)
        section.empty = f"Database advisor findings unavailable ({type(exc).__name__})."
        section.counts = {"advisor_findings": 0}
        return section
    section.counts = {"advisor_findings": len(findings)}
    if not findings:
        section.empty = "No database advisor findings for this span."
        return section
    columns = list(findings[0])
    section.tables.append(
        Table(
            "Findings",
            columns,
            [["—" if f.get(c) is None else str(f.get(c)) for c in columns] for f in findings],
        )
    )
    return section
