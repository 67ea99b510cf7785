"""One advisor run: rank wedding-day statements, compare with baselines, read the worst plans,
suggest indexes, and store the findings."""

from __future__ import annotations

import logging
from datetime import datetime

import psycopg

from wedperf.advisor.baseline import compare, load_baselines, save_baselines
from wedperf.advisor.plans import ExplainFailed, explain_generic, plan_summary, read_plan
from wedperf.advisor.report import AdvisorReport, QueryFinding, store_report
from wedperf.advisor.settings import AdvisorSettings
from wedperf.advisor.stats import (
    StatementsUnavailable,
    read_statements,
    redact_literals,
    wedding_statements,
)
from wedperf.advisor.suggest import IndexSuggestion, suggest_index
from wedperf.advisor.tables import table_rows, wedding_tables

log = logging.getLogger(__name__)


def run_advisor(
    app_conn: psycopg.Connection,
    perf_conn: psycopg.Connection | None,
    settings: AdvisorSettings,
    *,
    now: datetime,
    save_baseline: bool = False,
    store: bool = True,
) -> AdvisorReport:
    """Advise on the app database's wedding-day statements.

    Reads (app database): the catalog, pg_stat_statements, and EXPLAIN of the worst statements
    (read-only transactions; no ANALYZE unless `settings.explain_analyze`). Writes (wedperf's
    database, when `perf_conn` is given): first-seen baselines (with `save_baseline`, the
    baselines of every statement seen now; the others are kept) and, with `store`, the run in
    perf.advisor_runs. `app_conn` should be in autocommit mode. pg_stat_statements missing
    gives a report with `available=False` and the reason, not an exception.
    """
    previous_autocommit = app_conn.autocommit
    app_conn.autocommit = True  # each read and EXPLAIN in its own (read-only) transaction
    try:
        return _run(
            app_conn, perf_conn, settings, now=now, save_baseline=save_baseline, store=store
        )
    finally:
        if not app_conn.closed:  # a lost connection raises once, not again here
            app_conn.autocommit = previous_autocommit


def _run(
    app_conn: psycopg.Connection,
    perf_conn: psycopg.Connection | None,
    settings: AdvisorSettings,
    *,
    now: datetime,
    save_baseline: bool,
    store: bool,
) -> AdvisorReport:
    datname = app_conn.execute("SELECT current_database()").fetchone()[0]
    database = settings.database_label or datname
    tables = wedding_tables(app_conn, settings)
    report = AdvisorReport(
        database=database,
        generated_at=now,
        available=True,
        wedding_tables=[f"{s}.{t}" for s, t in tables],
    )
    try:
        snapshot = read_statements(app_conn)
    except StatementsUnavailable as exc:
        report.available, report.reason, report.message = False, exc.reason, str(exc)
        log.warning("database advisor: %s", exc)
        if perf_conn is not None and store:
            store_report(perf_conn, report)
        return report
    report.warnings = list(snapshot.warnings)
    statements = wedding_statements(snapshot.statements, tables)
    by_total = sorted(statements, key=lambda s: (-s.total_exec_ms, s.queryid))
    by_mean = sorted(statements, key=lambda s: (-s.mean_exec_ms, s.queryid))
    mean_rank = {s.queryid: i for i, s in enumerate(by_mean, start=1)}
    grand_total = sum(s.total_exec_ms for s in statements) or 1.0
    baselines = load_baselines(perf_conn, database) if perf_conn is not None else {}

    findings: dict[int, QueryFinding] = {}
    for rank, s in enumerate(by_total, start=1):
        finding = QueryFinding(
            queryid=s.queryid,
            query=redact_literals(s.query),
            calls=s.calls,
            total_exec_ms=s.total_exec_ms,
            mean_exec_ms=s.mean_exec_ms,
            rows=s.rows,
            rank_by_total=rank,
            rank_by_mean=mean_rank[s.queryid],
            share_of_total=s.total_exec_ms / grand_total,
        )
        if s.queryid in baselines:
            regression = compare(
                s, baselines[s.queryid], settings, stats_reset=snapshot.stats_reset
            )
            finding.baseline_mean_ms = regression.baseline_mean_ms
            finding.recent_mean_ms = regression.recent_mean_ms
            finding.regression_ratio = regression.ratio
            finding.regressed = regression.regressed
        findings[s.queryid] = finding

    worst = _worst(by_total, by_mean, findings, settings.explain_top)
    rows = table_rows(app_conn, tables)
    wedding_relations = set(report.wedding_tables)
    suggestions: dict[str, IndexSuggestion] = {}
    named: list[str] = []
    not_wedding: set[int] = set()
    for queryid in worst:
        finding = findings[queryid]
        statement = next(s for s in statements if s.queryid == queryid)
        try:
            plan = explain_generic(
                app_conn,
                statement.query,
                timeout=settings.explain_timeout,
                analyze=settings.explain_analyze,
            )
        except ExplainFailed as exc:
            # Server messages can quote the statement's text: mask literals like the query's.
            finding.explain_error = redact_literals(f"EXPLAIN failed: {exc}")
            continue
        reading = read_plan(plan)
        finding.relations = reading.relations
        touched = [r for r in reading.relations if r in wedding_relations]
        if not touched:
            not_wedding.add(queryid)  # the text matched a table name the plan does not read
            continue
        finding.plan = plan_summary(reading)
        named += [r for r in touched if r not in named]
        for scan in reading.seq_scans:
            size = rows.get(scan.relation, 0)
            if scan.relation not in wedding_relations or size < settings.large_table_rows:
                continue
            suggestion = suggest_index(
                app_conn,
                queryid,
                scan,
                table_rows=size,
                wedding_columns=settings.wedding_columns,
            )
            if suggestion is not None:
                key = suggestion.ddl or f"{suggestion.relation}:{suggestion.columns}"
                suggestions.setdefault(key, suggestion)

    listed = [findings[s.queryid] for s in by_total if s.queryid not in not_wedding]
    # Ranks and shares among the statements that really read wedding tables.
    grand_total = sum(f.total_exec_ms for f in listed) or 1.0
    for rank, f in enumerate(listed, start=1):
        f.rank_by_total, f.share_of_total = rank, f.total_exec_ms / grand_total
    for rank, f in enumerate(sorted(listed, key=lambda f: (-f.mean_exec_ms, f.queryid)), 1):
        f.rank_by_mean = rank
    keep = {f.queryid for f in listed[: settings.top]}
    keep |= {f.queryid for f in listed if f.regressed}
    keep |= {s.queryid for s in suggestions.values()}
    report.queries = [f for f in listed if f.queryid in keep]
    report.suggestions = list(suggestions.values())
    report.named_tables = named
    if perf_conn is not None:
        report.baselines_saved = save_baselines(
            perf_conn,
            database,
            [s for s in statements if s.queryid not in not_wedding],
            captured_at=now,
            overwrite=save_baseline,
        )
        if store:
            store_report(perf_conn, report)
    return report


def _worst(by_total, by_mean, findings: dict[int, QueryFinding], n: int) -> list[int]:
    """The statements to EXPLAIN: the top n by total and by mean time, and every regression."""
    chosen: list[int] = []
    candidates = [s.queryid for s in by_total[:n]] + [s.queryid for s in by_mean[:n]]
    candidates += [q for q, f in findings.items() if f.regressed]
    for queryid in candidates:
        if queryid not in chosen:
            chosen.append(queryid)
    return chosen
