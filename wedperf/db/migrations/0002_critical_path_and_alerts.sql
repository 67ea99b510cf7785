-- Wedding-day critical-path evaluations, and the alert inbox they (and, later, webhooks) feed.

-- One row per wedding, check and evaluation round. The round instant is on the watch grid,
-- so a retried round overwrites its own rows instead of adding more.
CREATE TABLE perf.critical_path_checks (
    wedding_id   text NOT NULL,
    check_name   text NOT NULL,
    evaluated_at timestamptz NOT NULL,
    value        double precision,
    threshold    double precision NOT NULL,  -- the breach threshold in force
    warn_threshold double precision NOT NULL,
    status       text NOT NULL CHECK (status IN ('ok', 'warn', 'breach')),
    detail       text NOT NULL DEFAULT '',
    PRIMARY KEY (wedding_id, check_name, evaluated_at),
    CHECK (value IS NULL OR value = value)  -- no NaN
);
CREATE INDEX critical_path_checks_round_idx ON perf.critical_path_checks (evaluated_at);

-- The alert inbox: every alert wedperf knows of, internal or from a webhook. An alert's
-- identity is (source, fingerprint, starts_at); at most one alert per (source, fingerprint)
-- is firing at a time, so repeated breaches or repeated deliveries update it, never add one.
CREATE TABLE perf.alerts (
    alert_id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source       text NOT NULL,
    fingerprint  text NOT NULL,
    starts_at    timestamptz NOT NULL,
    status       text NOT NULL CHECK (status IN ('firing', 'resolved')),
    ends_at      timestamptz,
    alertname    text NOT NULL,
    severity     text,
    wedding_id   text,
    labels       jsonb NOT NULL DEFAULT '{}',
    annotations  jsonb NOT NULL DEFAULT '{}',
    received_at  timestamptz NOT NULL DEFAULT now(),
    last_seen_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (source, fingerprint, starts_at),
    CHECK (status = 'firing' OR ends_at IS NOT NULL)
);
CREATE UNIQUE INDEX alerts_one_firing_idx ON perf.alerts (source, fingerprint)
    WHERE status = 'firing';
CREATE INDEX alerts_wedding_idx ON perf.alerts (wedding_id, starts_at);
