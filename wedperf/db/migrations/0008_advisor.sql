-- The wedding-day database advisor (wedperf.advisor): per app database, the known-good
-- statistics of each wedding-day statement, and every advisor run's findings.
-- Statements are kept as pg_stat_statements normalises them ($1 placeholders, never literal
-- parameter values), identified by queryid: no guest names or other app data end up here.

CREATE TABLE perf.advisor_baselines (
    database      text             NOT NULL,  -- AdvisorSettings.database_label or the datname
    queryid       bigint           NOT NULL,
    query         text             NOT NULL,  -- normalised text
    calls         bigint           NOT NULL,
    total_exec_ms double precision NOT NULL,
    mean_exec_ms  double precision NOT NULL,
    rows          bigint           NOT NULL,
    captured_at   timestamptz      NOT NULL DEFAULT now(),
    PRIMARY KEY (database, queryid)
);

CREATE TABLE perf.advisor_runs (
    run_id    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    database  text        NOT NULL,
    ran_at    timestamptz NOT NULL DEFAULT now(),
    available boolean     NOT NULL,           -- false: pg_stat_statements could not be read
    message   text        NOT NULL DEFAULT '',
    findings  jsonb       NOT NULL            -- wedperf.advisor.report.AdvisorReport.to_dict()
);
CREATE INDEX advisor_runs_database_idx ON perf.advisor_runs (database, ran_at DESC);
