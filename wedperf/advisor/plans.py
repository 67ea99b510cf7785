"""EXPLAIN of normalised statements ($1 placeholders), and reading the JSON plan.

A statement from pg_stat_statements has `$n` placeholders and no values. PostgreSQL 16+ plans
it directly with `EXPLAIN (GENERIC_PLAN)`. On older servers the statement is PREPAREd with
untyped parameters (PostgreSQL infers each type from its context; one it cannot infer is
declared `text` and the PREPARE retried) and `EXPLAIN EXECUTE name(NULL, ...)` runs with
`plan_cache_mode = force_generic_plan`: without it a custom plan would fold `col = NULL` to
"One-Time Filter: false" and hide the scan.

Every EXPLAIN runs in a READ ONLY transaction with a statement_timeout, rolled back: nothing
the statement would write can be written, even with ANALYZE (which is off by default, and only
ever used for SELECTs).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta

import psycopg
from psycopg import sql

from wedperf.advisor.stats import explainable, redact_literals, strip_leading_comments

_PARAM = re.compile(r"\$(\d+)")
_UNTYPED = re.compile(r"could not determine data type of parameter \$(\d+)")
_STATEMENT_NAME = "wedperf_advisor_plan"
# `alias.column = $1`, `column = 'x'::text`, `alias.column = ANY ($2)`: an equality an index
# on the column can serve. A cast on the column side (`(col)::text = $1`) does not match.
_EQUALITY = re.compile(
    r'(?<![\w$."])(?:"?(?P<qualifier>[\w$]+)"?\.)?"?(?P<column>[\w$]+)"?\s*=\s*'
    r"(?:ANY\s*\(\s*)?(?:\$\d+|'(?:[^']|'')*'(?:::[\w .\[\]\"]+?)?|-?\d+(?:\.\d+)?)(?=[\s)]|$)"
)


class ExplainFailed(RuntimeError):
    """The statement could not be planned here (dropped table, missing search_path, ...)."""


def explain_generic(
    conn: psycopg.Connection,
    query: str,
    *,
    timeout: timedelta = timedelta(seconds=5),
    analyze: bool = False,
) -> dict:
    """The JSON plan (the top-level object of EXPLAIN (FORMAT JSON, VERBOSE)) of a normalised
    statement. `conn` must not be inside a transaction (autocommit mode is best)."""
    if not explainable(query):
        raise ExplainFailed("not a single plannable statement")
    body = strip_leading_comments(query).rstrip().rstrip(";")
    analyze = analyze and body[:6].lower() == "select"
    params = max((int(n) for n in _PARAM.findall(body)), default=0)
    try:
        if conn.info.server_version >= 160000 and not analyze:
            return _explain_generic_plan(conn, body, timeout)
        return _explain_prepared(conn, body, params, timeout, analyze)
    except psycopg.Error as exc:
        message = exc.diag.message_primary if exc.diag else None
        raise ExplainFailed(message or str(exc).strip().splitlines()[0]) from exc


def _begin_read_only(conn: psycopg.Connection, timeout: timedelta) -> None:
    conn.execute("SET TRANSACTION READ ONLY")
    conn.execute(
        "SELECT set_config('statement_timeout', %s, true)",
        (f"{int(timeout.total_seconds() * 1000)}ms",),
    )


def _explain_generic_plan(conn: psycopg.Connection, body: str, timeout: timedelta) -> dict:
    with conn.transaction(force_rollback=True):
        _begin_read_only(conn, timeout)
        # The statement text comes from the server's own statistics and is checked to be one
        # plannable statement; EXPLAIN without ANALYZE does not run it.
        row = conn.execute(
            sql.SQL("EXPLAIN (GENERIC_PLAN, VERBOSE, FORMAT JSON) {}").format(sql.SQL(body))
        ).fetchone()
    return _top(row[0])


def _explain_prepared(
    conn: psycopg.Connection, body: str, params: int, timeout: timedelta, analyze: bool
) -> dict:
    types = ["unknown"] * params
    for _ in range(params + 1):
        try:
            with conn.transaction(force_rollback=True):
                _begin_read_only(conn, timeout)
                conn.execute("SET LOCAL plan_cache_mode = force_generic_plan")
                _prepare(conn, body, types)
                options = "ANALYZE, BUFFERS, " if analyze else ""
                arguments = (
                    sql.SQL("({})").format(sql.SQL(", ").join([sql.NULL] * params))
                    if params
                    else sql.SQL("")
                )
                row = conn.execute(
                    sql.SQL("EXPLAIN ({}VERBOSE, FORMAT JSON) EXECUTE {}{}").format(
                        sql.SQL(options), sql.Identifier(_STATEMENT_NAME), arguments
                    )
                ).fetchone()
                return _top(row[0])
        except psycopg.errors.IndeterminateDatatype as exc:
            untyped = _UNTYPED.search(exc.diag.message_primary or "")
            if not untyped or types[int(untyped[1]) - 1] == "text":
                raise
            types[int(untyped[1]) - 1] = "text"
        finally:
            _deallocate(conn)
    raise ExplainFailed("could not infer the statement's parameter types")


def _prepare(conn: psycopg.Connection, body: str, types: list[str]) -> None:
    declared = (
        sql.SQL("({})").format(sql.SQL(", ").join(sql.SQL(t) for t in types))
        if types
        else sql.SQL("")
    )
    conn.execute(
        sql.SQL("PREPARE {}{} AS {}").format(
            sql.Identifier(_STATEMENT_NAME), declared, sql.SQL(body)
        )
    )


def _deallocate(conn: psycopg.Connection) -> None:
    # PREPARE is not undone by a rollback.
    if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
        return
    exists = conn.execute(
        "SELECT EXISTS (SELECT 1 FROM pg_prepared_statements WHERE name = %s)", (_STATEMENT_NAME,)
    ).fetchone()[0]
    if exists:
        conn.execute(sql.SQL("DEALLOCATE {}").format(sql.Identifier(_STATEMENT_NAME)))
    if not conn.autocommit:
        conn.commit()


def _top(document) -> dict:
    return document[0] if isinstance(document, list) else document


@dataclass(frozen=True)
class ScanFinding:
    """A sequential scan on a relation, with the equalities its filter applies."""

    schema: str
    table: str
    alias: str
    filter: str  # the plan's Filter with literals masked ('?'): it is stored and published
    equality_columns: list[str] = field(default_factory=list)
    plan_rows: float = 0.0

    @property
    def relation(self) -> str:
        return f"{self.schema}.{self.table}"


@dataclass(frozen=True)
class PlanReading:
    relations: list[str]  # every schema.table the plan reads
    seq_scans: list[ScanFinding]
    total_cost: float


def read_plan(plan: dict) -> PlanReading:
    """The relations a plan reads and its sequential scans with their filter equalities.

    A generic plan can still carry literals — from a view's or a policy's definition, or the
    statement itself when it was not normalised — so each filter's literals are masked here,
    once, before any summary, suggestion or report can store or publish them."""
    relations: list[str] = []
    scans: list[ScanFinding] = []
    root = plan.get("Plan", plan)
    for node in _nodes(root):
        name = node.get("Relation Name")
        if not name:
            continue
        schema = node.get("Schema", "")
        relation = f"{schema}.{name}" if schema else name
        if relation not in relations:
            relations.append(relation)
        if node.get("Node Type") != "Seq Scan":
            continue
        alias = node.get("Alias", name)
        text = node.get("Filter", "")
        columns: list[str] = []
        for match in _EQUALITY.finditer(text):
            qualifier, column = match["qualifier"], match["column"]
            if qualifier not in (None, alias, name):
                continue
            if column not in columns:
                columns.append(column)
        scans.append(
            ScanFinding(
                schema=schema,
                table=name,
                alias=alias,
                filter=redact_literals(text),
                equality_columns=columns,
                plan_rows=float(node.get("Plan Rows", 0.0)),
            )
        )
    return PlanReading(relations, scans, float(root.get("Total Cost", 0.0)))


def _nodes(node: dict) -> Iterator[dict]:
    yield node
    for child in node.get("Plans", []):
        yield from _nodes(child)


def plan_summary(reading: PlanReading) -> str:
    """One line: the sequential scans, or the relations read."""
    if reading.seq_scans:
        return "; ".join(
            f"Seq Scan on {s.relation}" + (f" (filter {s.filter})" if s.filter else "")
            for s in reading.seq_scans
        )
    return "no sequential scan (" + ", ".join(reading.relations) + ")"
