"""Forecast vs actual load: each series' hourly forecast with its prediction intervals, the
actuals, and how often the actuals fell inside the intervals."""

from __future__ import annotations

from wedperf.config import Settings
from wedperf.evidence.data import EvidenceData
from wedperf.evidence.sections.model import FigureSpec, Section, Table
from wedperf.evidence.sections.values import iso, number_or_none, span_words


def forecast_section(data: EvidenceData, settings: Settings) -> Section:
    section = Section(
        "forecast_vs_actual",
        "Forecast vs actual load",
        "Hourly load per series: the forecast in force for each hour (the latest fit covering "
        "it) with its 80% and 95% prediction intervals, and what happened.",
    )
    if not data.forecasts:
        section.empty = f"No forecasts {span_words(data.scope)}."
        section.counts = {
            "forecast_series": 0,
            "forecast_hours": 0,
            "hours_with_actuals": 0,
            "min_hours_with_actuals": 0,
        }
        return section
    series_payload = []
    rows = []
    for fc in data.forecasts:
        hours = fc.hours
        with_actual = hours[hours["actual"].notna()]
        n = len(with_actual)
        cov80 = cov95 = mae = None
        if n:
            cov80 = float(
                (
                    (with_actual.actual >= with_actual.lo_80)
                    & (with_actual.actual <= with_actual.hi_80)
                ).mean()
            )
            cov95 = float(
                (
                    (with_actual.actual >= with_actual.lo_95)
                    & (with_actual.actual <= with_actual.hi_95)
                ).mean()
            )
            mae = float((with_actual.actual - with_actual["mean"]).abs().mean())
        series_payload.append(
            {
                "series": fc.name,
                "models": sorted(set(hours["model"])),
                "origins": sorted({iso(o) for o in hours["origin"]}),
                "forecast_hours": len(hours),
                "hours_with_actuals": n,
                "coverage_80": cov80,
                "coverage_95": cov95,
                "mae": mae,
                "actuals_note": fc.actuals_note,
                "hours": [
                    {
                        "ts": iso(ts),
                        "mean": float(r["mean"]),
                        "lo_80": float(r["lo_80"]),
                        "hi_80": float(r["hi_80"]),
                        "lo_95": float(r["lo_95"]),
                        "hi_95": float(r["hi_95"]),
                        "actual": number_or_none(r["actual"]),
                    }
                    for ts, r in hours.iterrows()
                ],
            }
        )
        rows.append(
            [
                fc.name,
                ", ".join(sorted(set(hours["model"]))),
                str(len(hours)),
                str(n) if n else f"0 ({fc.actuals_note})" if fc.actuals_note else "0",
                "—" if mae is None else f"{mae:.1f}",
                "—" if cov80 is None else f"{cov80:.0%}",
                "—" if cov95 is None else f"{cov95:.0%}",
            ]
        )
    drawn = series_payload[: settings.evidence.max_forecast_series]
    if len(series_payload) > len(drawn):
        section.notes.append(
            f"{len(drawn)} of {len(series_payload)} series drawn; all are in the table and JSON."
        )
    section.figures.append(
        FigureSpec(
            "forecast_vs_actual",
            "forecast_vs_actual",
            "Forecast mean (line), 80% and 95% prediction intervals (bands), actuals (dots).",
            {
                "timezone": data.scope.timezone,
                "start": iso(data.scope.start),
                "end": iso(data.scope.end),
                "series": series_payload,
                "drawn": len(drawn),
            },
        )
    )
    section.tables.append(
        Table(
            "Forecast accuracy",
            ["series", "model", "hours", "hours with actuals", "MAE", "80% cover", "95% cover"],
            rows,
        )
    )
    section.counts = {
        "forecast_series": len(series_payload),
        "forecast_hours": sum(p["forecast_hours"] for p in series_payload),
        # Summed over series; the minimum says whether every series has them.
        "hours_with_actuals": sum(p["hours_with_actuals"] for p in series_payload),
        "min_hours_with_actuals": min(p["hours_with_actuals"] for p in series_payload),
    }
    return section
