-- What `wedperf demo` reads back to show each step's result (cli/demo). Reads only.

-- name: latest_alert_dispatch
-- The newest episode of the demo's alert and the remediation run dispatched for it, if any.
SELECT alert_id, flow_run_id FROM perf.alerts
WHERE fingerprint = %(fingerprint)s
ORDER BY alert_id DESC LIMIT 1;

-- name: plan_steps
-- The steps a run recorded in perf.actions so far.
SELECT kind, target, outcome FROM perf.actions WHERE plan_id = %(plan_id)s ORDER BY kind;

-- name: remediation_outcome
-- How the remediation run left the alert.
SELECT remediation_state, remediation_note FROM perf.alerts WHERE alert_id = %(alert_id)s;

-- name: table_counts
-- Rows per perf table at the end of the demo (forecasts: series fitted).
SELECT (SELECT count(*) FROM perf.weddings),
       (SELECT count(*) FROM perf.samples),
       (SELECT count(*) FROM perf.rollups_minute),
       (SELECT count(*) FROM perf.critical_path_checks),
       (SELECT count(*) FROM perf.alerts),
       (SELECT count(*) FROM perf.actions),
       (SELECT count(DISTINCT series) FROM perf.forecasts);
