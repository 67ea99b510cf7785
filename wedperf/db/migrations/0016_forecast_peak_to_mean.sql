-- The within-hour peak of a request-rate series over its hourly mean, learned from the
-- history a fit read (wedperf.forecast.requests.peak_to_mean); NULL for series without
-- minute resolution (view and sample counts). A floor sized on the hourly forecast
-- multiplies by it.
ALTER TABLE perf.forecasts ADD COLUMN peak_to_mean double precision
    CHECK (peak_to_mean >= 1 AND peak_to_mean < 'Infinity');

-- The view's `f.*` was expanded when it was created: replace it so it carries the column.
CREATE OR REPLACE VIEW perf.latest_forecasts AS
SELECT f.*
FROM perf.forecasts f
JOIN (
    SELECT DISTINCT ON (series) series, model_version, origin
    FROM perf.forecasts
    ORDER BY series, origin DESC, created_at DESC
) latest USING (series, model_version, origin);
