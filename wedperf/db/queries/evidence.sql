-- The evidence package's reads (wedperf.evidence.data). Read-only: the package reports what
-- was forecast, planned and done; it changes nothing. Ids, counts and timings only.

-- name: weddings_of_scope
-- A report's weddings: those whose day window (`before` the ceremony to `after` the end, as
-- every wedperf job means a wedding being on) overlaps [start, end); cancelled ones included
-- (the report lists them as cancelled, and counts no load for them).
SELECT wedding_id, starts_at, ends_at, timezone, venue, guest_count, status, active_guests
FROM perf.weddings
WHERE starts_at - %(before)s < %(end)s
  AND ends_at + %(after)s > %(start)s
ORDER BY starts_at, wedding_id;

-- name: forecast_hours
-- Per series and hour in [start, end): the forecast in force for that hour, i.e. the row of
-- the fit with the latest origin (then the latest written) that covers it.
SELECT DISTINCT ON (series, ts)
       series, ts, model, model_version, origin, mean, lo_80, hi_80, lo_95, hi_95
FROM perf.forecasts
WHERE ts >= %(start)s AND ts < %(end)s
ORDER BY series, ts, origin DESC, created_at DESC;

-- name: actions_in_window
-- Steps acted in [start, end); with `wedding_ids` set, only those naming one of them or
-- belonging to one of `plan_ids` (the remediation plans of the report's alerts).
SELECT action_id, plan_id, kind, target, before, after, wedding_ids, dry_run, outcome,
       acted_at
FROM perf.actions
WHERE acted_at >= %(start)s AND acted_at < %(end)s
  AND (%(wedding_ids)s::text[] IS NULL
       OR wedding_ids && %(wedding_ids)s::text[]
       OR plan_id = ANY(%(plan_ids)s::text[]))
ORDER BY acted_at, action_id;

-- name: floor_at
-- Per capacity target, the floor wedperf had set (done, not dry; planned or by a remediation
-- scale-up) before `at`: where each target's floor line starts.
SELECT DISTINCT ON (target) target, after, acted_at
FROM perf.actions
WHERE kind IN ('capacity_raise', 'capacity_restore', 'remediation_scale_up')
  AND outcome = 'done'
  AND acted_at < %(at)s AND after IS NOT NULL
ORDER BY target, acted_at DESC, action_id DESC;

-- name: capacity_state
-- Every capacity target's remembered baseline and current floor.
SELECT target, baseline, floor, changed_at
FROM perf.capacity_state
ORDER BY target;

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

-- name: checks_of_weddings
-- Every evaluation of the given weddings' checks, in time order.
SELECT wedding_id, check_name, evaluated_at, value, threshold, warn_threshold, status
FROM perf.critical_path_checks
WHERE wedding_id = ANY(%(wedding_ids)s)
ORDER BY wedding_id, check_name, evaluated_at;

-- name: measured_load
-- Requests/s the server-side collectors measured in [start, end), per `step` (a mean over
-- it): the platform rows (wedding_id NULL) of client group 'all' of the request operations.
SELECT date_bin(%(step)s::interval, minute, %(start)s) AS at,
       sum(events) / %(seconds)s::float8 AS rps
FROM perf.rollups_minute
WHERE wedding_id IS NULL AND client = 'all' AND operation = ANY(%(operations)s::text[])
  AND minute >= %(start)s AND minute < %(end)s
GROUP BY 1
ORDER BY 1;

-- name: sample_sources
-- Per source, the samples of the request operations in [start, end) (what the load line is
-- rolled up from): how many, the first and the last. The sandbox's modelled history has
-- source 'sandbox-model', a live collector never does.
SELECT source, count(*) AS samples, min(ts) AS first, max(ts) AS last
FROM perf.samples
WHERE ts >= %(start)s AND ts < %(end)s AND operation = ANY(%(operations)s::text[])
GROUP BY source
ORDER BY source;

-- name: modelled_until
-- The last minute of modelled samples (source 'sandbox-model') from `start` on, if any.
SELECT max(ts) AS last
FROM perf.samples
WHERE source = 'sandbox-model' AND ts >= %(start)s;

-- name: rounds_until
-- The given weddings' critical-path rounds (distinct instants), and those evaluated at or
-- before `until`.
SELECT count(DISTINCT evaluated_at) AS rounds,
       count(DISTINCT evaluated_at) FILTER (WHERE evaluated_at <= %(until)s) AS before
FROM perf.critical_path_checks
WHERE wedding_id = ANY(%(wedding_ids)s);
