"""Calendar-aware load forecasting (statsmodels).

Kept import-light (config.py imports `settings` from here); the pieces, in data order:

- `series`: raw `timestamp,value` -> clean hourly series (gaps, duplicates, negatives)
- `events`: generic `Event` calendars (CSV) and weddings split into day phases
- `features`: hourly calendar features (events, weddings, holidays, hour of week)
- `base`, `models`, `profile`, `adapter`: the forecasters (`snaive`, `snaive_cal`,
  `calendar_reg`, `profile`, `profile_ar`, `mstl_reg`) behind one fit/predict interface;
  statsmodels quirks live in `adapter`
- `calibrate`, `backtest`: conformal intervals, rolling-origin backtests
- `selection`: combinations of the best models and the online choice (closed origins only)
- `pipeline`: one series from history to a checked forecast, with fallbacks
- `sources`, `inputs`, `store`, `report`: the database side and the Prefect artifacts
- `evaluate`: backtest any CSV series against any event CSV (the CLI and the benchmark)
"""
