"""Reading pg_stat_statements on the app database, and which statements are wedding-day ones.

The extension must be preloaded (`shared_preload_libraries`), created in the app database, and
the reading role needs `pg_read_all_stats` to see other roles' statement text. Each missing
piece becomes a `StatementsUnavailable` with a message that says what to do, never a crash.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

import psycopg
from psycopg.rows import dict_row

from wedperf.db.queries import queries

Q = queries("advisor")

# Statements EXPLAIN can plan; utility statements (COPY, ANALYZE, DDL) are never index findings.
_EXPLAINABLE = re.compile(r"^(select|with|insert|update|delete|values|table|merge)\b", re.I)
_LEADING_COMMENTS = re.compile(r"^\s*(?:(?:--[^\n]*(?:\n|$))|(?:/\*.*?\*/)|\s+)*", re.S)
_LITERAL = re.compile(r"(?:[eE])?'(?:[^']|'')*'")


class StatementsUnavailable(RuntimeError):
    """pg_stat_statements cannot be read here; `reason` is a stable code, the message advice."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason  # not_installed | not_available | not_preloaded | no_privilege


@dataclass(frozen=True)
class StatementStats:
    """One normalised statement's cumulative statistics (summed over roles)."""

    queryid: int
    query: str
    calls: int
    total_exec_ms: float
    rows: int
    shared_blks_hit: int = 0
    shared_blks_read: int = 0
    # Since when the figures accumulate (pg_stat_statements 1.11, PostgreSQL 17+; the latest
    # over the roles summed): later than a baseline means they restarted since. None: unknown.
    stats_since: datetime | None = None

    @property
    def mean_exec_ms(self) -> float:
        return self.total_exec_ms / self.calls if self.calls else 0.0


@dataclass(frozen=True)
class StatementsSnapshot:
    database: str
    statements: list[StatementStats]
    hidden: int  # statements of other roles whose text this role may not read
    stats_reset: datetime | None
    warnings: list[str]


def read_statements(conn: psycopg.Connection) -> StatementsSnapshot:
    """Every statement pg_stat_statements has for the current database.

    Raises StatementsUnavailable when the extension is not created, not preloaded, or not
    readable. Reads only (statistics views); runs in its own transaction, rolled back.
    """
    with conn.transaction(force_rollback=True):
        ext = conn.cursor(row_factory=dict_row).execute(Q["app_extension"]).fetchone()
    database = ext["datname"]
    if ext["installed"] is None:
        if not ext["available"]:
            raise StatementsUnavailable(
                "not_available",
                f"pg_stat_statements is not available on the server of database {database!r}: "
                "install the PostgreSQL contrib package, add pg_stat_statements to "
                "shared_preload_libraries, restart, then CREATE EXTENSION pg_stat_statements",
            )
        raise StatementsUnavailable(
            "not_installed",
            f"pg_stat_statements is not installed in database {database!r}: run "
            "CREATE EXTENSION pg_stat_statements there (it also needs "
            "shared_preload_libraries = 'pg_stat_statements' and a server restart)",
        )
    try:
        with conn.transaction(force_rollback=True):
            cursor = conn.cursor(row_factory=dict_row)
            rows = cursor.execute(Q["app_statements"]).fetchall()
            hidden = cursor.execute(Q["app_hidden_statements"]).fetchone()
    except psycopg.errors.ObjectNotInPrerequisiteState as exc:
        raise StatementsUnavailable(
            "not_preloaded",
            f"pg_stat_statements is installed in {database!r} but not loaded: add it to "
            "shared_preload_libraries in postgresql.conf and restart PostgreSQL "
            f"({exc.diag.message_primary})",
        ) from exc
    except psycopg.errors.InsufficientPrivilege as exc:
        raise StatementsUnavailable(
            "no_privilege",
            f"role {ext['role']!r} may not read pg_stat_statements in {database!r}: "
            f"GRANT pg_read_all_stats TO {ext['role']} ({exc.diag.message_primary})",
        ) from exc
    except psycopg.errors.UndefinedColumn as exc:
        raise StatementsUnavailable(
            "not_available",
            "pg_stat_statements is too old (total_exec_time needs PostgreSQL 13+): "
            f"{exc.diag.message_primary}",
        ) from exc
    since = _stats_since(conn, ext["installed"])
    warnings: list[str] = []
    if hidden["hidden"]:
        warnings.append(
            f"{hidden['hidden']} statements of other roles "
            f"({hidden['hidden_exec_ms']:.0f} ms in total) are hidden from role "
            f"{ext['role']!r}: GRANT pg_read_all_stats TO {ext['role']} to rank them"
        )
    return StatementsSnapshot(
        database=database,
        statements=[
            StatementStats(
                queryid=r["queryid"],
                query=r["query"],
                calls=r["calls"],
                total_exec_ms=float(r["total_exec_ms"]),
                rows=r["rows"],
                shared_blks_hit=r["shared_blks_hit"],
                shared_blks_read=r["shared_blks_read"],
                stats_since=since.get(r["queryid"]),
            )
            for r in rows
        ],
        hidden=int(hidden["hidden"]),
        stats_reset=_stats_reset(conn),
        warnings=warnings,
    )


def _stats_since(conn: psycopg.Connection, extversion: str) -> dict[int, datetime]:
    """Per queryid, when its entries' figures started accumulating (the latest over roles);
    empty before pg_stat_statements 1.11, which has no stats_since."""
    try:
        if tuple(int(p) for p in extversion.split(".")) < (1, 11):
            return {}
    except ValueError:
        pass  # an unexpected version string: try the column
    try:
        with conn.transaction(force_rollback=True):
            rows = conn.execute(Q["app_stats_since"]).fetchall()
    except (psycopg.errors.UndefinedColumn, psycopg.errors.InsufficientPrivilege):
        return {}
    return {queryid: since for queryid, since in rows if since is not None}


def _stats_reset(conn: psycopg.Connection) -> datetime | None:
    try:
        with conn.transaction(force_rollback=True):
            row = conn.execute(Q["app_stats_reset"]).fetchone()
    except psycopg.errors.UndefinedTable:  # pg_stat_statements < 1.9
        return None
    return row[0] if row else None


def explainable(query: str) -> bool:
    """A single plannable statement (not COPY, DDL, or several statements)."""
    body = strip_leading_comments(query).rstrip().rstrip(";")
    return bool(_EXPLAINABLE.match(body)) and ";" not in body


def strip_leading_comments(query: str) -> str:
    return _LEADING_COMMENTS.sub("", query, count=1)


def redact_literals(query: str) -> str:
    """Normalised statements carry no literals; anything left is masked before it is stored
    or published, so no app data (guest names) can leak through a report."""
    return _LITERAL.sub("'?'", query)


def table_pattern(tables: Iterable[tuple[str, str]]) -> re.Pattern[str]:
    """Matches a reference to any of the tables, bare or schema-qualified, quoted or not."""
    names = sorted({name for _, name in tables}, key=len, reverse=True)
    if not names:
        return re.compile(r"(?!)")
    alternatives = "|".join(re.escape(n) for n in names)
    return re.compile(rf'(?<![\w$])"?(?:{alternatives})"?(?![\w$])', re.I)


def wedding_statements(
    statements: Sequence[StatementStats], tables: Sequence[tuple[str, str]]
) -> list[StatementStats]:
    """Plannable statements whose text references a wedding table (the plan confirms it)."""
    pattern = table_pattern(tables)
    return [s for s in statements if explainable(s.query) and pattern.search(s.query)]
