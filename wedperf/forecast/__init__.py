"""Calendar-aware load forecasting (statsmodels).

Kept import-light (config.py imports `settings` from here); the pieces, in data order:

- `series`: raw `timestamp,value` -> clean hourly series (gaps, duplicates, negatives)
- `events`: generic `Event` calendars (CSV) and weddings split into day phases
- `features`: hourly calendar features (events, weddings, holidays, hour of week)
- `base`, `models`, `adapter`: the forecasters (`snaive`, `calendar_reg`, `mstl_reg`)
  behind one fit/predict interface; statsmodels quirks live in `adapter`
- `calibrate`, `backtest`: conformal intervals, rolling-origin backtests, selection
- `pipeline`: one series from history to a checked forecast, with fallbacks
- `sources`, `inputs`, `store`, `report`: the database side and the Prefect artifacts
- `evaluate`: backtest any CSV series against any event CSV (the CLI and the benchmark)
"""
