-- Alert webhooks and dispatch: what the receiver stores of each delivery, and the state of
-- turning each alert into one remediation flow run.
--
-- dispatch_state: 'pending' (no remediation run yet; new rows start here, internal
-- critical-path alerts included), 'dispatched' (flow_run_id names the run), 'failed' (the
-- Prefect API refused it dispatch_max_attempts times; dispatch_error says why), 'skipped'
-- (resolved before it was dispatched: nothing left to remediate).
ALTER TABLE perf.alerts
    ADD COLUMN dispatch_state text NOT NULL DEFAULT 'pending'
        CHECK (dispatch_state IN ('pending', 'dispatched', 'failed', 'skipped')),
    ADD COLUMN dispatch_attempts integer NOT NULL DEFAULT 0,
    -- Earliest time the pending dispatcher may try (again): a claim's lease, a backoff, or
    -- the grace left to the receiver's own inline dispatch.
    ADD COLUMN next_dispatch_at timestamptz NOT NULL DEFAULT now(),
    ADD COLUMN dispatched_at timestamptz,
    ADD COLUMN flow_run_id uuid,
    ADD COLUMN dispatch_error text,
    -- When the wedperf.alert.resolved event went to Prefect (NULL: not yet, if resolved).
    ADD COLUMN resolved_event_at timestamptz,
    -- Deliveries after the first of the same identity (Alertmanager repeats and retries).
    ADD COLUMN repeats integer NOT NULL DEFAULT 0,
    -- Webhook deliveries only (NULL for internal alerts): the sender's receiver name, the
    -- Alertmanager group key and external URL, the alert's generator URL, and the alert
    -- object as received.
    ADD COLUMN receiver text,
    ADD COLUMN group_key text,
    ADD COLUMN external_url text,
    ADD COLUMN generator_url text,
    ADD COLUMN payload jsonb,
    ADD CONSTRAINT alerts_dispatched_has_run
        CHECK (dispatch_state <> 'dispatched' OR flow_run_id IS NOT NULL);

-- History is not remediated: alerts already resolved are skipped and their resolution counts
-- as announced. Alerts firing now stay pending and are dispatched.
UPDATE perf.alerts
SET dispatch_state = 'skipped', resolved_event_at = ends_at
WHERE status = 'resolved';

CREATE INDEX alerts_pending_dispatch_idx ON perf.alerts (next_dispatch_at)
    WHERE dispatch_state = 'pending';
CREATE INDEX alerts_resolved_unannounced_idx ON perf.alerts (next_dispatch_at)
    WHERE status = 'resolved' AND resolved_event_at IS NULL;
CREATE INDEX alerts_failed_dispatch_idx ON perf.alerts (alert_id)
    WHERE dispatch_state = 'failed';
