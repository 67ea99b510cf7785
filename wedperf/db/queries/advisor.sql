-- Queries of the wedding-day database advisor (wedperf.advisor).
-- "app" queries run on the app database, the others on wedperf's own.

-- name: app_statements
-- pg_stat_statements of the current database, one row per queryid (summed over users and
-- top-level/nested). Rows without a queryid are other users' statements we may not read.
SELECT s.queryid,
       min(s.query)                   AS query,
       sum(s.calls)::bigint           AS calls,
       sum(s.total_exec_time)         AS total_exec_ms,
       sum(s.rows)::bigint            AS rows,
       sum(s.shared_blks_hit)::bigint  AS shared_blks_hit,
       sum(s.shared_blks_read)::bigint AS shared_blks_read
FROM pg_stat_statements AS s
WHERE s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND s.queryid IS NOT NULL
  AND s.calls > 0
GROUP BY s.queryid;

-- name: app_hidden_statements
-- Statements of other users whose text and queryid this role may not see.
SELECT count(*) AS hidden, coalesce(sum(s.total_exec_time), 0) AS hidden_exec_ms
FROM pg_stat_statements AS s
WHERE s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND s.queryid IS NULL;

-- name: app_extension
-- Is pg_stat_statements created in this database, and could it be?
SELECT (SELECT extversion FROM pg_extension WHERE extname = 'pg_stat_statements') AS installed,
       EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'pg_stat_statements')
           AS available,
       current_database() AS datname,
       current_user AS role,
       pg_has_role(current_user, 'pg_read_all_stats', 'USAGE') AS reads_all_stats;

-- name: app_wedding_tables
-- Tables (plain, partitioned, materialized) having one of the wedding columns, and the tables
-- those columns reference by foreign key (the weddings table itself).
WITH direct AS (
    SELECT c.oid
    FROM pg_class AS c
    JOIN pg_namespace AS n ON n.oid = c.relnamespace
    JOIN pg_attribute AS a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
    WHERE c.relkind IN ('r', 'p', 'm')
      AND NOT c.relispartition
      AND a.attname = ANY (%(wedding_columns)s)
      AND n.nspname <> ALL (%(exclude_schemas)s)
      AND n.nspname NOT LIKE 'pg\_%%'
), referenced AS (
    SELECT con.confrelid AS oid
    FROM pg_constraint AS con
    JOIN pg_attribute AS a ON a.attrelid = con.conrelid AND a.attnum = con.conkey[1]
    WHERE con.contype = 'f'
      AND con.conrelid IN (SELECT oid FROM direct)
      AND a.attname = ANY (%(wedding_columns)s)
)
SELECT n.nspname AS schema, c.relname AS name
FROM pg_class AS c
JOIN pg_namespace AS n ON n.oid = c.relnamespace
WHERE c.oid IN (SELECT oid FROM direct UNION SELECT oid FROM referenced)
  AND n.nspname <> ALL (%(exclude_schemas)s)
ORDER BY 1, 2;

-- name: app_stats_reset
-- When pg_stat_statements was last reset (pg_stat_statements 1.9+, PostgreSQL 14+).
SELECT stats_reset FROM pg_stat_statements_info;

-- name: app_table_rows
-- Estimated rows per relation (reltuples is -1 before the first VACUUM/ANALYZE).
SELECT c.oid::regclass::text AS relation, n.nspname AS schema, c.relname AS name,
       greatest(c.reltuples, 0)::bigint AS rows
FROM pg_class AS c
JOIN pg_namespace AS n ON n.oid = c.relnamespace
WHERE (n.nspname, c.relname) IN (SELECT * FROM unnest(%(schemas)s::text[], %(names)s::text[]));

-- name: app_leading_index
-- A valid index on the table whose first key column is the given column.
SELECT i.indexrelid::regclass::text AS index
FROM pg_index AS i
JOIN pg_attribute AS a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
WHERE i.indrelid = to_regclass(%(relation)s)
  AND i.indisvalid
  AND a.attname = %(column)s
LIMIT 1;

-- name: app_columns_exist
-- Which of the given columns the table has.
SELECT a.attname
FROM pg_attribute AS a
WHERE a.attrelid = to_regclass(%(relation)s) AND a.attnum > 0 AND NOT a.attisdropped
  AND a.attname = ANY (%(columns)s);

-- name: app_index_ddl
-- CREATE INDEX CONCURRENTLY with identifiers quoted by the server (only where needed).
SELECT format('CREATE INDEX CONCURRENTLY IF NOT EXISTS %%I ON %%I.%%I (%%s);',
              %(index)s::text, %(schema)s::text, %(table)s::text,
              (SELECT string_agg(quote_ident(c), ', ' ORDER BY o)
               FROM unnest(%(columns)s::text[]) WITH ORDINALITY AS t (c, o)));

-- name: app_hot_indexes
-- The table's most-scanned indexes since statistics were reset.
SELECT s.indexrelid::regclass::text AS index, s.idx_scan
FROM pg_stat_user_indexes AS s
WHERE s.relid = to_regclass(%(relation)s) AND s.idx_scan > 0
ORDER BY s.idx_scan DESC, 1
LIMIT %(limit)s;

-- name: save_baseline
-- Keep (or with overwrite, replace) the known-good statistics of one statement.
INSERT INTO perf.advisor_baselines AS b
    (database, queryid, query, calls, total_exec_ms, mean_exec_ms, rows, captured_at)
VALUES (%(database)s, %(queryid)s, %(query)s, %(calls)s, %(total_exec_ms)s, %(mean_exec_ms)s,
        %(rows)s, %(captured_at)s)
ON CONFLICT (database, queryid) DO UPDATE SET
    query = EXCLUDED.query, calls = EXCLUDED.calls, total_exec_ms = EXCLUDED.total_exec_ms,
    mean_exec_ms = EXCLUDED.mean_exec_ms, rows = EXCLUDED.rows,
    captured_at = EXCLUDED.captured_at
WHERE %(overwrite)s;

-- name: baselines
SELECT queryid, query, calls, total_exec_ms, mean_exec_ms, rows, captured_at
FROM perf.advisor_baselines
WHERE database = %(database)s;

-- name: store_run
INSERT INTO perf.advisor_runs (database, ran_at, available, message, findings)
VALUES (%(database)s, %(ran_at)s, %(available)s, %(message)s, %(findings)s)
RETURNING run_id;

-- name: latest_run
-- The newest run's findings (of one database, or of any).
SELECT findings
FROM perf.advisor_runs
WHERE %(database)s::text IS NULL OR database = %(database)s
ORDER BY ran_at DESC, run_id DESC
LIMIT 1;

-- name: latest_run_between
-- The newest run in [start, end) (of one database, or of any): what the advisor knew then.
SELECT findings
FROM perf.advisor_runs
WHERE ran_at >= %(start)s AND ran_at < %(end)s
  AND (%(database)s::text IS NULL OR database = %(database)s)
ORDER BY ran_at DESC, run_id DESC
LIMIT 1;

-- name: app_stats_since
-- When each statement's figures started accumulating (pg_stat_statements 1.11+, PostgreSQL
-- 17): a later stats_since than the baseline's means the entry was evicted or reset alone.
SELECT s.queryid, max(s.stats_since) AS stats_since
FROM pg_stat_statements AS s
WHERE s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND s.queryid IS NOT NULL
  AND s.calls > 0
GROUP BY s.queryid
