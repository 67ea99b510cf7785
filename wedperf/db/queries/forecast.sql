-- name: hourly_view_counts
-- Rows of the contract view {schema}.{view} per UTC hour of {column} in [start, end), from
-- the hour of the first row (or `start`) to `end`: an hour without rows is 0, not absent,
-- and history before the view has any data is not made up as zeros. {schema}, {view} and
-- {column} are filled in with psycopg.sql.Identifier.
WITH counted AS (
    SELECT date_trunc('hour', {column}, 'UTC') AS hour, count(*) AS n
    FROM {schema}.{view}
    WHERE {column} >= %(start)s AND {column} < %(end)s
    GROUP BY 1
), span AS (
    SELECT min(hour) AS first FROM counted
)
SELECT h.hour, coalesce(c.n, 0)::double precision AS value
FROM span
CROSS JOIN LATERAL generate_series(span.first, %(end)s - interval '1 hour', interval '1 hour')
    AS h(hour)
LEFT JOIN counted c ON c.hour = h.hour
ORDER BY h.hour;

-- name: hourly_sample_counts
-- Server-side perf.samples of one metric and operation per UTC hour in [start, end),
-- zero-filled from the first sample's hour, like hourly_view_counts. RUM beacons (source
-- 'rum', wedperf.metrics.clients.RUM_SOURCE) are left out: the series count requests the
-- server-side collectors saw, and how many beacons the apps flush is not load.
WITH counted AS (
    SELECT date_trunc('hour', ts, 'UTC') AS hour, count(*) AS n
    FROM perf.samples
    WHERE metric = %(metric)s AND operation = %(operation)s AND source <> %(device_source)s
      AND ts >= %(start)s AND ts < %(end)s
    GROUP BY 1
), span AS (
    SELECT min(hour) AS first FROM counted
)
SELECT h.hour, coalesce(c.n, 0)::double precision AS value
FROM span
CROSS JOIN LATERAL generate_series(span.first, %(end)s - interval '1 hour', interval '1 hour')
    AS h(hour)
LEFT JOIN counted c ON c.hour = h.hour
ORDER BY h.hour;

-- name: delete_fit
-- Forget a fit's rows before writing it again (same series, model version and origin), so
-- a re-run replaces rather than duplicates, even when the horizon changed in between.
DELETE FROM perf.forecasts
WHERE series = %(series)s AND model_version = %(model_version)s AND origin = %(origin)s;

-- name: insert_forecast
-- One forecast hour of a fit.
INSERT INTO perf.forecasts (
    series, model_version, origin, ts, model, mean, lo_80, hi_80, lo_95, hi_95,
    train_start, train_end, backtest, fallback_reason, peak_to_mean
) VALUES (
    %(series)s, %(model_version)s, %(origin)s, %(ts)s, %(model)s, %(mean)s, %(lo_80)s,
    %(hi_80)s, %(lo_95)s, %(hi_95)s, %(train_start)s, %(train_end)s, %(backtest)s,
    %(fallback_reason)s, %(peak_to_mean)s
);

-- name: latest_forecast
-- The most recent fit of a series, hour by hour, within [start, end).
SELECT ts, mean, lo_80, hi_80, lo_95, hi_95, model, model_version, origin, created_at,
       peak_to_mean
FROM perf.latest_forecasts
WHERE series = %(series)s AND ts >= %(start)s AND ts < %(end)s
ORDER BY ts;
