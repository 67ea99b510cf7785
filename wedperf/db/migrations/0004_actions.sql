-- What wedperf did (or would have done): every capacity change, pre-warm step and remediation
-- action, dry or real, with why and for which weddings.

CREATE TABLE perf.actions (
    action_id   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    plan_id     text NOT NULL,          -- the planned run (or remediation) this belongs to
    kind        text NOT NULL,          -- capacity_raise, capacity_restore, prewarm_redis, ...
    target      text NOT NULL,          -- actuator target, cache, database...
    before      text,
    after       text,
    reason      text NOT NULL,
    wedding_ids text[] NOT NULL DEFAULT '{}',
    dry_run     boolean NOT NULL,
    outcome     text NOT NULL CHECK (outcome IN ('done', 'dry-run', 'planned', 'skipped', 'failed')),
    detail      text NOT NULL DEFAULT '',
    acted_at    timestamptz NOT NULL DEFAULT now(),
    -- A retried run records its step once: the natural key of a step is (plan, kind, target).
    UNIQUE (plan_id, kind, target)
);
CREATE INDEX actions_target_idx ON perf.actions (target, acted_at);
CREATE INDEX actions_weddings_idx ON perf.actions USING gin (wedding_ids);

-- Per capacity target: the floor it had before wedperf raised it (restored afterwards) and
-- the floor wedperf set last.
CREATE TABLE perf.capacity_state (
    target       text PRIMARY KEY,
    baseline     integer,        -- NULL: no raise in force
    floor        integer NOT NULL,
    changed_at   timestamptz NOT NULL DEFAULT now()
);
