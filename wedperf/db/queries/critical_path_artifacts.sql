-- name: published_statuses
-- The check statuses each wedding's artifacts last showed.
SELECT wedding_id, statuses
FROM perf.critical_path_published
WHERE wedding_id = ANY(%(wedding_ids)s::text[]);

-- name: record_published
-- A wedding's artifacts were published for the round at `evaluated_at`; an older round
-- (a late retry) never overwrites a newer one.
INSERT INTO perf.critical_path_published AS p (wedding_id, statuses, evaluated_at)
VALUES (%(wedding_id)s, %(statuses)s, %(evaluated_at)s)
ON CONFLICT (wedding_id) DO UPDATE
SET statuses = EXCLUDED.statuses, evaluated_at = EXCLUDED.evaluated_at, published_at = now()
WHERE p.evaluated_at <= EXCLUDED.evaluated_at;
