-- Latency as event counts. Until now the Prometheus source stored one value per step of the
-- configured PromQL (by default histogram_quantile(0.95, ...)), and the minute rollups took
-- percentile_cont(0.50/0.95/0.99) over those values and over single probe timings together:
-- a "p95" of per-step p95s is the quantile of no set of requests, and its rows counted steps,
-- not requests. From this version on:
--
-- * perf.samples holds latency *events* (metric latency_s: one row per request — a probe, an
--   app-DB row, a RUM beacon) and histogram *bucket increases* (metric latency_bucket: per
--   step, how many requests of one series finished within `le` seconds). Good and total
--   request counts at any bucket bound, and quantiles of merged histograms, follow from them.
-- * perf.rollups_minute holds, per minute x operation x wedding x client group, the event
--   count and a cumulative histogram (bucket_le, bucket_events): mergeable by summing, so a
--   wedding's day p95 is read from the sum of its minutes, never from stored percentiles.

-- The bucket bound of a latency_bucket row (NULL for every other metric). A nullable column
-- without a default is a catalogue change only.
ALTER TABLE perf.samples ADD COLUMN le double precision;
ALTER TABLE perf.samples ADD CONSTRAINT samples_le_check
    CHECK ((metric = 'latency_bucket') = (le IS NOT NULL)) NOT VALID;

-- Existing Prometheus rows are per-step PromQL values, not events: they keep their values under
-- a metric that says what they are, and stop counting as requests anywhere. (metric is part
-- of the key; the row stays in its day partition.)
UPDATE perf.samples SET metric = 'latency_promql_s'
WHERE source = 'prometheus' AND metric = 'latency_s';

-- The old rollups are kept as they were, renamed, for whoever compared against them; nothing
-- reads them. Their p50/p95/p99 are percentiles over a mix of single timings and per-step
-- PromQL values, and must not be aggregated further.
ALTER TABLE perf.rollups_minute RENAME TO rollups_minute_legacy;
ALTER TABLE perf.rollups_minute_legacy RENAME CONSTRAINT rollups_minute_key
    TO rollups_minute_legacy_key;
ALTER INDEX perf.rollups_minute_wedding_idx RENAME TO rollups_minute_legacy_wedding_idx;
ALTER TABLE perf.rollups_minute_legacy RENAME COLUMN samples TO sample_rows;
ALTER TABLE perf.rollups_minute_legacy RENAME COLUMN p50 TO p50_of_sample_values;
ALTER TABLE perf.rollups_minute_legacy RENAME COLUMN p95 TO p95_of_sample_values;
ALTER TABLE perf.rollups_minute_legacy RENAME COLUMN p99 TO p99_of_sample_values;
COMMENT ON TABLE perf.rollups_minute_legacy IS
    'Minute rollups written before migration 0010: sample_rows counted stored values, and '
    'the p*_of_sample_values columns are percentiles over single timings mixed with per-step '
    'PromQL quantiles. Kept for reference; not events, not to be aggregated.';

-- Minute rollups as event counts. bucket_events[i] is the number of events with latency <=
-- bucket_le[i] seconds (cumulative, like Prometheus `le` buckets); the last bound is
-- 'Infinity', so bucket_events[last] = events. Rows with the same bucket_le merge by
-- element-wise sums. wedding_id NULL is the whole platform; client groups as in 0007.
-- The rows are derived from perf.samples and rebuilt for a span by rolling it up again.
CREATE TABLE perf.rollups_minute (
    minute        timestamptz NOT NULL,
    operation     text NOT NULL,
    wedding_id    text,
    client        text NOT NULL CHECK (client IN ('all', 'mobile', 'ios', 'android', 'web')),
    events        double precision NOT NULL CHECK (events >= 0),
    bucket_le     double precision[] NOT NULL,
    bucket_events double precision[] NOT NULL,
    CONSTRAINT rollups_minute_key UNIQUE NULLS NOT DISTINCT (minute, operation, wedding_id, client),
    CHECK (cardinality(bucket_le) = cardinality(bucket_events)),
    CHECK (bucket_le[cardinality(bucket_le)] = 'Infinity'),
    CHECK (bucket_events[cardinality(bucket_events)] = events)
);
CREATE INDEX rollups_minute_wedding_idx
    ON perf.rollups_minute (wedding_id, operation, client, minute);
