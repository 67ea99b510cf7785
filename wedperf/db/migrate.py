"""Plain-SQL migrations for schema `perf`, applied in order, each in its own transaction.

Applied versions are recorded in `perf.schema_migrations` with a checksum; an edited migration
that was already applied is an error, not a silent divergence. An advisory lock keeps two
`wedperf db migrate` runs from interleaving.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import date, timedelta
from importlib import resources

import psycopg
from psycopg import pq

from wedperf.db.queries import queries

MIGRATIONS_PACKAGE = "wedperf.db.migrations"
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_LOCK_KEY = 0x77656470  # "wedp"
Q = queries("migrate")


# Checksums a migration applied before a comment-only edit may still carry. The edit changes
# no statement, so a database that recorded the old text is as migrated as one with the new.
COMMENT_ONLY_EDITS: dict[int, frozenset[str]] = {
    # 0007: an issue-tracker reference removed from its header comment.
    7: frozenset({"d16eb1fa5b5c503fbfc45c821752211da253ab26c0b2377c66ec3cbdddab6639"}),
}


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


@dataclass(frozen=True)
class MigrateResult:
    applied: list[str]
    already_applied: int
    partitions_created: int


class MigrationError(RuntimeError):
    pass


def load_migrations() -> list[Migration]:
    found = []
    for entry in resources.files(MIGRATIONS_PACKAGE).iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"duplicate migration versions in {MIGRATIONS_PACKAGE}: {versions}")
    return found


def migrate(conn: psycopg.Connection, *, partition_days_ahead: int = 7) -> MigrateResult:
    """Apply pending migrations and make sure sample partitions exist from yesterday on.

    Each migration runs in its own transaction; an open transaction of the caller's is
    committed first and the connection's autocommit mode is restored afterwards.
    """
    previous_autocommit = conn.autocommit
    if conn.info.transaction_status != pq.TransactionStatus.IDLE:
        conn.commit()
    conn.autocommit = True
    conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
    try:
        conn.execute(Q["create_schema"])
        conn.execute(Q["create_schema_migrations"])
        recorded = {row[0]: (row[1], row[2]) for row in conn.execute(Q["applied_migrations"])}
        applied: list[str] = []
        for migration in load_migrations():
            if migration.version in recorded:
                _, checksum = recorded[migration.version]
                accepted = {migration.checksum, *COMMENT_ONLY_EDITS.get(migration.version, ())}
                if checksum not in accepted:
                    raise MigrationError(
                        f"migration {migration.version:04d}_{migration.name} was edited after "
                        "it was applied; add a new migration instead"
                    )
                continue
            with conn.transaction():
                conn.execute(migration.sql)
                conn.execute(
                    Q["record_migration"],
                    {
                        "version": migration.version,
                        "name": migration.name,
                        "checksum": migration.checksum,
                    },
                )
            applied.append(f"{migration.version:04d}_{migration.name}")
        today = date.today()
        created = conn.execute(
            Q["ensure_sample_partitions"],
            {
                "first_day": today - timedelta(days=1),
                "last_day": today + timedelta(days=partition_days_ahead),
            },
        ).fetchone()[0]
        return MigrateResult(applied, len(recorded), created)
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))
        conn.autocommit = previous_autocommit


def pending_migrations(conn: psycopg.Connection) -> list[str]:
    """Names of migrations not yet applied (all of them on an empty database)."""
    exists = conn.execute(Q["schema_migrations_exists"]).fetchone()[0]
    applied = {row[0] for row in conn.execute(Q["applied_versions"])} if exists else set()
    return [f"{m.version:04d}_{m.name}" for m in load_migrations() if m.version not in applied]
