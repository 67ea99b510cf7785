"""Which app tables are wedding tables: configured, or discovered from the catalog."""

from __future__ import annotations

from collections.abc import Sequence

import psycopg

from wedperf.advisor.settings import AdvisorSettings
from wedperf.db.queries import queries

Q = queries("advisor")


def wedding_tables(conn: psycopg.Connection, settings: AdvisorSettings) -> list[tuple[str, str]]:
    """(schema, table) of every wedding table.

    The configured list wins; otherwise every table with a wedding column (`wedding_id` in the
    sandbox: guests, seating, timeline_items, ...) plus the tables those columns reference by
    foreign key (app.weddings), outside the excluded schemas.
    """
    if settings.tables:
        return [tuple(name.split(".", 1)) for name in settings.tables]  # type: ignore[misc]
    with conn.transaction(force_rollback=True):
        rows = conn.execute(
            Q["app_wedding_tables"],
            {
                "wedding_columns": list(settings.wedding_columns),
                "exclude_schemas": list(settings.exclude_schemas),
            },
        ).fetchall()
    return [(schema, name) for schema, name in rows]


def table_rows(conn: psycopg.Connection, tables: Sequence[tuple[str, str]]) -> dict[str, int]:
    """Estimated rows (pg_class.reltuples) per 'schema.table'."""
    if not tables:
        return {}
    with conn.transaction(force_rollback=True):
        rows = conn.execute(
            Q["app_table_rows"],
            {"schemas": [s for s, _ in tables], "names": [n for _, n in tables]},
        ).fetchall()
    return {f"{schema}.{name}": count for _, schema, name, count in rows}
