-- What each wedding's critical-path artifacts last showed: the status of every check when
-- its artifacts were last published successfully. A watch round republishes a wedding when
-- its statuses differ from these (so a failed or skipped publish is caught up next round)
-- and otherwise only when its periodic refresh is due.
CREATE TABLE perf.critical_path_published (
    wedding_id   text PRIMARY KEY,
    statuses     jsonb NOT NULL,          -- {"check_name": "ok" | "warn" | "breach", ...}
    evaluated_at timestamptz NOT NULL,    -- the round the published artifacts describe
    published_at timestamptz NOT NULL DEFAULT now()
);
