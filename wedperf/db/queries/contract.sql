-- name: wedding_id_type
-- The SQL type of a contract view's wedding_id, so lookups can compare without casting the
-- app's column (which would defeat its index).
SELECT format_type(a.atttypid, a.atttypmod)
FROM pg_attribute a
WHERE a.attrelid = to_regclass(%(view)s) AND a.attname = 'wedding_id' AND NOT a.attisdropped;
