-- Per-wedding error budgets: one row per wedding, SLO and evaluation round (natural key: a
-- retried round overwrites its own rows). What the round saw of the wedding's day window so
-- far: its events, the bad ones, the share of the budget consumed, the burn rate, and each
-- alert window's verdict. Ids, counts and rates only.
CREATE TABLE perf.slo_budgets (
    wedding_id      text NOT NULL,
    slo             text NOT NULL,
    evaluated_at    timestamptz NOT NULL,
    window_start    timestamptz NOT NULL,
    window_end      timestamptz NOT NULL,
    operation       text NOT NULL,
    clients         text NOT NULL,
    threshold_s     double precision NOT NULL,
    objective       double precision NOT NULL CHECK (objective > 0 AND objective < 1),
    events          double precision NOT NULL CHECK (events >= 0),
    bad_events      double precision NOT NULL CHECK (bad_events >= 0),
    -- Weighted by phase (the ceremony may count more); remaining = 1 - consumed, negative
    -- once the budget is overspent.
    consumed        double precision NOT NULL,
    remaining       double precision NOT NULL,
    burn_rate       double precision,           -- the first alert window's long span; NULL: no events
    exhaustion_burn double precision NOT NULL,  -- 'Infinity' once the window has closed
    page            boolean NOT NULL,
    ticket          boolean NOT NULL,
    windows         jsonb NOT NULL,             -- [{name, severity, long_minutes, ...}]
    PRIMARY KEY (wedding_id, slo, evaluated_at),
    CHECK (window_end > window_start),
    CHECK (evaluated_at <= window_end)
);
CREATE INDEX slo_budgets_round_idx ON perf.slo_budgets (evaluated_at);
