"""Forecast tasks: read the series and the calendar, fit one series, store the forecasts."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import pandas as pd
from prefect import task
from prefect.cache_policies import NONE

from wedperf.db.connection import get_pool, with_db_retry
from wedperf.forecast.inputs import FitOptions, ForecastInputs, load_inputs
from wedperf.forecast.pipeline import SeriesForecast
from wedperf.forecast.settings import SeriesSpec
from wedperf.forecast.store import store_forecasts
from wedperf.forecast.threads import single_threaded_blas
from wedperf.runtime import get_runtime


@task(name="load-forecast-inputs", retries=2, retry_delay_seconds=[5, 30], cache_policy=NONE)
def load_forecast_inputs(specs: Sequence[SeriesSpec], end: datetime) -> ForecastInputs:
    """Each series' hourly history before `end` (app-DB views, perf.samples), the wedding
    calendar (perf.weddings) and the configured event CSV, as calendar features."""
    runtime = get_runtime()
    settings = runtime.settings

    def attempt() -> ForecastInputs:
        app_pool = get_pool(runtime.services.app_database_url)
        with app_pool.connection() as app_conn, runtime.pool.connection() as perf_conn:
            return load_inputs(
                app_conn,
                perf_conn,
                settings.forecast,
                specs,
                end=end,
                source_schema=settings.source_schema,
                prometheus=settings.prometheus,
            )

    return with_db_retry(attempt, what="reading forecast inputs")


@task(name="fit-series", task_run_name="fit-{name}", cache_policy=NONE)
def fit_series_task(
    name: str, y: pd.Series, features: pd.DataFrame, options: FitOptions
) -> SeriesForecast:
    """Select, refit and calibrate one series (pure CPU: no retries). Runs in a worker
    process; its BLAS is kept to one thread so parallel fits do not fight over cores."""
    single_threaded_blas()
    return options.fit(name, y, features)


@task(name="store-forecasts", retries=2, retry_delay_seconds=[2, 10], cache_policy=NONE)
def store_forecasts_task(fits: Sequence[SeriesForecast]) -> int:
    """Write each fit to perf.forecasts (replacing a re-run of the same fit)."""
    return store_forecasts(get_runtime().pool, fits)
