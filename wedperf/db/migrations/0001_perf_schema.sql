-- wedperf's own schema. It holds ids, counts and timings of weddings, never guest names or
-- contact details (those stay in the app's database).

CREATE SCHEMA IF NOT EXISTS perf;

-- The wedding calendar, normalised from the app-DB views or an iCalendar feed.
-- Instants are UTC (timestamptz); `timezone` is the venue's IANA zone, kept so local-time
-- questions ("16:00 at the venue") stay answerable across daylight-saving changes.
CREATE TABLE perf.weddings (
    wedding_id   text PRIMARY KEY,
    source       text NOT NULL,
    starts_at    timestamptz NOT NULL,
    ends_at      timestamptz NOT NULL,
    timezone     text NOT NULL,
    venue        text,
    guest_count  integer NOT NULL CHECK (guest_count >= 0),
    status       text NOT NULL CHECK (status IN ('scheduled', 'confirmed', 'completed', 'cancelled')),
    first_seen_at timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    cancelled_at timestamptz,
    CHECK (ends_at > starts_at)
);
CREATE INDEX weddings_starts_at_idx ON perf.weddings (starts_at);
CREATE INDEX weddings_live_window_idx ON perf.weddings (starts_at, ends_at)
    WHERE status <> 'cancelled';

-- Calendar rows that could not be used, with the reason: reported, never silently dropped.
-- `source_key` identifies the row in its source; no other content of the row is kept.
CREATE TABLE perf.calendar_rejects (
    source      text NOT NULL,
    source_key  text NOT NULL,
    reason      text NOT NULL,
    first_seen_at timestamptz NOT NULL DEFAULT now(),
    last_seen_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source, source_key)
);

-- Raw metric samples, partitioned by day. The natural key (source, metric, operation, series,
-- ts) makes re-collecting a window harmless. `series` is the identity of one time series
-- within its source (a Prometheus label set, a notification, a probe target).
CREATE TABLE perf.samples (
    ts            timestamptz NOT NULL,
    source        text NOT NULL,
    metric        text NOT NULL,
    operation     text NOT NULL,
    series        text NOT NULL,
    wedding_id    text,
    attributed_by text NOT NULL CHECK (attributed_by IN ('label', 'url', 'row', 'window')),
    value         double precision NOT NULL,
    PRIMARY KEY (ts, source, metric, operation, series)
) PARTITION BY RANGE (ts);
CREATE INDEX samples_wedding_idx ON perf.samples (wedding_id, operation, ts)
    WHERE wedding_id IS NOT NULL;

-- Per minute latency rollups per wedding and operation. wedding_id NULL is the whole platform.
CREATE TABLE perf.rollups_minute (
    minute      timestamptz NOT NULL,
    operation   text NOT NULL,
    wedding_id  text,
    samples     bigint NOT NULL,
    p50         double precision NOT NULL,
    p95         double precision NOT NULL,
    p99         double precision NOT NULL,
    CONSTRAINT rollups_minute_key UNIQUE NULLS NOT DISTINCT (minute, operation, wedding_id)
);
CREATE INDEX rollups_minute_wedding_idx ON perf.rollups_minute (wedding_id, operation, minute);

-- Daily partitions of perf.samples for [from_day, to_day]; returns how many were created.
-- Creating one that exists is a no-op, so callers may ask for the same days repeatedly.
CREATE FUNCTION perf.ensure_sample_partitions(from_day date, to_day date)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    day date := from_day;
    created integer := 0;
    part_name text;
BEGIN
    -- Two collectors may ask for the same new day at once; take turns.
    PERFORM pg_advisory_xact_lock(hashtext('perf.ensure_sample_partitions'));
    WHILE day <= to_day LOOP
        part_name := 'samples_' || to_char(day, 'YYYYMMDD');
        IF to_regclass('perf.' || part_name) IS NULL THEN
            EXECUTE format(
                'CREATE TABLE perf.%I PARTITION OF perf.samples FOR VALUES FROM (%L) TO (%L)',
                part_name,
                (day::timestamp AT TIME ZONE 'UTC'),
                ((day + 1)::timestamp AT TIME ZONE 'UTC'));
            created := created + 1;
        END IF;
        day := day + 1;
    END LOOP;
    RETURN created;
END;
$$;
