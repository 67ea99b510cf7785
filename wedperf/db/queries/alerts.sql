-- The alert inbox (perf.alerts) as the webhook receiver and the dispatcher use it.
-- An alert's identity is (source, fingerprint, starts_at); at most one alert per
-- (source, fingerprint) is firing (partial unique index alerts_one_firing_idx).

-- name: upsert_alerts
-- Store one notification's alerts in one statement (autocommit: stored when it returns).
-- New identities are inserted; a repeat refreshes last_seen_at and the annotations and counts
-- the repeats (`deliveries`: copies merged into the row before it reached the database); a
-- resolved delivery resolves a firing alert (a pending dispatch is skipped: it recovered
-- before any remediation ran); a late firing copy of a resolved alert changes
-- nothing. Rows arrive sorted by identity so concurrent deliveries lock in the same order.
-- A firing alert whose fingerprint fires under another start conflicts with
-- alerts_one_firing_idx; the caller then resolves the older episode first (firing_now,
-- end_episodes) and retries.
INSERT INTO perf.alerts AS a
    (source, fingerprint, starts_at, status, ends_at, alertname, severity, wedding_id, labels,
     annotations, receiver, group_key, external_url, generator_url, payload, repeats,
     dispatch_state, next_dispatch_at, received_at, last_seen_at)
SELECT i.source, i.fingerprint, i.starts_at, i.status, i.ends_at, i.alertname, i.severity,
       i.wedding_id, coalesce(i.labels, '{}'), coalesce(i.annotations, '{}'), i.receiver,
       i.group_key, i.external_url, i.generator_url, i.payload, i.deliveries - 1,
       CASE WHEN i.status = 'firing' THEN 'pending' ELSE 'skipped' END,
       now() + %(grace)s, now(), now()
FROM jsonb_to_recordset(%(alerts)s) AS i(
    source text, fingerprint text, starts_at timestamptz, status text, ends_at timestamptz,
    alertname text, severity text, wedding_id text, labels jsonb, annotations jsonb,
    receiver text, group_key text, external_url text, generator_url text, payload jsonb,
    deliveries integer)
ORDER BY i.source, i.fingerprint, i.starts_at
ON CONFLICT (source, fingerprint, starts_at) DO UPDATE SET
    last_seen_at = now(),
    repeats = a.repeats + EXCLUDED.repeats + 1,
    annotations = CASE WHEN a.status = 'firing' THEN EXCLUDED.annotations ELSE a.annotations END,
    status = CASE WHEN EXCLUDED.status = 'resolved' THEN 'resolved' ELSE a.status END,
    ends_at = CASE WHEN a.status = 'firing' THEN EXCLUDED.ends_at ELSE a.ends_at END,
    dispatch_state = CASE
        WHEN EXCLUDED.status = 'resolved' AND a.dispatch_state = 'pending' THEN 'skipped'
        ELSE a.dispatch_state END,
    next_dispatch_at = CASE
        WHEN a.status = 'firing' AND EXCLUDED.status = 'resolved' THEN now() + %(grace)s
        ELSE a.next_dispatch_at END
RETURNING a.alert_id, a.source, a.fingerprint, a.starts_at, a.status, a.ends_at, a.alertname,
          a.severity, a.wedding_id, a.labels, a.annotations, a.generator_url,
          a.dispatch_state, a.resolved_event_at IS NULL AS unannounced, (a.xmax = 0) AS inserted;

-- name: firing_now
-- The firing episodes of the given (source, fingerprint) pairs, locked until the caller's
-- transaction ends.
SELECT a.alert_id, a.source, a.fingerprint, a.starts_at
FROM perf.alerts a
JOIN unnest(%(sources)s::text[], %(fingerprints)s::text[]) AS k(source, fingerprint)
  ON a.source = k.source AND a.fingerprint = k.fingerprint
WHERE a.status = 'firing'
ORDER BY a.source, a.fingerprint
FOR UPDATE OF a;

-- name: end_episodes
-- Resolve firing episodes superseded by a later start of the same alert (their resolved
-- notification was missed); a pending dispatch is skipped.
UPDATE perf.alerts a
SET status = 'resolved', ends_at = e.ended_at, last_seen_at = now(), next_dispatch_at = now(),
    dispatch_state = CASE WHEN a.dispatch_state = 'pending' THEN 'skipped' ELSE a.dispatch_state END
FROM unnest(%(alert_ids)s::bigint[], %(ended_at)s::timestamptz[]) AS e(alert_id, ended_at)
WHERE a.alert_id = e.alert_id AND a.status = 'firing';

-- name: claim_pending
-- Up to `limit` alerts waiting for a remediation run whose time has come (receiver grace,
-- backoff or an earlier claim's lease over). Claiming pushes next_dispatch_at by the lease so
-- a concurrent dispatcher skips them; a dispatcher that dies leaves them to the next one.
UPDATE perf.alerts a
SET next_dispatch_at = now() + %(lease)s
FROM (
    SELECT alert_id FROM perf.alerts
    WHERE dispatch_state = 'pending' AND next_dispatch_at <= now()
    ORDER BY next_dispatch_at, alert_id
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
) AS c
WHERE a.alert_id = c.alert_id
RETURNING a.alert_id, a.source, a.fingerprint, a.starts_at, a.status, a.ends_at, a.alertname,
          a.severity, a.wedding_id, a.labels, a.annotations, a.generator_url,
          a.dispatch_state, a.resolved_event_at IS NULL AS unannounced, false AS inserted;

-- name: claim_inline
-- A receiver's claim before its inline dispatch: of the given alerts, those still waiting for
-- a run that no dispatcher holds, leased as claim_pending leases (next_dispatch_at pushed by
-- the lease), so a repeat notification, another receiver or a sweep does not dispatch them
-- too. Claimable: an alert due now (an earlier claim's lease over, a refusal's backoff over,
-- or left due at once after an unreachable API), or a fresh one, which is told exactly: no
-- attempt yet and due at its arrival + inline grace, both set by the one statement that
-- inserted it (upsert_alerts; received_at is never updated). A claim (here or by a sweep)
-- moves next_dispatch_at to its claim + lease, later than arrival + grace since the lease is
-- longer (WebhookSettings checks it), so a claimed alert is not claimed again before its
-- lease ends, and a refused one not before its backoff ends. (After a change of the grace,
-- alerts stored under the old one are left to the sweep once due.) Rows locked by another
-- writer are skipped, never waited for: the claim takes them in id order, a notification's
-- upsert in identity order, and waiting could deadlock. A skipped row stays pending: the
-- receiver storing the repeat queues it again, or the sweep takes it after the grace.
UPDATE perf.alerts a
SET next_dispatch_at = now() + %(lease)s
FROM (
    SELECT alert_id FROM perf.alerts
    WHERE alert_id = ANY(%(alert_ids)s) AND status = 'firing' AND dispatch_state = 'pending'
      AND (next_dispatch_at <= now()
           OR (dispatch_attempts = 0 AND next_dispatch_at = received_at + %(grace)s))
    ORDER BY alert_id
    FOR UPDATE SKIP LOCKED
) AS c
WHERE a.alert_id = c.alert_id
RETURNING a.alert_id;

-- name: claim_unannounced
-- Up to `limit` resolved alerts whose wedperf.alert.resolved event has not gone out yet
-- (Prefect was unreachable, or they were resolved by a critical-path round).
UPDATE perf.alerts a
SET next_dispatch_at = now() + %(lease)s
FROM (
    SELECT alert_id FROM perf.alerts
    WHERE status = 'resolved' AND resolved_event_at IS NULL AND next_dispatch_at <= now()
      AND dispatch_state <> 'quarantined'
    ORDER BY next_dispatch_at, alert_id
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
) AS c
WHERE a.alert_id = c.alert_id
RETURNING a.alert_id, a.source, a.fingerprint, a.starts_at, a.status, a.ends_at, a.alertname,
          a.severity, a.wedding_id, a.labels, a.annotations, a.generator_url,
          a.dispatch_state, true AS unannounced, false AS inserted;

-- name: mark_dispatched
-- Remediation runs created (or found: the idempotency key returns the first run); the claim's
-- lease ends, so a later resolution is announced without waiting for it.
UPDATE perf.alerts a
SET dispatch_state = 'dispatched', flow_run_id = d.flow_run_id, next_dispatch_at = now(),
    dispatched_at = coalesce(a.dispatched_at, now()), dispatch_attempts = a.dispatch_attempts + 1,
    dispatch_error = NULL
FROM unnest(%(alert_ids)s::bigint[], %(flow_run_ids)s::uuid[]) AS d(alert_id, flow_run_id)
WHERE a.alert_id = d.alert_id;

-- name: mark_attempt_failed
-- Runs not created. An unreachable API (transient) leaves the alert pending and due at once
-- for the next sweep; a refusal backs off (10 s doubling, at most 5 min) and counts toward
-- max_attempts, after which the alert is failed.
UPDATE perf.alerts a
SET dispatch_attempts = a.dispatch_attempts + 1, dispatch_error = f.error,
    next_dispatch_at = CASE WHEN f.transient THEN now()
        ELSE now() + least(interval '5 minutes',
                           interval '10 seconds' * power(2, least(a.dispatch_attempts, 10)))
        END,
    dispatch_state = CASE
        WHEN NOT f.transient AND a.dispatch_attempts + 1 >= %(max_attempts)s THEN 'failed'
        ELSE a.dispatch_state END
FROM unnest(%(alert_ids)s::bigint[], %(errors)s::text[], %(transient)s::boolean[])
    AS f(alert_id, error, transient)
WHERE a.alert_id = f.alert_id AND a.dispatch_state = 'pending';

-- name: mark_skipped
-- Pending alerts found resolved: no remediation run.
UPDATE perf.alerts SET dispatch_state = 'skipped', next_dispatch_at = now()
WHERE alert_id = ANY(%(alert_ids)s) AND dispatch_state = 'pending';

-- name: mark_announced
-- The wedperf.alert.resolved event of these alerts went out.
UPDATE perf.alerts SET resolved_event_at = now()
WHERE alert_id = ANY(%(alert_ids)s) AND resolved_event_at IS NULL;

-- name: quarantine_alerts
-- Set aside alerts the dispatcher cannot handle (a value it cannot read, an error that is the
-- row's own), with the reason, and raise one internal alert for each (source 'wedperf',
-- AlertQuarantined; dispatched like any pending alert, so its firing event reaches whatever
-- automation pages). Nothing here reads the quarantined row's own timestamps.
WITH quarantined AS (
    UPDATE perf.alerts a
    SET dispatch_state = 'quarantined', quarantined_at = now(), quarantine_reason = q.reason,
        next_dispatch_at = now()
    FROM unnest(%(alert_ids)s::bigint[], %(reasons)s::text[]) AS q(alert_id, reason)
    WHERE a.alert_id = q.alert_id AND a.dispatch_state <> 'quarantined'
    RETURNING a.alert_id, a.source, left(a.alertname, 200) AS alertname, q.reason
), raised AS (
    INSERT INTO perf.alerts
        (source, fingerprint, starts_at, status, alertname, severity, labels, annotations)
    SELECT 'wedperf', 'quarantined-' || alert_id, now(), 'firing', 'AlertQuarantined', 'warning',
           jsonb_build_object('alertname', 'AlertQuarantined', 'severity', 'warning',
                              'quarantined_alert_id', alert_id::text,
                              'quarantined_source', source),
           jsonb_build_object('summary', 'alert ' || alert_id || ' (' || alertname
                                  || ') quarantined: the dispatcher cannot handle it',
                              'reason', reason)
    FROM quarantined
    ON CONFLICT DO NOTHING
    RETURNING alert_id
)
SELECT (SELECT count(*) FROM quarantined) AS quarantined, (SELECT count(*) FROM raised) AS raised;

-- name: dispatch_backlog
-- What is left for the dispatcher (each count served by a partial index): pending alerts and
-- the oldest one's age, failed alerts, resolved alerts whose event has not gone out,
-- quarantined alerts.
SELECT (SELECT count(*) FROM perf.alerts WHERE dispatch_state = 'pending') AS pending,
       (SELECT min(received_at) FROM perf.alerts WHERE dispatch_state = 'pending')
           AS oldest_pending,
       (SELECT count(*) FROM perf.alerts WHERE dispatch_state = 'failed') AS failed,
       (SELECT count(*) FROM perf.alerts
        WHERE status = 'resolved' AND resolved_event_at IS NULL
          AND dispatch_state <> 'quarantined') AS unannounced,
       (SELECT count(*) FROM perf.alerts WHERE dispatch_state = 'quarantined') AS quarantined;

-- name: use_nonce
-- A signed request's nonce, used once: returns a row only for its first use. Two requests
-- racing with one nonce serialise on the primary key, and one of them gets no row.
INSERT INTO perf.webhook_nonces (nonce, expires_at)
VALUES (%(nonce)s, %(expires_at)s)
ON CONFLICT (nonce) DO NOTHING
RETURNING true;

-- name: purge_nonces
-- Nonces whose request's timestamp is out of the replay window (the window refuses those).
DELETE FROM perf.webhook_nonces WHERE expires_at < %(before)s;
