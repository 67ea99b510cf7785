"""The advisor's findings for the evidence package (wedperf.evidence.advisor's contract)."""

from __future__ import annotations

import json
from datetime import datetime

import psycopg

from wedperf.advisor.report import AdvisorReport
from wedperf.config import Settings
from wedperf.db.queries import queries

Q = queries("advisor")


def evidence_findings(
    conn: psycopg.Connection, *, start: datetime, end: datetime, settings: Settings
) -> list[dict[str, str | int | float | None]]:
    """One row per finding of the newest advisor run in [start, end): each index suggestion,
    each regression, or why pg_stat_statements could not be read. Reads perf.advisor_runs in
    wedperf's database only; ids, tables and timings, never statement text or parameters."""
    row = conn.execute(
        Q["latest_run_between"],
        {"start": start, "end": end, "database": settings.advisor.database_label},
    ).fetchone()
    if row is None:
        return []
    report = AdvisorReport.from_dict(row[0] if isinstance(row[0], dict) else json.loads(row[0]))
    return findings_rows(report)


def findings_rows(report: AdvisorReport) -> list[dict[str, str | int | float | None]]:
    """The report's findings as rows with the same keys."""

    def finding(queryid, table, text, mean_ms, calls, suggestion):
        return {
            "database": report.database,
            "advised_at": report.generated_at.isoformat(timespec="minutes"),
            "queryid": None if queryid is None else str(queryid),
            "table": table,
            "finding": text,
            "mean_ms": None if mean_ms is None else round(mean_ms, 3),
            "calls": calls,
            "suggestion": suggestion,
        }

    if not report.available:
        return [
            finding(
                None,
                None,
                f"pg_stat_statements unavailable ({report.reason})",
                None,
                None,
                report.message,
            )
        ]
    by_id = {q.queryid: q for q in report.queries}
    rows = []
    for s in report.suggestions:
        q = by_id.get(s.queryid)
        rows.append(
            finding(
                s.queryid,
                s.relation,
                f"sequential scan of ~{s.table_rows} rows filtered by {', '.join(s.columns)}",
                q.mean_exec_ms if q else None,
                q.calls if q else None,
                s.ddl or s.note,
            )
        )
    for q in report.regressions:
        ratio = "" if q.regression_ratio is None else f" ×{q.regression_ratio:.1f}"
        rows.append(
            finding(
                q.queryid,
                ", ".join(q.relations) or None,
                f"regressed{ratio} against its baseline ({q.baseline_mean_ms:.3f} ms per call)",
                q.recent_mean_ms,
                q.calls,
                None,
            )
        )
    return rows
