-- Per capacity target: the autoscaler target utilisation (%) it had before wedperf lowered it
-- for an event window (restored afterwards), and the value wedperf set last (a restore only
-- puts the baseline back over wedperf's own value, never over someone else's change).
CREATE TABLE perf.capacity_utilisation (
    target       text PRIMARY KEY,
    baseline     integer CHECK (baseline BETWEEN 1 AND 1000),  -- NULL: no lowering in force
    utilisation  integer NOT NULL CHECK (utilisation BETWEEN 1 AND 1000),
    changed_at   timestamptz NOT NULL DEFAULT now()
);
