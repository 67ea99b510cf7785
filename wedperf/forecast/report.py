"""What the fit-forecasts flow shows in the Prefect UI: backtest scores and the last
backtest forecast against what actually happened. Pure: builds tables and markdown."""

from __future__ import annotations

from collections.abc import Sequence

from wedperf.forecast.pipeline import SeriesForecast

SCORE_KEYS = (
    "mase",
    "mase_event_hours",
    "mase_ordinary_hours",
    "smape",
    "coverage_80",
    "coverage_95",
    "fit_seconds",
)


def backtest_rows(fits: Sequence[SeriesForecast]) -> list[dict]:
    """One row per series and candidate model (or one row for a fallback), JSON-ready."""
    rows = []
    for fit in fits:
        models = fit.backtest.get("models") or {}
        if not models:
            rows.append(
                {"series": fit.series, "model": fit.model, "selected": True}
                | dict.fromkeys(SCORE_KEYS)
                | {"note": fit.fallback_reason or ""}
            )
            continue
        for name, scores in models.items():
            rows.append(
                {"series": fit.series, "model": name, "selected": name == fit.model}
                | {k: _round(scores.get(k)) for k in SCORE_KEYS}
                | {"note": (fit.fallback_reason or "") if name == fit.model else ""}
            )
    return rows


def _round(value):
    return None if value is None else round(float(value), 4)


def last_forecast_markdown(
    fits: Sequence[SeriesForecast], skipped: dict[str, str], *, every: int = 3
) -> str:
    """Per series: the newest forecast's peak, and the selected model's last backtest
    forecast against the actuals (every `every` hours), so a reader sees how the model
    that produced today's numbers did on the latest days it can be checked on."""
    lines = ["# Forecasts", ""]
    for fit in fits:
        peak = fit.forecast["mean"].idxmax()
        lines += [
            f"## {fit.series}",
            "",
            f"Model **{fit.model}** (`{fit.model_version}`), trained "
            f"{fit.train_start:%Y-%m-%d %H:%M} .. {fit.train_end:%Y-%m-%d %H:%M} UTC. "
            f"Next {len(fit.forecast)} h from {fit.origin:%Y-%m-%d %H:%M} UTC: peak "
            f"{fit.forecast.loc[peak, 'mean']:.1f} at {peak:%a %H:%M} "
            f"(95% up to {fit.forecast.loc[peak, 'hi-95']:.1f}).",
            "",
        ]
        if fit.fallback_reason:
            lines += [f"Fallback: {fit.fallback_reason}.", ""]
        last = fit.last_backtest
        if last is None:
            continue
        inside = (last["lo-95"] <= last["actual"]) & (last["actual"] <= last["hi-95"])
        error = (last["actual"] - last["mean"]).abs().mean()
        lines += [
            f"Last backtest origin {last.index[0]:%Y-%m-%d %H:%M} UTC: MAE {error:.2f}, "
            f"{inside.mean():.0%} of actuals inside the 95% interval.",
            "",
            "| hour (UTC) | actual | forecast | 95% interval | |",
            "|---|---:|---:|---|---|",
        ]
        for ts, row in last.iloc[::every].iterrows():
            mark = "" if row["lo-95"] <= row["actual"] <= row["hi-95"] else "outside"
            lines.append(
                f"| {ts:%a %d %H:%M} | {row['actual']:.1f} | {row['mean']:.1f} | "
                f"{row['lo-95']:.1f} .. {row['hi-95']:.1f} | {mark} |"
            )
        lines.append("")
    if skipped:
        lines += ["## Not forecast", "", "| series | reason |", "|---|---|"]
        lines += [f"| {name} | {reason} |" for name, reason in skipped.items()]
    return "\n".join(lines) + "\n"
