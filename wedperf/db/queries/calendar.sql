-- name: create_staging
-- A per-transaction staging table with perf.weddings' columns, filled by COPY.
CREATE TEMP TABLE weddings_staging (
    wedding_id text, starts_at timestamptz, ends_at timestamptz, timezone text,
    venue text, guest_count integer, status text, active_guests integer,
    guests_not_declined integer, guests_engaged integer,
    -- The wedding is older than the sync reads guest signals for: keep what is stored.
    keep_estimate boolean
) ON COMMIT DROP;

-- name: upsert_weddings
-- Insert new weddings and update changed ones; unchanged rows are not touched, so
-- `updated_at` means "the calendar changed". The active-guest estimate counts as a change
-- (a wedding entering its cutoff, a decline after it): the floor is sized on it. The guest
-- counts behind it do not (an install weeks ahead is not a calendar change, and would
-- otherwise re-plan every wedding on every sync): they are written along with a change and
-- are diagnostics only. Returns one row per inserted/updated wedding.
INSERT INTO perf.weddings AS w
    (wedding_id, source, starts_at, ends_at, timezone, venue, guest_count, status, cancelled_at,
     active_guests, guests_not_declined, guests_engaged)
SELECT s.wedding_id, %(source)s, s.starts_at, s.ends_at, s.timezone, s.venue, s.guest_count,
       s.status, CASE WHEN s.status = 'cancelled' THEN now() END,
       CASE WHEN s.keep_estimate THEN old.active_guests ELSE s.active_guests END,
       CASE WHEN s.keep_estimate THEN old.guests_not_declined ELSE s.guests_not_declined END,
       CASE WHEN s.keep_estimate THEN old.guests_engaged ELSE s.guests_engaged END
FROM weddings_staging s
LEFT JOIN perf.weddings old ON old.wedding_id = s.wedding_id
ON CONFLICT (wedding_id) DO UPDATE SET
    source = EXCLUDED.source,
    starts_at = EXCLUDED.starts_at,
    ends_at = EXCLUDED.ends_at,
    timezone = EXCLUDED.timezone,
    venue = EXCLUDED.venue,
    guest_count = EXCLUDED.guest_count,
    status = EXCLUDED.status,
    updated_at = now(),
    cancelled_at = CASE
        WHEN EXCLUDED.status = 'cancelled' THEN coalesce(w.cancelled_at, now())
    END,
    active_guests = EXCLUDED.active_guests,
    guests_not_declined = EXCLUDED.guests_not_declined,
    guests_engaged = EXCLUDED.guests_engaged
WHERE (w.source, w.starts_at, w.ends_at, w.timezone, w.venue, w.guest_count, w.status,
       w.active_guests)
      IS DISTINCT FROM
      (EXCLUDED.source, EXCLUDED.starts_at, EXCLUDED.ends_at, EXCLUDED.timezone,
       EXCLUDED.venue, EXCLUDED.guest_count, EXCLUDED.status, EXCLUDED.active_guests)
RETURNING w.wedding_id, (xmax = 0) AS inserted;

-- name: cancel_vanished
-- Upcoming weddings of this source that its latest full snapshot no longer lists are
-- cancelled (their planned runs must not fire). Past weddings are history and stay.
UPDATE perf.weddings w
SET status = 'cancelled', cancelled_at = now(), updated_at = now()
WHERE w.source = %(source)s
  AND w.status <> 'cancelled'
  AND w.starts_at > %(now)s
  AND NOT EXISTS (SELECT 1 FROM weddings_staging s WHERE s.wedding_id = w.wedding_id)
RETURNING w.wedding_id;

-- name: record_reject
-- Remember a rejected calendar row and why, until it is fixed.
INSERT INTO perf.calendar_rejects (source, source_key, reason)
VALUES (%(source)s, %(source_key)s, %(reason)s)
ON CONFLICT (source, source_key) DO UPDATE
SET reason = EXCLUDED.reason, last_seen_at = now();

-- name: clear_fixed_rejects
-- Rows of this source that now sync cleanly are no longer rejects.
DELETE FROM perf.calendar_rejects r
WHERE r.source = %(source)s
  AND EXISTS (SELECT 1 FROM weddings_staging s WHERE s.wedding_id = r.source_key);

-- name: weddings_in_window
-- Weddings (not cancelled) whose day window overlaps [start, end).
SELECT wedding_id, starts_at, ends_at, timezone, venue, guest_count, status, active_guests
FROM perf.weddings
WHERE status <> 'cancelled'
  AND starts_at - %(before)s < %(end)s
  AND ends_at + %(after)s > %(start)s
ORDER BY starts_at, wedding_id;

-- name: weddings_by_id
-- The named weddings as perf.weddings has them now, in ceremony order.
SELECT wedding_id, starts_at, ends_at, timezone, venue, guest_count, status, active_guests
FROM perf.weddings
WHERE wedding_id = ANY(%(ids)s)
ORDER BY starts_at, wedding_id;
