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
-- Open an alert for a breach, or refresh the one already firing for the same fingerprint.
-- Returns inserted = true when this breach opened a new alert.
INSERT INTO perf.alerts AS a
    (source, fingerprint, starts_at, status, alertname, severity, wedding_id, labels,
     annotations, last_seen_at)
VALUES (%(source)s, %(fingerprint)s, %(at)s, 'firing', %(alertname)s, %(severity)s,
        %(wedding_id)s, %(labels)s, %(annotations)s, %(at)s)
ON CONFLICT (source, fingerprint) WHERE status = 'firing' DO UPDATE
SET last_seen_at = greatest(a.last_seen_at, EXCLUDED.last_seen_at),
    annotations = EXCLUDED.annotations
RETURNING alert_id, (xmax = 0) AS inserted;

-- name: resolve_alerts
-- Recovered checks resolve their firing alerts (one statement for the whole round).
UPDATE perf.alerts
SET status = 'resolved', ends_at = %(at)s, last_seen_at = %(at)s
WHERE source = %(source)s AND fingerprint = ANY(%(fingerprints)s) AND status = 'firing'
RETURNING wedding_id, labels ->> 'check';
