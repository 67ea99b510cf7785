"""Reading the app-DB contract views for a set of weddings.

The views' `wedding_id` has the app's own type (bigint in the sandbox, uuid or text
elsewhere). Lookups bind the ids as an array of that type, so the app's index on
`wedding_id` is used rather than defeated by a cast of the column.
"""

from __future__ import annotations

from collections.abc import Sequence

import psycopg
from psycopg import sql

from wedperf.db.queries import queries

Q = queries("contract")
# Types a contract view's wedding_id may have, and the array cast that matches each.
_ID_ARRAYS = {
    "bigint": "bigint[]",
    "integer": "integer[]",
    "smallint": "smallint[]",
    "text": "text[]",
    "uuid": "uuid[]",
    "character varying": "text[]",
    "numeric": "numeric[]",
}


class ContractError(RuntimeError):
    """A contract view is missing or has an unexpected shape."""


def wedding_id_array_type(conn: psycopg.Connection, schema: str, view: str) -> str:
    row = conn.execute(Q["wedding_id_type"], {"view": f"{schema}.{view}"}).fetchone()
    if row is None or row[0] is None:
        raise ContractError(f"view {schema}.{view} (with a wedding_id column) does not exist")
    if row[0] not in _ID_ARRAYS:
        raise ContractError(f"{schema}.{view}.wedding_id has unsupported type {row[0]}")
    return _ID_ARRAYS[row[0]]


def rows_for_weddings(
    conn: psycopg.Connection,
    schema: str,
    view: str,
    columns: Sequence[str],
    wedding_ids: Sequence[str],
    *,
    where: sql.Composable | None = None,
    params: dict | None = None,
) -> list[tuple]:
    """`columns` of `schema.view` for the given weddings, optionally further filtered."""
    if not wedding_ids:
        return []
    query = sql.SQL("SELECT {columns} FROM {view} WHERE wedding_id = ANY(%(ids)s::{array})").format(
        columns=sql.SQL(", ").join(sql.Identifier(c) for c in columns),
        view=sql.Identifier(schema, view),
        array=sql.SQL(wedding_id_array_type(conn, schema, view)),
    )
    if where is not None:
        query += sql.SQL(" AND ") + where
    return conn.execute(query, {"ids": list(wedding_ids), **(params or {})}).fetchall()
