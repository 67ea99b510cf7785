-- Queries of the sandbox app's request handlers (wedperf.sandbox.app), by name.
-- Parameters are psycopg %(name)s placeholders.

-- name: wedding_exists
SELECT 1 FROM app.weddings WHERE id = %(wedding_id)s;

-- name: guest_list
-- The guest list screen: every guest with RSVP and seat, table by table (unseated last).
-- Its columns and order are the cache contract's guest_list (wedperf.prewarm.contract).
SELECT g.id AS guest_id, g.rsvp, g.table_no
FROM app.guests AS g
WHERE g.wedding_id = %(wedding_id)s
ORDER BY g.table_no NULLS LAST, g.id;

-- name: timeline
-- The run-of-show, in order (the cache contract's timeline).
SELECT t.item, t.scheduled_at, t.started_at, t.completed_at
FROM app.timeline_items AS t
WHERE t.wedding_id = %(wedding_id)s
ORDER BY t.scheduled_at, t.id;

-- name: timeline_vendors
-- Who is working the day; the timeline screen lists them beside the items (the contract's
-- vendors).
SELECT v.id AS vendor_id, v.kind
FROM app.vendors AS v
WHERE v.wedding_id = %(wedding_id)s
ORDER BY v.id;

-- name: insert_photo
-- Stores the upload's size; the image itself would go to object storage.
INSERT INTO app.photos (wedding_id, bytes, uploaded_at)
VALUES (%(wedding_id)s, %(bytes)s, %(uploaded_at)s)
RETURNING id;

-- name: insert_notification
-- No row if the vendor does not work this wedding.
INSERT INTO app.vendor_notifications (wedding_id, vendor_id, message, sent_at)
SELECT v.wedding_id, v.id, %(message)s, %(sent_at)s
FROM app.vendors AS v
WHERE v.id = %(vendor_id)s AND v.wedding_id = %(wedding_id)s
RETURNING id;

-- name: mark_delivered
UPDATE app.vendor_notifications SET delivered_at = %(delivered_at)s
WHERE id = %(notification_id)s;
