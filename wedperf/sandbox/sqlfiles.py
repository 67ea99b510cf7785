"""The sandbox's SQL files: the app schema, the contract views and the app's named queries."""

from __future__ import annotations

from importlib import resources

import psycopg
from psycopg import sql

from wedperf.db.queries import named_sql

APP_SCHEMA = "app"
DEFAULT_VIEW_SCHEMA = "wedperf_src"


def read_sql(filename: str) -> str:
    """The text of a .sql file shipped in this package."""
    return resources.files(__package__).joinpath(filename).read_text(encoding="utf-8")


def create_app_tables(conn: psycopg.Connection) -> None:
    """Drop and recreate schema `app` with bare tables (writes: schema app).

    The drop cascades to views over app tables, so callers recreate the views afterwards.
    Load the rows, then call `add_app_keys`.
    """
    conn.execute(named_queries("schema.sql")["tables"])


def add_app_keys(conn: psycopg.Connection) -> None:
    """Add primary and foreign keys and indexes to the loaded `app` tables (writes: schema app)."""
    conn.execute(named_queries("schema.sql")["keys"])


def create_views(conn: psycopg.Connection, schema: str = DEFAULT_VIEW_SCHEMA) -> None:
    """Create (or replace) the contract and pre-warm views in `schema` over schema `app`.

    Writes: schema `schema` (created if missing) and its eight views; nothing else in it.
    """
    conn.execute(sql.SQL(read_sql("views.sql")).format(schema=sql.Identifier(schema)))


def named_queries(filename: str) -> dict[str, str]:
    """Queries of a .sql file of this package, keyed by their `-- name: x` header line."""
    return named_sql(__package__, filename)
