"""The "Database advisor findings" section: the newest advisor run's findings for the span
(wedperf.advisor.evidence.evidence_findings: one JSON-ready dict per finding, the same keys in
each, ids and timings only, never query parameters or guest data). The advisor must never
break the evidence package: if reading its findings fails, the section says so and the rest
of the report is built as usual.
"""

from __future__ import annotations

import logging

import psycopg

from wedperf.advisor.evidence import evidence_findings
from wedperf.config import Settings
from wedperf.evidence.data import Scope
from wedperf.evidence.sections import Section, Table

log = logging.getLogger(__name__)


def advisor_section(conn: psycopg.Connection, scope: Scope, settings: Settings) -> Section:
    """The advisor's findings for the scope as a section (saying so when there are none)."""
    section = Section(
        "advisor",
        "Database advisor findings",
        "What the database advisor found about the app database's wedding-day queries.",
    )
    try:
        with conn.transaction():
            findings = list(
                evidence_findings(conn, start=scope.start, end=scope.end, settings=settings)
            )
    except Exception as exc:  # the advisor must never break the evidence package
        log.warning("evidence: database advisor findings unavailable: %s", exc)
        section.empty = f"Database advisor findings unavailable ({type(exc).__name__})."
        section.counts = {"advisor_findings": 0}
        return section
    unavailable = [f for f in findings if is_unavailable(f)]
    findings = [f for f in findings if not is_unavailable(f)]
    # A source the advisor could not read is not a finding: a note, not counted.
    section.notes += [
        f"Not a finding: {f['finding']}" + (f" — {f['suggestion']}" if f.get("suggestion") else "")
        for f in unavailable
    ]
    section.counts = {"advisor_findings": len(findings)}
    if not findings:
        section.empty = "No database advisor findings for this span." + (
            " The advisor's source was unavailable (see the note)." if unavailable else ""
        )
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


def is_unavailable(finding: dict) -> bool:
    """The advisor's row saying a source could not be read (wedperf.advisor.evidence:
    "pg_stat_statements unavailable (<reason>)", no query, no table): not a finding."""
    text = str(finding.get("finding") or "")
    return (
        text.startswith("pg_stat_statements unavailable")
        and finding.get("queryid") is None
        and finding.get("table") is None
    )
