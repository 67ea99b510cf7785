"""Flow: fit calendar-aware load forecasts for the configured series and store them."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.states import Failed
from prefect.task_runners import ProcessPoolTaskRunner, ThreadPoolTaskRunner

from tasks.forecast import fit_series_task, load_forecast_inputs, store_forecasts_task
from wedperf.forecast.inputs import FitOptions
from wedperf.forecast.report import backtest_rows, last_forecast_markdown
from wedperf.runtime import get_runtime


@flow(name="fit-forecasts", log_prints=True)
def fit_forecasts(series: list[str] | None = None, end: datetime | None = None) -> dict:
    """Forecast the next hours of every configured series (or the named ones) from the
    history before `end` (default now): backtest every candidate model per series over
    rolling origins, choose online among them and the means of the best few (the
    candidate with the best MASE over the latest closed origins), refit, calibrate, store
    in perf.forecasts, and leave the artifacts
    `forecast-backtest` (scores per series and model) and `forecast-last` (the last
    backtest forecast against actuals).

    Series are fitted in parallel, one task each, on a thread or process pool (settings
    `forecast.task_runner`, `forecast.workers`). A series without enough history is
    skipped with the reason; one whose fit fails fails the run, after the others are stored.
    """
    logger = get_run_logger()
    settings = get_runtime().settings.forecast
    specs = [s for s in settings.series if series is None or s.name in series]
    unknown = sorted(set(series or ()) - {s.name for s in specs})
    if unknown:
        raise ValueError(
            f"unknown series {unknown}; configured: {[s.name for s in settings.series]}"
        )
    inputs = load_forecast_inputs(specs, end or datetime.now(UTC))
    logger.info(
        "origin %s: %d series to fit, %d skipped",
        inputs.origin.isoformat(),
        len(inputs.series),
        len(inputs.skipped),
    )

    options = FitOptions.from_settings(settings)
    runner = (
        ProcessPoolTaskRunner(max_workers=settings.workers)
        if settings.task_runner == "process"
        else ThreadPoolTaskRunner(max_workers=settings.workers)
    )
    fits, failures = [], {}
    with runner:
        futures = {
            name: runner.submit(
                fit_series_task,
                {"name": name, "y": y, "features": inputs.features, "options": options},
            )
            for name, y in inputs.series.items()
        }
        for name, future in futures.items():
            future.wait()
            if future.state.is_completed():
                # The within-hour peak ratio is the history's, not the model's: kept beside it.
                fits.append(replace(future.result(), peak_to_mean=inputs.peak_to_mean.get(name)))
            else:
                failures[name] = str(future.state.message or "failed")
    stored = store_forecasts_task(fits) if fits else 0

    create_table_artifact(
        key="forecast-backtest",
        table=backtest_rows(fits) or [{"series": "-", "model": "-", "selected": False}],
        description=(
            f"Selection backtest per series and candidate (models and means of the best K), "
            f"origin {inputs.origin:%Y-%m-%d %H:%M} UTC (MASE vs the weekly seasonal naive, "
            "overall and on event/ordinary hours; coverage of conformal 80/95% intervals)"
        ),
    )
    create_markdown_artifact(
        key="forecast-last",
        markdown=last_forecast_markdown(fits, inputs.skipped | failures),
        description="Latest forecasts and the last backtest forecast against actuals",
    )
    summary = {
        "origin": inputs.origin.isoformat(),
        "stored_rows": stored,
        "series": {
            fit.series: {
                "model": fit.model,
                "model_version": fit.model_version,
                "members": list(fit.members),
                "fallback_reason": fit.fallback_reason,
                "hours": len(fit.forecast),
            }
            for fit in fits
        },
        "skipped": inputs.skipped,
        "failed": failures,
    }
    if failures:
        return Failed(
            message="series failed: " + "; ".join(f"{n}: {m}" for n, m in failures.items()),
            data=summary,
        )
    return summary
