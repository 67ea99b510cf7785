-- name: latency_samples
-- Wedding-attributed latency events in [start, end) for the given weddings (one row per
-- request: probes, app-DB rows, RUM beacons), with the kind of client that observed each
-- (ios, android, web, unknown) and their source: the checks tell server-side collectors from
-- device-side RUM beacons by it.
SELECT wedding_id, operation, value, client, source
FROM perf.samples
WHERE metric = 'latency_s' AND ts >= %(start)s AND ts < %(end)s
  AND wedding_id = ANY(%(wedding_ids)s);

-- name: latency_buckets
-- The same weddings' histogram buckets in [start, end), summed over the span per histogram
-- series and bound: each series' merged histogram of the span (cumulative counts per `le`).
SELECT wedding_id, operation, client, source, split_part(series, '|le=', 1) AS histogram, le,
       sum(value) AS events
FROM perf.samples
WHERE metric = 'latency_bucket' AND ts >= %(start)s AND ts < %(end)s
  AND wedding_id = ANY(%(wedding_ids)s)
GROUP BY 1, 2, 3, 4, 5, 6;

-- name: upsert_check
-- One evaluation of one check; re-running a round replaces its rows.
INSERT INTO perf.critical_path_checks
    (wedding_id, check_name, evaluated_at, value, threshold, warn_threshold, status, detail)
VALUES (%(wedding_id)s, %(check_name)s, %(evaluated_at)s, %(value)s, %(threshold)s,
        %(warn_threshold)s, %(status)s, %(detail)s)
ON CONFLICT (wedding_id, check_name, evaluated_at) DO UPDATE SET
    value = EXCLUDED.value, threshold = EXCLUDED.threshold,
    warn_threshold = EXCLUDED.warn_threshold, status = EXCLUDED.status, detail = EXCLUDED.detail;

-- name: fire_alert
-- A round at %(at)s found a breach: open an alert for it, or refresh the one it belongs to.
-- Returns inserted = true when this breach opened a new alert.
-- An alert's natural key is (source, fingerprint, starts_at), and rounds may run again (a
-- retried flow run, a backfill of an older round): the breach belongs to the alert firing
-- now, or to the episode that started at or covers %(at)s, and then nothing is inserted
-- (inserting would break the key, or open a second episode over the first). Refreshing only
-- moves last_seen_at forward; annotations follow the newest round, never an older one.
-- ON CONFLICT on the one-firing index covers a concurrent round that opened it first.
WITH known AS (
    SELECT alert_id
    FROM perf.alerts
    WHERE source = %(source)s AND fingerprint = %(fingerprint)s
      AND (status = 'firing' OR starts_at = %(at)s
           OR (starts_at <= %(at)s AND %(at)s < ends_at))
    ORDER BY status = 'firing' DESC, starts_at DESC
    LIMIT 1
), refreshed AS (
    UPDATE perf.alerts AS a
    SET last_seen_at = greatest(a.last_seen_at, %(at)s),
        annotations = CASE WHEN a.status = 'firing' AND %(at)s >= a.last_seen_at
                           THEN %(annotations)s ELSE a.annotations END
    FROM known
    WHERE a.alert_id = known.alert_id
    RETURNING a.alert_id
), opened AS (
    INSERT INTO perf.alerts AS a
        (source, fingerprint, starts_at, status, alertname, severity, wedding_id, labels,
         annotations, last_seen_at)
    SELECT %(source)s, %(fingerprint)s, %(at)s, 'firing', %(alertname)s, %(severity)s,
           %(wedding_id)s, %(labels)s, %(annotations)s, %(at)s
    WHERE NOT EXISTS (SELECT 1 FROM known)
    ON CONFLICT (source, fingerprint) WHERE status = 'firing' DO UPDATE
    SET last_seen_at = greatest(a.last_seen_at, EXCLUDED.last_seen_at)
    RETURNING alert_id, (xmax = 0) AS inserted
)
SELECT alert_id, false AS inserted FROM refreshed
UNION ALL
SELECT alert_id, inserted FROM opened;

-- name: resolve_alerts
-- Recovered checks resolve their firing alerts (one statement for the whole round). Only
-- alerts this round could have seen: one that started after it, or that a later round saw
-- breaching, is not resolved by re-running an older round.
UPDATE perf.alerts
SET status = 'resolved', ends_at = %(at)s, last_seen_at = %(at)s
WHERE source = %(source)s AND fingerprint = ANY(%(fingerprints)s) AND status = 'firing'
  AND starts_at <= %(at)s AND last_seen_at <= %(at)s
RETURNING wedding_id, labels ->> 'check';
