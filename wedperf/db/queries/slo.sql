-- name: sli_minutes
-- The SLI of one SLO for the given weddings, minute by minute in [start, end): total events
-- and good ones (latency <= threshold: the cumulative bucket at that bound) of the operation
-- and client group, from perf.rollups_minute. good is NULL where a row's bounds lack the
-- threshold (rolled up with another bound set); the caller reports it.
SELECT wedding_id, minute, events AS total,
       bucket_events[array_position(bucket_le, %(threshold)s::float8)] AS good
FROM perf.rollups_minute
WHERE operation = %(operation)s AND client = %(client)s
  AND wedding_id = ANY(%(wedding_ids)s::text[])
  AND minute >= %(start)s AND minute < %(end)s;

-- name: upsert_budget
-- One wedding's budget for one SLO at one round; re-running the round replaces it.
INSERT INTO perf.slo_budgets
    (wedding_id, slo, evaluated_at, window_start, window_end, operation, clients, threshold_s,
     objective, events, bad_events, consumed, remaining, burn_rate, exhaustion_burn, page,
     ticket, windows)
VALUES (%(wedding_id)s, %(slo)s, %(evaluated_at)s, %(window_start)s, %(window_end)s,
        %(operation)s, %(clients)s, %(threshold_s)s, %(objective)s, %(events)s, %(bad_events)s,
        %(consumed)s, %(remaining)s, %(burn_rate)s, %(exhaustion_burn)s, %(page)s, %(ticket)s,
        %(windows)s)
ON CONFLICT (wedding_id, slo, evaluated_at) DO UPDATE SET
    window_start = EXCLUDED.window_start, window_end = EXCLUDED.window_end,
    operation = EXCLUDED.operation, clients = EXCLUDED.clients,
    threshold_s = EXCLUDED.threshold_s, objective = EXCLUDED.objective,
    events = EXCLUDED.events, bad_events = EXCLUDED.bad_events, consumed = EXCLUDED.consumed,
    remaining = EXCLUDED.remaining, burn_rate = EXCLUDED.burn_rate,
    exhaustion_burn = EXCLUDED.exhaustion_burn, page = EXCLUDED.page,
    ticket = EXCLUDED.ticket, windows = EXCLUDED.windows;

-- name: resolve_alerts
-- Budget alerts whose burn stopped resolve (one statement for the round). Firing ones are
-- opened or refreshed with the critical path's fire_alert (same inbox, same rules). As
-- there, re-running an older round resolves nothing that started, or was seen, after it.
UPDATE perf.alerts
SET status = 'resolved', ends_at = %(at)s, last_seen_at = %(at)s
WHERE source = %(source)s AND fingerprint = ANY(%(fingerprints)s) AND status = 'firing'
  AND starts_at <= %(at)s AND last_seen_at <= %(at)s
RETURNING wedding_id, labels ->> 'slo', labels ->> 'severity';

-- name: resolve_closed
-- Safety net: a budget alert still firing for a wedding whose day window has closed (its
-- last round was missed) resolves as of the window's close. The event is over.
UPDATE perf.alerts AS a
SET status = 'resolved', ends_at = greatest(a.starts_at, w.ends_at + %(after)s),
    last_seen_at = %(at)s
FROM perf.weddings AS w
WHERE a.source = %(source)s AND a.status = 'firing' AND a.wedding_id = w.wedding_id
  AND w.ends_at + %(after)s <= %(at)s
RETURNING a.wedding_id, a.labels ->> 'slo', a.labels ->> 'severity';

-- name: budgets_of_weddings
-- Every stored round of the given weddings' budgets in [start, end), oldest first.
SELECT wedding_id, slo, evaluated_at, window_start, window_end, operation, clients,
       threshold_s, objective, events, bad_events, consumed, remaining, burn_rate,
       exhaustion_burn, page, ticket, windows
FROM perf.slo_budgets
WHERE wedding_id = ANY(%(wedding_ids)s::text[])
  AND evaluated_at >= %(start)s AND evaluated_at < %(end)s
ORDER BY wedding_id, slo, evaluated_at;

-- name: budget_alerts_of_weddings
-- The budget alerts (page, ticket) of the given weddings, for the burn-down figure.
SELECT wedding_id, labels ->> 'slo' AS slo, severity, starts_at, ends_at, status
FROM perf.alerts
WHERE source = %(source)s AND wedding_id = ANY(%(wedding_ids)s::text[])
ORDER BY starts_at;

-- name: firing_budget_alerts
-- Which budget alerts of the given weddings were firing when the round at %(at)s began
-- (wedding, SLO, severity): an alert that fires keeps firing while its burn has not stopped.
-- "When the round began", not "now": an episode opened by an earlier round and still firing,
-- or resolved by this round or a later one; so re-running an older round sees the state the
-- round saw the first time and decides the same.
SELECT wedding_id, labels ->> 'slo', severity
FROM perf.alerts
WHERE source = %(source)s AND wedding_id = ANY(%(wedding_ids)s::text[])
  AND starts_at < %(at)s AND (status = 'firing' OR ends_at >= %(at)s);
