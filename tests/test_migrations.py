"""Migrations on real PostgreSQL: ordered, recorded, idempotent, guarded against edits."""

from __future__ import annotations

from datetime import date, timedelta

import psycopg
import pytest

from wedperf.db.migrate import MigrationError, load_migrations, migrate, pending_migrations


def schema_snapshot(conn: psycopg.Connection) -> dict[str, list[tuple]]:
    """Everything in schema perf that a migration could change."""
    return {
        "columns": conn.execute(
            "SELECT table_name, column_name, data_type, is_nullable, column_default "
            "FROM information_schema.columns WHERE table_schema = 'perf' ORDER BY 1, 2"
        ).fetchall(),
        "indexes": conn.execute(
            "SELECT tablename, indexname, indexdef FROM pg_indexes "
            "WHERE schemaname = 'perf' ORDER BY 1, 2"
        ).fetchall(),
        "constraints": conn.execute(
            "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) "
            "FROM pg_constraint WHERE connamespace = 'perf'::regnamespace ORDER BY 1, 2"
        ).fetchall(),
        "functions": conn.execute(
            "SELECT proname, md5(prosrc) FROM pg_proc "
            "WHERE pronamespace = 'perf'::regnamespace ORDER BY 1"
        ).fetchall(),
        "migrations": conn.execute(
            "SELECT version, name, checksum, applied_at FROM perf.schema_migrations ORDER BY 1"
        ).fetchall(),
    }


def test_second_migrate_changes_nothing(empty_database_url: str) -> None:
    with psycopg.connect(empty_database_url) as conn:
        assert pending_migrations(conn) == [f"{m.version:04d}_{m.name}" for m in load_migrations()]
        first = migrate(conn)
        after_first = schema_snapshot(conn)
        second = migrate(conn)
        after_second = schema_snapshot(conn)

    assert first.applied == [f"{m.version:04d}_{m.name}" for m in load_migrations()]
    assert first.partitions_created > 0
    assert second.applied == []
    assert second.already_applied == len(load_migrations())
    assert second.partitions_created == 0
    assert after_second == after_first
    assert {"weddings", "samples", "rollups_minute", "calendar_rejects"} <= {
        row[0] for row in after_first["columns"]
    }


def test_sample_partitions_exist_ahead(migrated_database_url: str) -> None:
    with psycopg.connect(migrated_database_url) as conn:
        partitions = {
            row[0]
            for row in conn.execute(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                "WHERE i.inhparent = 'perf.samples'::regclass"
            )
        }
    today = date.today()
    for offset in range(-1, 8):
        assert f"samples_{today + timedelta(days=offset):%Y%m%d}" in partitions


def test_edited_migration_is_refused(migrated_database_url: str) -> None:
    with psycopg.connect(migrated_database_url) as conn:
        conn.execute("UPDATE perf.schema_migrations SET checksum = 'edited' WHERE version = 1")
        conn.commit()
        with pytest.raises(MigrationError, match="edited after it was applied"):
            migrate(conn)


def test_a_comment_only_edit_keeps_databases_that_applied_the_old_text(
    migrated_database_url: str,
) -> None:
    """A database that recorded 0007 before its header comment was edited still migrates; the
    same old checksum on another migration is refused."""
    from wedperf.db.migrate import COMMENT_ONLY_EDITS

    (old,) = COMMENT_ONLY_EDITS[7]
    with psycopg.connect(migrated_database_url) as conn:
        conn.execute("UPDATE perf.schema_migrations SET checksum = %s WHERE version = 7", (old,))
        conn.commit()
        assert migrate(conn).applied == []
        conn.execute("UPDATE perf.schema_migrations SET checksum = %s WHERE version = 8", (old,))
        conn.commit()
        with pytest.raises(MigrationError, match="edited after it was applied"):
            migrate(conn)
