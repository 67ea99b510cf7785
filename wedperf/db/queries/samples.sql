-- name: ensure_partitions
-- Daily partitions of perf.samples for the given days (no-op for existing ones).
SELECT perf.ensure_sample_partitions(%(from_day)s, %(to_day)s);

-- name: any_sample_in_range
-- Has this source already stored anything in [first, last]? Decides between the direct COPY
-- and the dedupe path.
SELECT EXISTS (
    SELECT 1 FROM perf.samples
    WHERE ts BETWEEN %(first)s AND %(last)s AND source = ANY(%(sources)s)
);

-- name: create_staging
-- Staging for the dedupe path; dropped at commit.
CREATE TEMP TABLE samples_staging (LIKE perf.samples INCLUDING DEFAULTS) ON COMMIT DROP;

-- name: insert_from_staging
-- Move staged rows in; rows whose natural key exists (a re-collected window, a retried
-- write) are skipped.
INSERT INTO perf.samples
    (ts, source, metric, operation, series, wedding_id, attributed_by, value, client)
SELECT ts, source, metric, operation, series, wedding_id, attributed_by, value, client
FROM samples_staging
ON CONFLICT (ts, source, metric, operation, series) DO NOTHING;

-- name: rollup_minutes
-- Recompute p50/p95/p99/count per minute x operation x wedding x client group for the
-- minutes in [start, end) from every latency sample in them. A sample counts for its own
-- wedding when it names one (label, url, row, beacon); a platform-wide sample counts for
-- every wedding whose day window covers that minute; every sample counts for the platform
-- row (wedding_id NULL). Client groups: 'all' is every server-side sample (every source but
-- RUM, named by the rum_source parameter: a beacon's value is what a device saw, network
-- included; this is what 'all' meant before RUM existed); a sample of a known kind, RUM included, also counts for its kind
-- ('ios', 'android', 'web'), and an ios or android one for 'mobile'.
WITH s AS (
    SELECT date_trunc('minute', ts) AS minute, operation, wedding_id, client, source, value
    FROM perf.samples
    WHERE metric = 'latency_s' AND ts >= %(start)s AND ts < %(end)s
), attributed AS (
    SELECT minute, operation, wedding_id, client, source, value
    FROM s WHERE wedding_id IS NOT NULL
    UNION ALL
    SELECT s.minute, s.operation, w.wedding_id, s.client, s.source, s.value
    FROM s JOIN perf.weddings w
      ON s.wedding_id IS NULL
     AND w.status <> 'cancelled'
     AND s.minute >= w.starts_at - %(before)s
     AND s.minute < w.ends_at + %(after)s
    UNION ALL
    SELECT minute, operation, NULL, client, source, value FROM s
), grouped AS (
    SELECT a.minute, a.operation, a.wedding_id, g.client, a.value
    FROM attributed a
    CROSS JOIN LATERAL (VALUES
        (CASE WHEN a.source <> %(rum_source)s THEN 'all' END),
        (CASE WHEN a.client IN ('ios', 'android', 'web') THEN a.client END),
        (CASE WHEN a.client IN ('ios', 'android') THEN 'mobile' END)
    ) AS g(client)
    WHERE g.client IS NOT NULL
)
INSERT INTO perf.rollups_minute AS r
    (minute, operation, wedding_id, client, samples, p50, p95, p99)
SELECT minute, operation, wedding_id, client, count(*),
       percentile_cont(0.50) WITHIN GROUP (ORDER BY value),
       percentile_cont(0.95) WITHIN GROUP (ORDER BY value),
       percentile_cont(0.99) WITHIN GROUP (ORDER BY value)
FROM grouped
GROUP BY minute, operation, wedding_id, client
ON CONFLICT ON CONSTRAINT rollups_minute_key DO UPDATE
SET samples = EXCLUDED.samples, p50 = EXCLUDED.p50, p95 = EXCLUDED.p95, p99 = EXCLUDED.p99;

-- name: known_wedding_ids
-- Which of the given ids name a wedding in perf.weddings (any status): a RUM beacon may name
-- only those, so that nothing else an app puts in the field is ever stored.
SELECT wedding_id FROM perf.weddings WHERE wedding_id = ANY(%(wedding_ids)s::text[]);
