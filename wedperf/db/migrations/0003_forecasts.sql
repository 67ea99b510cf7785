-- Load forecasts per series: one row per forecast hour of one fit.
--
-- A fit is identified by (series, model_version, origin), origin being the first forecast
-- hour: re-running the same fit replaces its rows, a different model or a later origin adds
-- a fit beside it. `backtest` holds the selection backtest's scores of every candidate
-- model (JSON numbers or null, never NaN), `fallback_reason` why no selection ran.
CREATE TABLE perf.forecasts (
    series          text NOT NULL,
    model_version   text NOT NULL,
    origin          timestamptz NOT NULL,
    ts              timestamptz NOT NULL,
    model           text NOT NULL,
    mean            double precision NOT NULL,
    lo_80           double precision NOT NULL,
    hi_80           double precision NOT NULL,
    lo_95           double precision NOT NULL,
    hi_95           double precision NOT NULL,
    train_start     timestamptz NOT NULL,
    train_end       timestamptz NOT NULL,
    backtest        jsonb NOT NULL DEFAULT '{}',
    fallback_reason text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (series, model_version, origin, ts),
    -- NaN sorts above every number in PostgreSQL, so these also refuse NaN and infinities.
    CHECK (mean > '-Infinity' AND mean < 'Infinity'),
    CHECK (lo_95 > '-Infinity' AND hi_95 < 'Infinity'),
    CHECK (lo_95 <= lo_80 AND lo_80 <= mean AND mean <= hi_80 AND hi_80 <= hi_95),
    CHECK (ts >= origin),
    CHECK (train_end < origin AND train_start <= train_end)
);
CREATE INDEX forecasts_series_ts_idx ON perf.forecasts (series, ts);

-- The forecast to act on: per series, the rows of its most recent fit (latest origin, then
-- latest written).
CREATE VIEW perf.latest_forecasts AS
SELECT f.*
FROM perf.forecasts f
JOIN (
    SELECT DISTINCT ON (series) series, model_version, origin
    FROM perf.forecasts
    ORDER BY series, origin DESC, created_at DESC
) latest USING (series, model_version, origin);
