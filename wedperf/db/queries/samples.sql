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
-- write) are skipped — except a histogram bucket whose count changed: the last step of a
-- window is read again by the next collection once Prometheus has all of its scrapes, and
-- that later, fuller count replaces the first. Duplicates within the batch are staged once.
INSERT INTO perf.samples AS s
    (ts, source, metric, operation, series, wedding_id, attributed_by, value, client, le)
SELECT DISTINCT ON (ts, source, metric, operation, series)
       ts, source, metric, operation, series, wedding_id, attributed_by, value, client, le
FROM samples_staging
ORDER BY ts, source, metric, operation, series
ON CONFLICT (ts, source, metric, operation, series) DO UPDATE
SET value = EXCLUDED.value
WHERE s.metric = 'latency_bucket' AND s.value IS DISTINCT FROM EXCLUDED.value;

-- name: rollup_minutes
-- Recompute events and the cumulative histogram (at the bounds given, the last +Inf) per
-- minute x operation x wedding x client group for the minutes in [start, end).
--
-- Events: a latency_s row is one event. A latency_bucket row is one bucket of one histogram
-- series in one step; per series and step, the count at a bound is the series' count at its
-- largest `le` <= that bound: exact where the series has that bound, a lower bound where it
-- has not. Nothing else is read (latency_promql_s rows are per-step PromQL values).
--
-- How, without crossing every row with every bound: each event (a raw one, or a bucket's
-- increment over the series' previous bound) is placed at the first bound >= its latency
-- (width_bucket over the negated bounds, `neg_bounds` = the bounds negated in reverse order:
-- n + 1 - width_bucket(-x, neg_bounds) is the index of the first bound >= x); cumulative
-- sums over the bounds then give the counts. Bucket counts are made monotone in `le` first
-- (a running max), so an increase() that extrapolated one bucket past the next is not
-- double-counted.
--
-- Attribution as before: an event counts for its own wedding when it names one (label, url,
-- row, beacon); a platform-wide one for every wedding whose day window covers that minute;
-- every event for the platform row (wedding_id NULL). Client groups: 'all' is the server-side
-- events (every source but RUM, named by rum_source: a beacon's value is what a device saw,
-- network included); an event of a known kind, RUM included, also counts for its kind
-- ('ios', 'android', 'web'), and an ios or android one for 'mobile'.
WITH bounds AS (
    SELECT bound, i FROM unnest(%(bounds)s::float8[]) WITH ORDINALITY AS u(bound, i)
), raw AS (
    SELECT date_trunc('minute', ts) AS minute, operation, wedding_id, client, source,
           cardinality(%(bounds)s::float8[]) + 1
               - width_bucket(-value, %(neg_bounds)s::float8[]) AS i,
           count(*)::float8 AS n
    FROM perf.samples
    WHERE metric = 'latency_s' AND ts >= %(start)s AND ts < %(end)s
    GROUP BY 1, 2, 3, 4, 5, 6
), monotone AS (
    SELECT ts, operation, wedding_id, client, source, le,
           max(value) OVER (
               PARTITION BY ts, source, operation, split_part(series, '|le=', 1) ORDER BY le
           ) AS cumulative,
           split_part(series, '|le=', 1) AS histogram
    FROM perf.samples
    WHERE metric = 'latency_bucket' AND ts >= %(start)s AND ts < %(end)s
), increments AS (
    SELECT ts, operation, wedding_id, client, source, le,
           cumulative - coalesce(lag(cumulative) OVER (
               PARTITION BY ts, source, operation, histogram ORDER BY le), 0) AS n
    FROM monotone
), steps AS (
    SELECT date_trunc('minute', ts) AS minute, operation, wedding_id, client, source,
           cardinality(%(bounds)s::float8[]) + 1
               - width_bucket(-le, %(neg_bounds)s::float8[]) AS i,
           sum(n) AS n
    FROM increments
    GROUP BY 1, 2, 3, 4, 5, 6
), events AS (
    SELECT minute, operation, wedding_id, client, source, i, n FROM raw
    UNION ALL
    SELECT minute, operation, wedding_id, client, source, i, n FROM steps
), attributed AS (
    SELECT minute, operation, wedding_id, client, source, i, n
    FROM events WHERE wedding_id IS NOT NULL
    UNION ALL
    SELECT e.minute, e.operation, w.wedding_id, e.client, e.source, e.i, e.n
    FROM events e JOIN perf.weddings w
      ON e.wedding_id IS NULL
     AND w.status <> 'cancelled'
     AND e.minute >= w.starts_at - %(before)s
     AND e.minute < w.ends_at + %(after)s
    UNION ALL
    SELECT minute, operation, NULL, client, source, i, n FROM events
), grouped AS (
    SELECT a.minute, a.operation, a.wedding_id, g.client, a.i, sum(a.n) AS n
    FROM attributed a
    CROSS JOIN LATERAL (VALUES
        (CASE WHEN a.source <> %(rum_source)s THEN 'all' END),
        (CASE WHEN a.client IN ('ios', 'android', 'web') THEN a.client END),
        (CASE WHEN a.client IN ('ios', 'android') THEN 'mobile' END)
    ) AS g(client)
    WHERE g.client IS NOT NULL
    GROUP BY 1, 2, 3, 4, 5
), histograms AS (
    SELECT minute, operation, wedding_id, client,
           ARRAY(
               SELECT sum(coalesce((per_bound ->> b.i::text)::float8, 0)) OVER (ORDER BY b.i)
               FROM bounds b ORDER BY b.i
           ) AS counts
    FROM (
        SELECT minute, operation, wedding_id, client, jsonb_object_agg(i, n) AS per_bound
        FROM grouped GROUP BY 1, 2, 3, 4
    ) sparse
)
INSERT INTO perf.rollups_minute AS r
    (minute, operation, wedding_id, client, events, bucket_le, bucket_events)
SELECT minute, operation, wedding_id, client, counts[cardinality(counts)],
       %(bounds)s::float8[], counts
FROM histograms
WHERE counts[cardinality(counts)] > 0
ON CONFLICT ON CONSTRAINT rollups_minute_key DO UPDATE
SET events = EXCLUDED.events, bucket_le = EXCLUDED.bucket_le,
    bucket_events = EXCLUDED.bucket_events;

-- name: merged_histogram
-- One wedding's (or, with wedding_id NULL, the platform's) latency histogram of one
-- operation and client group over [start, end): the element-wise sum of its minute rows.
-- Rows with other bounds (an older bound set) are summed separately: one row per bound set.
SELECT bucket_le, array_agg(total ORDER BY i) AS bucket_events, sum(total) FILTER (
           WHERE i = cardinality(bucket_le)) AS events
FROM (
    SELECT r.bucket_le, u.i, sum(u.n) AS total
    FROM perf.rollups_minute r
    CROSS JOIN LATERAL unnest(r.bucket_events) WITH ORDINALITY AS u(n, i)
    WHERE r.operation = %(operation)s AND r.client = %(client)s
      AND r.wedding_id IS NOT DISTINCT FROM %(wedding_id)s
      AND r.minute >= %(start)s AND r.minute < %(end)s
    GROUP BY r.bucket_le, u.i
) per_bound
GROUP BY bucket_le;

-- name: known_wedding_ids
-- Which of the given ids name a wedding in perf.weddings (any status): a RUM beacon may name
-- only those, so that nothing else an app puts in the field is ever stored.
SELECT wedding_id FROM perf.weddings WHERE wedding_id = ANY(%(wedding_ids)s::text[]);
