"""The advisor's findings: the report model, its Markdown and table forms, and its storage.

`advisor_findings_for_artifact(conn)` is the API for other jobs (pre-warm, evidence): it reads
the newest stored run from wedperf's own database and never touches the app database.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime

import psycopg
from psycopg.types.json import Jsonb

from wedperf.advisor.stats import strip_leading_comments
from wedperf.advisor.suggest import IndexSuggestion
from wedperf.db.queries import queries

Q = queries("advisor")
_QUERY_CHARS = 160


@dataclass
class QueryFinding:
    """One wedding-day statement: its cost, rank, regression and (for the worst) its plan."""

    queryid: int
    query: str  # normalised ($n placeholders), literals masked
    calls: int
    total_exec_ms: float
    mean_exec_ms: float
    rows: int
    rank_by_total: int
    rank_by_mean: int
    share_of_total: float  # of all wedding-day statements' time
    baseline_mean_ms: float | None = None
    recent_mean_ms: float | None = None
    regression_ratio: float | None = None
    regressed: bool = False
    plan: str | None = None  # one-line summary of the EXPLAIN, for the worst only
    explain_error: str | None = None
    relations: list[str] = field(default_factory=list)


@dataclass
class AdvisorReport:
    database: str
    generated_at: datetime
    available: bool
    message: str = ""
    reason: str | None = None  # why pg_stat_statements could not be read
    warnings: list[str] = field(default_factory=list)
    wedding_tables: list[str] = field(default_factory=list)
    queries: list[QueryFinding] = field(default_factory=list)
    suggestions: list[IndexSuggestion] = field(default_factory=list)
    named_tables: list[str] = field(default_factory=list)  # for the pre-wedding optimisation
    baselines_saved: int = 0

    def to_dict(self) -> dict:
        data = asdict(self)
        data["generated_at"] = self.generated_at.isoformat()
        return data

    @classmethod
    def from_dict(cls, data: dict) -> AdvisorReport:
        data = dict(data)
        data["generated_at"] = datetime.fromisoformat(data["generated_at"])
        data["queries"] = [QueryFinding(**q) for q in data.get("queries", [])]
        data["suggestions"] = [IndexSuggestion(**s) for s in data.get("suggestions", [])]
        return cls(**data)

    @property
    def regressions(self) -> list[QueryFinding]:
        return [q for q in self.queries if q.regressed]


def report_table(report: AdvisorReport) -> list[dict]:
    """Rows for a Prefect table artifact (one per wedding-day statement)."""
    return [
        {
            "rank": q.rank_by_total,
            "rank_by_mean": q.rank_by_mean,
            "queryid": str(q.queryid),
            "total_ms": round(q.total_exec_ms, 1),
            "mean_ms": round(q.mean_exec_ms, 3),
            "calls": q.calls,
            "share": f"{q.share_of_total:.0%}",
            "vs_baseline": _regression_text(q),
            "plan": q.plan or q.explain_error or "",
            "query": _short(q.query),
        }
        for q in report.queries
    ]


def report_markdown(report: AdvisorReport) -> str:
    """The report as Markdown (the advise-database artifact)."""
    lines = [
        f"# Wedding-day database advisor: {report.database}",
        "",
        f"Generated {report.generated_at:%Y-%m-%d %H:%M} UTC.",
        "",
    ]
    if not report.available:
        lines += [f"**pg_stat_statements unavailable** ({report.reason}): {report.message}", ""]
        return "\n".join(lines)
    lines += [f"> {w}" for w in report.warnings]
    if report.warnings:
        lines.append("")
    if not report.queries:
        lines.append("No wedding-day statements recorded yet.")
        return "\n".join(lines)
    lines += [
        "| # | by mean | total ms | mean ms | calls | vs baseline | plan | statement |",
        "|---:|---:|---:|---:|---:|---|---|---|",
    ]
    for q in report.queries:
        lines.append(
            f"| {q.rank_by_total} | {q.rank_by_mean} | {q.total_exec_ms:.1f} | "
            f"{q.mean_exec_ms:.3f} | {q.calls} | {_regression_text(q)} | "
            f"{_cell(q.plan or q.explain_error or '')} | `{_cell(_short(q.query))}` |"
        )
    lines.append("")
    if report.suggestions:
        lines += ["## Index suggestions (review, then run by hand)", ""]
        for s in report.suggestions:
            lines += [f"- **{s.relation}** ({s.table_rows} rows), query {s.queryid}: {s.note}"]
            if s.ddl:
                lines += ["", "  ```sql", f"  {s.ddl}", "  ```"]
        lines.append("")
    else:
        lines += ["No index suggestions: no sequential scan of a large wedding table.", ""]
    if report.named_tables:
        lines.append("Tables to ANALYZE and pre-warm: " + ", ".join(report.named_tables))
    return "\n".join(lines)


def store_report(conn: psycopg.Connection, report: AdvisorReport) -> int:
    """Keep a run's findings in perf.advisor_runs; returns its run_id."""
    with conn.transaction():
        return conn.execute(
            Q["store_run"],
            {
                "database": report.database,
                "ran_at": report.generated_at,
                "available": report.available,
                "message": report.message,
                "findings": Jsonb(report.to_dict()),
            },
        ).fetchone()[0]


def latest_report(conn: psycopg.Connection, database: str | None = None) -> AdvisorReport | None:
    """The newest stored run (of one app database, or of any)."""
    row = conn.execute(Q["latest_run"], {"database": database}).fetchone()
    if row is None:
        return None
    data = row[0] if isinstance(row[0], dict) else json.loads(row[0])
    return AdvisorReport.from_dict(data)


@dataclass(frozen=True)
class AdvisorFindings:
    """What another job needs to show the advisor's findings."""

    report: AdvisorReport | None
    markdown: str
    table: list[dict]

    @property
    def named_tables(self) -> list[str]:
        return self.report.named_tables if self.report else []


def advisor_findings_for_artifact(
    conn: psycopg.Connection, *, database: str | None = None
) -> AdvisorFindings:
    """The newest advisor findings as Markdown and table rows, read from wedperf's database
    (perf.advisor_runs); a short note when the advisor has not run yet."""
    report = latest_report(conn, database)
    if report is None:
        return AdvisorFindings(
            None, "No database advisor run yet (flow advise-database, `wedperf db advise`).", []
        )
    return AdvisorFindings(report, report_markdown(report), report_table(report))


def _regression_text(q: QueryFinding) -> str:
    if q.baseline_mean_ms is None:
        return "new"
    ratio = "—" if q.regression_ratio is None else f"×{q.regression_ratio:.1f}"
    flag = "REGRESSED " if q.regressed else ""
    return f"{flag}{ratio} ({q.baseline_mean_ms:.3f} → {q.recent_mean_ms:.3f} ms)"


def _short(query: str) -> str:
    text = " ".join(strip_leading_comments(query).split())
    return text if len(text) <= _QUERY_CHARS else text[: _QUERY_CHARS - 1] + "…"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("`", "'")
