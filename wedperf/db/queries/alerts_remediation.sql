-- perf.alerts as a remediation run reads and updates it, through wedperf.alerts.inbox (the
-- receiver's and the dispatcher's queries are in alerts.sql). One run per alert identity
-- (the dispatcher's idempotency key) is the only writer of remediation_state.

-- name: alert_for_remediation
-- One alert as stored (the columns of wedperf.alerts.model.STORED_COLUMNS, in that order,
-- like the inbox's RETURNING lists): what a remediation run decides and verifies by.
SELECT alert_id, source, fingerprint, starts_at, status, ends_at, alertname, severity,
       wedding_id, labels, annotations, generator_url, dispatch_state,
       resolved_event_at IS NULL AS unannounced, false AS inserted
FROM perf.alerts
WHERE alert_id = %(alert_id)s;

-- name: set_remediation_state
-- Where the alert's remediation stands (running, recovered, escalated, ...) and why.
UPDATE perf.alerts SET remediation_state = %(state)s, remediation_note = %(note)s
WHERE alert_id = %(alert_id)s;
