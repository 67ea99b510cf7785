-- The migration runner's own bookkeeping (wedperf.db.migrate): which migration files were
-- applied, with the checksum each had then. Created before any migration runs, so it cannot
-- be a migration itself.

-- name: create_schema
CREATE SCHEMA IF NOT EXISTS perf;

-- name: create_schema_migrations
CREATE TABLE IF NOT EXISTS perf.schema_migrations (
    version    integer PRIMARY KEY,
    name       text NOT NULL,
    checksum   text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
);

-- name: applied_migrations
-- Every applied migration and the checksum it was applied with.
SELECT version, name, checksum FROM perf.schema_migrations;

-- name: record_migration
INSERT INTO perf.schema_migrations (version, name, checksum)
VALUES (%(version)s, %(name)s, %(checksum)s);

-- name: ensure_sample_partitions
-- Day partitions of perf.samples from `first_day` to `last_day`; returns how many were new.
SELECT perf.ensure_sample_partitions(%(first_day)s, %(last_day)s);

-- name: schema_migrations_exists
SELECT to_regclass('perf.schema_migrations') IS NOT NULL;

-- name: applied_versions
SELECT version FROM perf.schema_migrations;
