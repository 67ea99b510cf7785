-- Alerts the dispatcher cannot handle are quarantined: set aside with the reason, so that one
-- poison row (say, an instant PostgreSQL stores but the dispatcher cannot read back) never
-- holds up the others again. dispatch_state 'quarantined' is excluded from both claims; an
-- internal alert (source 'wedperf', AlertQuarantined) says so. After fixing the row, set
-- dispatch_state back to 'pending' to dispatch it.
ALTER TABLE perf.alerts DROP CONSTRAINT alerts_dispatch_state_check;
ALTER TABLE perf.alerts
    ADD CONSTRAINT alerts_dispatch_state_check
        CHECK (dispatch_state IN ('pending', 'dispatched', 'failed', 'skipped', 'quarantined')),
    ADD COLUMN quarantined_at timestamptz,
    ADD COLUMN quarantine_reason text,
    ADD CONSTRAINT alerts_quarantine_has_reason
        CHECK (dispatch_state <> 'quarantined' OR quarantine_reason IS NOT NULL);
CREATE INDEX alerts_quarantined_idx ON perf.alerts (alert_id)
    WHERE dispatch_state = 'quarantined';
