"""`wedperf forecast ...`: backtest any series against any event calendar; fit and store
forecasts for the configured series."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import typer

from cli._common import fail, quiet_prefect, step

app = typer.Typer(no_args_is_help=True)


@app.command("backtest")
def backtest_command(
    series: Path = typer.Option(
        ..., "--series", exists=True, dir_okay=False, help="CSV with timestamp,value"
    ),
    events: Path | None = typer.Option(
        None, "--events", exists=True, dir_okay=False, help="CSV with name,start,end[,weight]"
    ),
    horizon: int = typer.Option(48, "--horizon", min=1, help="hours to forecast"),
    step_hours: int = typer.Option(24, "--step", min=1, help="hours between origins"),
    weeks: float = typer.Option(8.0, "--weeks", min=0.1, help="score origins in the last N weeks"),
    warmup: int = typer.Option(
        14, "--warmup", min=0, help="earlier origins used only to calibrate intervals"
    ),
    train_weeks: float = typer.Option(12.0, "--train-weeks", min=2.0, help="training window"),
    agg: str = typer.Option("sum", "--agg", help="sub-hourly points to an hour: sum or mean"),
    tz: str = typer.Option("UTC", "--tz", help="zone of naive timestamps and local clock"),
    country: str = typer.Option("US", "--country", help="public holidays; '' for none"),
    subdivision: str | None = typer.Option(None, "--subdiv", help="holiday region, e.g. NY"),
    models: str | None = typer.Option(
        None, "--models", help="comma-separated model names (default: the production set)"
    ),
    window: int = typer.Option(
        14, "--window", min=1, help="closed origins behind each online choice and interval"
    ),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object"),
) -> None:
    """Rolling-origin backtest of every model and combination on a CSV series (resampled
    to hourly) with an event calendar: online selection first (the choice fit-forecasts
    makes, from closed origins only), then each candidate's MASE overall, on event and on
    ordinary hours, sMAPE, 80/95% coverage and fit seconds, and the simple profile
    baseline."""
    # Imported here so `wedperf --help` stays fast.
    from wedperf.forecast.evaluate import BacktestOptions, backtest_files
    from wedperf.forecast.settings import DEFAULT_MODELS, MODEL_NAMES
    from wedperf.forecast.threads import single_threaded_blas

    if agg not in ("sum", "mean"):
        raise typer.BadParameter("must be sum or mean", param_hint="--agg")
    chosen = tuple(m.strip() for m in models.split(",")) if models else DEFAULT_MODELS
    unknown = [m for m in chosen if m not in MODEL_NAMES]
    if unknown:
        raise typer.BadParameter(
            f"unknown {unknown}; choose from {', '.join(MODEL_NAMES)}", param_hint="--models"
        )
    single_threaded_blas()
    options = BacktestOptions(
        horizon=horizon,
        step=step_hours,
        weeks=weeks,
        warmup=warmup,
        train_hours=int(train_weeks * 168),
        models=chosen,
        window=window,
        agg=agg,  # type: ignore[arg-type]
        tz=tz,
        holiday_country=country or None,
        holiday_subdivision=subdivision,
    )
    if not as_json:
        step(f"backtesting {', '.join(chosen)} on {series.name}")
    try:
        result = backtest_files(series, events, options)
    except ValueError as exc:
        fail(str(exc))
    if as_json:
        typer.echo(json.dumps(result, indent=2))
        return
    _print_table(result)


def _print_table(result: dict) -> None:
    report = result.get("series_report", {})
    typer.echo(
        f"{result['hours']} hourly points {result['start']} .. {result['end']}; "
        f"{result['origins']} origins scored (+{result['warmup_origins']} warm-up), "
        f"horizon {result['horizon']} h, step {result['step']} h"
    )
    fixes = {k: report.get(k) for k in ("duplicates", "negatives", "filled_hours")}
    if any(fixes.values()):
        typer.echo("input fixed: " + ", ".join(f"{k} {v}" for k, v in fixes.items() if v))
    if result["events"]["outside_span"]:
        typer.echo(f"{result['events']['outside_span']} events outside the series were ignored")
    online = result["online_selection"]
    baseline = result["profile_baseline_mase"]
    header = f"{'':<22}{'MASE':>7}{'event':>7}{'ordin.':>7}{'sMAPE%':>8}{'cov80':>7}{'cov95':>7}"
    typer.echo(header + f"{'fit s':>8}")
    picks = ", ".join(f"{name} {count}" for name, count in online.get("picks", {}).items())
    typer.echo(_row("online selection", online) + f"  (chosen at each origin: {picks})")
    typer.echo(_row("profile baseline", {"mase": baseline}) + "  (4-week median profile)")
    for name, m in result["models"].items():
        marks = []
        if name in result["combinations"]:
            marks.append("mean of " + " + ".join(result["combinations"][name]) + " now")
        if name == result["in_sample_pick"]:
            marks.append("in-sample pick (hindsight)")
        typer.echo(_row(name, m) + _cell(m["fit_seconds"], "{:.3f}", 8) + _marks(marks))
    if result["fallback_reason"]:
        typer.echo(f"next forecast: {result['selected']} (fallback: {result['fallback_reason']})")
    else:
        typer.echo(
            f"next forecast: {result['selected']} (best over the last "
            f"{result['selection_window']} closed origins, as fit-forecasts chooses)"
        )


def _row(name: str, m: dict) -> str:
    return f"{name:<22}" + "".join(
        [
            _cell(m.get("mase"), "{:.3f}", 7),
            _cell(m.get("mase_event_hours"), "{:.3f}", 7),
            _cell(m.get("mase_ordinary_hours"), "{:.3f}", 7),
            _cell(m.get("smape"), "{:.2f}", 8),
            _cell(m.get("coverage_80"), "{:.0%}", 7),
            _cell(m.get("coverage_95"), "{:.0%}", 7),
        ]
    )


def _marks(marks: list[str]) -> str:
    return "  <- " + "; ".join(marks) if marks else ""


def _instant(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not an ISO timestamp", param_hint="--end") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _cell(value: float | None, fmt: str, width: int) -> str:
    return ("-" if value is None else fmt.format(value)).rjust(width)


@app.command("fit")
def fit_command(
    series: list[str] = typer.Option(None, "--series", help="only these configured series"),
    end: str | None = typer.Option(
        None, "--end", help="forecast from this instant (ISO; default now), e.g. to backfill"
    ),
    as_json: bool = typer.Option(False, "--json", help="print the run's summary as JSON"),
) -> None:
    """Fit and store forecasts for the configured series (runs the fit-forecasts flow)."""
    quiet_prefect()
    from flows.fit_forecasts import fit_forecasts

    state = fit_forecasts(series=series or None, end=_instant(end), return_state=True)
    summary = state.result(raise_on_failure=False)
    if not isinstance(summary, dict):
        fail(f"forecast fit failed: {state.message}")
    if as_json:
        typer.echo(json.dumps(summary, indent=2, default=str))
    else:
        typer.echo(f"origin {summary['origin']}: {summary['stored_rows']} forecast rows stored")
        for name, fit in summary["series"].items():
            note = f" (fallback: {fit['fallback_reason']})" if fit["fallback_reason"] else ""
            typer.echo(f"  {name}: {fit['model_version']}, {fit['hours']} h{note}")
        for name, reason in summary["skipped"].items():
            typer.echo(f"  {name}: skipped, {reason}")
    for name, message in summary["failed"].items():
        typer.secho(f"series {name} failed: {message}", fg=typer.colors.RED, err=True)
    if summary["failed"]:
        raise typer.Exit(1)
