"""Index suggestions for sequential scans on large wedding tables filtered by a wedding column.

A suggestion is the `CREATE INDEX CONCURRENTLY` DDL, to be reviewed and run by a person: the
advisor never runs it. Identifiers are quoted by the server (`format('%I')`), so the DDL is
exactly what psql would accept.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import psycopg

from wedperf.advisor.plans import ScanFinding
from wedperf.db.queries import queries

Q = queries("advisor")
_MAX_IDENTIFIER = 63  # NAMEDATALEN - 1


@dataclass(frozen=True)
class IndexSuggestion:
    queryid: int
    relation: str
    columns: list[str]
    table_rows: int
    filter: str
    ddl: str | None  # None: an index exists already (the finding is the note)
    note: str

    def to_dict(self) -> dict:
        return asdict(self)


def suggest_index(
    conn: psycopg.Connection,
    queryid: int,
    scan: ScanFinding,
    *,
    table_rows: int,
    wedding_columns: Sequence[str],
) -> IndexSuggestion | None:
    """The index that turns this scan into an index scan, or None when the scan is not
    filtered by a wedding column. Key: the wedding column(s) first, then the filter's other
    equality columns (those the table has)."""
    wedding = [c for c in scan.equality_columns if c in wedding_columns]
    if not wedding:
        return None
    others = [c for c in scan.equality_columns if c not in wedding_columns]
    with conn.transaction(force_rollback=True):
        present = {
            row[0]
            for row in conn.execute(
                Q["app_columns_exist"],
                {"relation": _regclass_text(scan), "columns": wedding + others},
            )
        }
        columns = [c for c in wedding + others if c in present]
        if not columns or columns[0] not in wedding:
            return None
        existing = conn.execute(
            Q["app_leading_index"], {"relation": _regclass_text(scan), "column": columns[0]}
        ).fetchone()
        if existing:
            return IndexSuggestion(
                queryid=queryid,
                relation=scan.relation,
                columns=columns,
                table_rows=table_rows,
                filter=scan.filter,
                ddl=None,
                note=f"index {existing[0]} leads with {columns[0]} but the planner chose a "
                "sequential scan: statistics may be stale (ANALYZE) or the index unusable",
            )
        ddl = conn.execute(
            Q["app_index_ddl"],
            {
                "index": index_name(scan.table, columns),
                "schema": scan.schema,
                "table": scan.table,
                "columns": columns,
            },
        ).fetchone()[0]
    return IndexSuggestion(
        queryid=queryid,
        relation=scan.relation,
        columns=columns,
        table_rows=table_rows,
        filter=scan.filter,
        ddl=ddl,
        note=f"sequential scan of ~{table_rows} rows to find one wedding's rows "
        f"({scan.filter}); CONCURRENTLY builds without blocking writes (not in a transaction)",
    )


def index_name(table: str, columns: Sequence[str]) -> str:
    """`<table>_<col>_<col>_idx`, cut to PostgreSQL's 63-byte identifier limit."""
    name = "_".join([table, *columns, "idx"])
    encoded = name.encode()
    if len(encoded) <= _MAX_IDENTIFIER:
        return name
    return encoded[: _MAX_IDENTIFIER - 4].decode(errors="ignore").rstrip("_") + "_idx"


def _regclass_text(scan: ScanFinding) -> str:
    # to_regclass() parses its text as a possibly-quoted qualified name.
    def quote(part: str) -> str:
        return '"' + part.replace('"', '""') + '"'

    return f"{quote(scan.schema)}.{quote(scan.table)}" if scan.schema else quote(scan.table)
