-- The evidence package's reads that define what a report covers and what it counts
-- (wedperf.evidence.data). Read-only; ids, counts, timings and metric values only. The other
-- reads are in wedperf/db/queries/evidence.sql.

-- name: weddings_of_scope
-- A report's weddings: those whose day window (`before` the ceremony to `after` the end, as
-- every wedperf job means a wedding being on) overlaps [start, end); cancelled ones included
-- (the report lists them as cancelled, and counts no load for them).
SELECT wedding_id, starts_at, ends_at, timezone, venue, guest_count, status, active_guests
FROM perf.weddings
WHERE starts_at - %(before)s < %(end)s
  AND ends_at + %(after)s > %(start)s
ORDER BY starts_at, wedding_id;

-- name: check_summary
-- Per wedding: rounds evaluated and check results by status. A result without a value
-- (nothing to measure: the SLO module classifies it ok) is counted as no data, not as ok.
SELECT wedding_id,
       count(DISTINCT evaluated_at) AS rounds,
       count(*) FILTER (WHERE status = 'ok' AND value IS NOT NULL) AS ok,
       count(*) FILTER (WHERE status = 'warn') AS warn,
       count(*) FILTER (WHERE status = 'breach') AS breach,
       count(*) FILTER (WHERE status = 'ok' AND value IS NULL) AS no_data,
       min(evaluated_at) AS first_round,
       max(evaluated_at) AS last_round
FROM perf.critical_path_checks
WHERE wedding_id = ANY(%(wedding_ids)s)
GROUP BY wedding_id
ORDER BY wedding_id;

-- name: alerts_in_window
-- Alerts whose firing span overlaps [start, end) (a firing one: up to now), optionally of one
-- wedding. For critical-path alerts, the check's value at the round that fired the alert and
-- at the last round with a value that resolved it (or the latest such round while it
-- fires): before and after. `remediation_note` is wedperf's own text (the remediation's
-- verification reading), never the source's annotations.
SELECT a.alert_id, a.source, a.alertname, a.severity,
       coalesce(a.wedding_id, a.labels ->> 'wedding_id') AS wedding_id,
       a.labels ->> 'check' AS check_name, a.status, a.starts_at, a.ends_at,
       a.remediation_state, a.remediation_note, a.dispatch_state, a.repeats,
       fired.value AS value_at_start, after.value AS value_after, after.evaluated_at AS after_at
FROM perf.alerts a
LEFT JOIN LATERAL (
    SELECT c.value FROM perf.critical_path_checks c
    WHERE a.source = 'critical_path'
      AND c.wedding_id = a.wedding_id AND c.check_name = a.labels ->> 'check'
      AND c.evaluated_at <= a.starts_at AND c.value IS NOT NULL
    ORDER BY c.evaluated_at DESC LIMIT 1
) fired ON true
LEFT JOIN LATERAL (
    SELECT c.value, c.evaluated_at FROM perf.critical_path_checks c
    WHERE a.source = 'critical_path'
      AND c.wedding_id = a.wedding_id AND c.check_name = a.labels ->> 'check'
      AND c.evaluated_at > a.starts_at AND c.value IS NOT NULL
      AND (a.ends_at IS NULL OR c.evaluated_at <= a.ends_at)
    ORDER BY c.evaluated_at DESC LIMIT 1
) after ON true
WHERE a.starts_at < %(end)s AND coalesce(a.ends_at, 'infinity') >= %(start)s
  AND (%(wedding_id)s::text IS NULL
       OR a.wedding_id = %(wedding_id)s::text OR a.labels ->> 'wedding_id' = %(wedding_id)s::text)
ORDER BY a.starts_at, a.alert_id;
