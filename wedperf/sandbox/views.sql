-- The app-DB contract (wedperf.contract, README "Wedding calendar"): the reference mapping of the
-- sandbox app's tables onto the views wedperf reads. {schema} is filled in with
-- psycopg.sql.Identifier by wedperf.sandbox.ddl.create_views.
-- Rows pass through unvalidated: checking them is wedperf's job, not the views'.
-- No view exposes guest names or contact details.

CREATE SCHEMA IF NOT EXISTS {schema};

DROP VIEW IF EXISTS {schema}.weddings, {schema}.guest_checkins, {schema}.timeline_items,
    {schema}.vendor_notifications, {schema}.incidents, {schema}.guest_list, {schema}.vendors,
    {schema}.seating, {schema}.guest_engagement;

-- starts_at is the ceremony start, ends_at the end of the reception.
CREATE VIEW {schema}.weddings AS
SELECT w.id                AS wedding_id,
       w.ceremony_at       AS starts_at,
       w.reception_ends_at AS ends_at,
       w.timezone,
       w.venue,
       w.guest_count,
       w.status
FROM app.weddings AS w;

CREATE VIEW {schema}.guest_checkins AS
SELECT c.wedding_id, c.guest_id, c.checked_in_at
FROM app.guest_checkins AS c;

CREATE VIEW {schema}.timeline_items AS
SELECT t.wedding_id, t.item, t.scheduled_at, t.started_at, t.completed_at
FROM app.timeline_items AS t;

CREATE VIEW {schema}.vendor_notifications AS
SELECT n.wedding_id, n.vendor_id, n.sent_at, n.delivered_at, n.acknowledged_at
FROM app.vendor_notifications AS n;

CREATE VIEW {schema}.incidents AS
SELECT i.wedding_id, i.severity, i.opened_at, i.first_response_at, i.resolved_at
FROM app.incidents AS i;

-- Pre-warm views: the wedding's own data that the cache is warmed from. Ids and seating only.
CREATE VIEW {schema}.guest_list AS
SELECT g.wedding_id, g.id AS guest_id, g.rsvp, g.table_no
FROM app.guests AS g;

CREATE VIEW {schema}.vendors AS
SELECT v.wedding_id, v.id AS vendor_id, v.kind
FROM app.vendors AS v;

CREATE VIEW {schema}.seating AS
SELECT s.wedding_id, s.table_no, s.seats
FROM app.seating AS s;

-- Optional in the contract: what the app knows ahead of a wedding about who will use it on
-- the day (wedperf's calendar sync sizes weddings by it; without it, by invited guests).
-- One row per invited guest, no guest id, name or contact: RSVP and two timestamps.
CREATE VIEW {schema}.guest_engagement AS
SELECT g.wedding_id, g.rsvp, g.app_installed_at, g.guest_list_opened_at
FROM app.guests AS g;
