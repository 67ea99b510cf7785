"""The report's sections: the numbers behind each figure, its tables, and what to say when
there is nothing to show. Pure: EvidenceData in, Section out (no drawing, no files)."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd

from wedperf.capacity.policy import replicas_needed
from wedperf.config import Settings
from wedperf.critical_path.report import format_value
from wedperf.critical_path.slo import CHECKS, resolve_slo, tier_of
from wedperf.evidence.data import EvidenceData, Scope


@dataclass
class Table:
    title: str
    columns: list[str]
    rows: list[list[str]]


@dataclass
class FigureSpec:
    """One figure: `name` is its file stem (figures/<name>.png and .json), `kind` says how
    to draw `data` (wedperf.evidence.figures.DRAW), `data` is exactly what is drawn."""

    name: str
    kind: str
    caption: str
    data: dict[str, Any]


@dataclass
class Section:
    key: str
    title: str
    intro: str
    empty: str | None = None  # said instead of figures when there is nothing to show
    notes: list[str] = field(default_factory=list)
    figures: list[FigureSpec] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)


def _span_words(scope: Scope) -> str:
    return "for this day" if scope.kind == "day" else "for this wedding's window"


def iso(value: datetime | pd.Timestamp | None) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return pd.Timestamp(value).isoformat()


def local(value: datetime | None, scope: Scope, fmt: str = "%H:%M") -> str:
    if value is None:
        return "—"
    return pd.Timestamp(value).tz_convert(ZoneInfo(scope.timezone)).strftime(fmt)


def _num(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) else value


# --- forecast vs actual -----------------------------------------------------------------


def forecast_section(data: EvidenceData, settings: Settings) -> Section:
    section = Section(
        "forecast_vs_actual",
        "Forecast vs actual load",
        "Hourly load per series: the forecast in force for each hour (the latest fit covering "
        "it) with its 80% and 95% prediction intervals, and what happened.",
    )
    if not data.forecasts:
        section.empty = f"No forecasts {_span_words(data.scope)}."
        section.counts = {"forecast_series": 0, "forecast_hours": 0, "hours_with_actuals": 0}
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
                        "actual": _num(r["actual"]),
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
            {"timezone": data.scope.timezone, "series": series_payload, "drawn": len(drawn)},
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
        "hours_with_actuals": sum(p["hours_with_actuals"] for p in series_payload),
    }
    return section


# --- capacity floor vs load -------------------------------------------------------------

# Steps that move a capacity target's floor: planned raises and restores, and the
# remediation scale-up (remembered like a raise, restored by the next restore).
CAPACITY_KINDS = ("capacity_raise", "capacity_restore", "remediation_scale_up")


def calendar_load_steps(data: EvidenceData, settings: Settings) -> list[dict[str, Any]]:
    """The calendar's load estimate over the scope as steps: at each window edge, guests of
    the weddings in their day window and those guests x requests per guest per second."""
    edges: Counter = Counter()
    for w in data.live_weddings:
        opens, closes = w.day_window(settings.day_window_before, settings.day_window_after)
        edges[max(opens, data.scope.start)] += w.guest_count
        if closes < data.scope.end:
            edges[closes] -= w.guest_count
    steps, guests = [], 0
    for at in sorted(edges):
        guests += edges[at]
        steps.append(
            {
                "at": iso(at),
                "guests": guests,
                "rps": guests * settings.ops.requests_per_guest_per_s,
            }
        )
    return steps


def capacity_section(data: EvidenceData, settings: Settings) -> Section:
    section = Section(
        "capacity",
        "Capacity floor vs load",
        "The predictive floor wedperf set per capacity target (replicas) against the load it was "
        "sized for: the calendar estimate (guests in their day window x requests per guest per "
        "second) and, where a target names a forecast series, that series' forecast and actuals.",
    )
    steps = [a for a in data.actions if a["kind"] in CAPACITY_KINDS]
    load = calendar_load_steps(data, settings)
    configured = {t.name: t for t in settings.ops.targets}
    state = {s["target"]: s for s in data.capacity_state}
    names = sorted({a["target"] for a in steps} | set(data.floor_at_start))
    forecasts = {fc.name: fc for fc in data.forecasts}
    targets = []
    for name in names:
        target = configured.get(name)
        per_replica = target.per_replica_rps if target else None
        needed = None
        if target is not None and load:
            peak = max(s["rps"] for s in load)
            needed = replicas_needed(
                peak,
                per_replica_rps=target.per_replica_rps,
                headroom=settings.ops.headroom,
                minimum=target.min_replicas,
                maximum=target.max_replicas,
            )
        series = None
        if target is not None and target.forecast_series in forecasts:
            hours = forecasts[target.forecast_series].hours
            series = {
                "series": target.forecast_series,
                "hours": [
                    {
                        "ts": iso(ts),
                        "hi_rps": float(r[f"hi_{settings.ops.quantile}"]) / 3600.0,
                        "actual_rps": None if _num(r["actual"]) is None else r["actual"] / 3600.0,
                    }
                    for ts, r in hours.iterrows()
                ],
            }
        targets.append(
            {
                "target": name,
                "per_replica_rps": per_replica,
                "floor_at_start": data.floor_at_start.get(name),
                "replicas_needed_at_peak": needed,
                "steps": [
                    {
                        "at": iso(a["acted_at"]),
                        "kind": a["kind"],
                        "before": a["before"],
                        "after": a["after"],
                        "outcome": a["outcome"],
                        "plan_id": a["plan_id"],
                        "weddings": len(a["wedding_ids"]),
                    }
                    for a in steps
                    if a["target"] == name
                ],
                "state": _state(state.get(name)),
                "forecast": series,
            }
        )
    section.counts = {
        "capacity_actions": len(steps),
        "capacity_actions_done": sum(a["outcome"] == "done" for a in steps),
        "capacity_targets": len(targets),
    }
    if not steps and not any(s["guests"] for s in load):
        section.empty = f"No capacity floor changes and no wedding load {_span_words(data.scope)}."
        return section
    if not steps:
        section.notes.append(f"No capacity floor changes recorded {_span_words(data.scope)}.")
    if not load:
        section.notes.append("No weddings in their day window: no calendar load.")
    section.figures.append(
        FigureSpec(
            "capacity_floor",
            "capacity_floor",
            "Top: load (requests/s). Bottom: the floor per target (replicas; solid = done, "
            "hollow markers = dry-run or planned only).",
            {
                "timezone": data.scope.timezone,
                "start": iso(data.scope.start),
                "end": iso(data.scope.end),
                "requests_per_guest_per_s": settings.ops.requests_per_guest_per_s,
                "calendar_load": load,
                "targets": targets,
            },
        )
    )
    section.tables.append(
        Table(
            "Capacity steps",
            ["time", "target", "step", "floor before → after", "outcome", "weddings", "plan"],
            [
                [
                    local(a["acted_at"], data.scope),
                    a["target"],
                    a["kind"].removeprefix("capacity_"),
                    f"{a['before'] or '—'} → {a['after'] or '—'}",
                    a["outcome"],
                    str(len(a["wedding_ids"])),
                    a["plan_id"],
                ]
                for a in steps
            ],
        )
    )
    if data.capacity_state:
        section.tables.append(
            Table(
                "Capacity state now",
                ["target", "floor", "baseline (pre-raise)", "changed"],
                [
                    [
                        s["target"],
                        str(s["floor"]),
                        "—" if s["baseline"] is None else str(s["baseline"]),
                        local(s["changed_at"], data.scope, "%Y-%m-%d %H:%M"),
                    ]
                    for s in data.capacity_state
                ],
            )
        )
    return section


def _state(row: dict[str, Any] | None) -> dict[str, Any] | None:
    if row is None:
        return None
    return {
        "baseline": row["baseline"],
        "floor": row["floor"],
        "changed_at": iso(row["changed_at"]),
    }


# --- per-wedding critical path ----------------------------------------------------------


def critical_path_section(data: EvidenceData, settings: Settings) -> Section:
    section = Section(
        "critical_path",
        "Wedding-day critical path",
        "Each wedding's critical-path checks round by round against their SLOs "
        "(wedperf.critical_path.slo, with the configured overrides).",
    )
    summary = {r["wedding_id"]: r for r in data.check_summary}
    section.counts = {
        "weddings": len(data.weddings),
        "weddings_evaluated": len(summary),
        "critical_path_checks": sum(r["ok"] + r["warn"] + r["breach"] for r in summary.values()),
        "critical_path_breaches": sum(r["breach"] for r in summary.values()),
        "critical_path_warnings": sum(r["warn"] for r in summary.values()),
    }
    if not data.weddings:
        section.empty = f"No weddings {_span_words(data.scope)}."
        return section
    section.tables.append(
        Table(
            "Weddings",
            [
                "wedding",
                "ceremony (local)",
                "tier",
                "guests",
                "status",
                "rounds",
                "ok",
                "warn",
                "breach",
            ],
            [
                [
                    w.wedding_id,
                    f"{w.local_start:%Y-%m-%d %H:%M} {w.timezone}",
                    tier_of(w.guest_count, settings.critical_path),
                    str(w.guest_count),
                    w.status,
                    *(
                        [str(summary[w.wedding_id][k]) for k in ("rounds", "ok", "warn", "breach")]
                        if w.wedding_id in summary
                        else ["0", "—", "—", "—"]
                    ),
                ]
                for w in data.weddings
            ],
        )
    )
    if not summary:
        section.empty = (
            f"No critical-path rounds recorded for the weddings {_span_words(data.scope)}."
        )
        return section
    hidden = len(summary) - len(data.drawn_weddings)
    if hidden > 0:
        section.notes.append(
            f"Timelines of the {len(data.drawn_weddings)} weddings with the most breaches are "
            f"drawn; {hidden} more are in the table above."
        )
    weddings = {w.wedding_id: w for w in data.weddings}
    for wedding_id in data.drawn_weddings:
        wedding = weddings[wedding_id]
        rows = data.checks[data.checks["wedding_id"] == wedding_id]
        payload = wedding_checks_payload(wedding, rows, settings)
        payload["timezone"] = wedding.timezone
        section.figures.append(
            FigureSpec(
                f"critical_path_{_slug(wedding_id)}",
                "critical_path",
                f"Wedding {wedding_id}: ceremony {wedding.local_start:%H:%M} {wedding.timezone}, "
                f"{wedding.guest_count} guests. One row per check, one mark per round "
                "(green ok, amber warn, red breach, grey no value).",
                payload,
            )
        )
        section.tables.append(
            Table(
                f"SLOs of wedding {wedding_id}",
                [
                    "check",
                    "warn at",
                    "breach at",
                    "rounds",
                    "ok",
                    "warn",
                    "breach",
                    "worst",
                    "last",
                ],
                [
                    [
                        c["check"],
                        _fmt(c["check"], c["warn"]),
                        _fmt(c["check"], c["breach"]),
                        str(c["rounds"]),
                        str(c["ok"]),
                        str(c["warn_rounds"]),
                        str(c["breach_rounds"]),
                        _fmt(c["check"], c["worst_value"]),
                        _fmt(c["check"], c["last_value"]),
                    ]
                    for c in payload["checks"]
                ],
            )
        )
    return section


def wedding_checks_payload(wedding, rows: pd.DataFrame, settings: Settings) -> dict[str, Any]:
    """Per check (in the SLO module's order): the SLO, counts by status, worst and last value
    and every evaluation."""
    tier = tier_of(wedding.guest_count, settings.critical_path)
    checks = []
    order = [c for c in CHECKS if c in set(rows["check_name"])]
    for name in order:
        these = rows[rows["check_name"] == name].sort_values("evaluated_at")
        slo = resolve_slo(
            name, wedding_id=wedding.wedding_id, tier=tier, settings=settings.critical_path
        )
        values = these["value"].dropna().astype(float)
        worst = None
        if len(values):
            worst = float(values.min() if slo.bad_when == "below" else values.max())
        counts = these["status"].value_counts()
        checks.append(
            {
                "check": name,
                "unit": CHECKS[name].unit,
                "bad_when": slo.bad_when,
                "warn": slo.warn,
                "breach": slo.breach,
                "rounds": len(these),
                "ok": int(counts.get("ok", 0)),
                "warn_rounds": int(counts.get("warn", 0)),
                "breach_rounds": int(counts.get("breach", 0)),
                "worst_value": worst,
                "last_value": _num(these["value"].iloc[-1]),
                "evaluations": [
                    {"at": iso(r.evaluated_at), "value": _num(r.value), "status": r.status}
                    for r in these.itertuples(index=False)
                ],
            }
        )
    return {
        "wedding_id": wedding.wedding_id,
        "tier": tier,
        "guest_count": wedding.guest_count,
        "ceremony": iso(wedding.starts_at),
        "ends": iso(wedding.ends_at),
        "checks": checks,
    }


def _fmt(check: str, value: float | None) -> str:
    return "—" if value is None else format_value(check, value)


def _slug(value: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in value.lower()).strip("-") or "unnamed"


# --- alerts and actions -----------------------------------------------------------------


def alerts_actions_section(data: EvidenceData, settings: Settings) -> Section:
    section = Section(
        "alerts_actions",
        "Alerts and actions",
        "Alerts of the inbox (bars: firing span) and what wedperf did (markers: capacity, "
        "pre-warm and remediation steps), with the alert's metric before and after.",
    )
    end = min(data.scope.end, data.now)
    alerts = [
        {
            "alert_id": a["alert_id"],
            "source": a["source"],
            "alertname": a["alertname"],
            "check": a["check_name"],
            "wedding_id": a["wedding_id"],
            "severity": a["severity"],
            "status": a["status"],
            "starts_at": iso(a["starts_at"]),
            "ends_at": iso(a["ends_at"]),
            "drawn_until": iso(a["ends_at"] or max(end, a["starts_at"])),
            "remediation_state": a["remediation_state"],
            "dispatch_state": a["dispatch_state"],
            "value_at_start": _num(a["value_at_start"]),
            "value_after": _num(a["value_after"]),
            "after_at": iso(a["after_at"]),
        }
        for a in data.alerts
    ]
    actions = [
        {
            "action_id": a["action_id"],
            "at": iso(a["acted_at"]),
            "plan_id": a["plan_id"],
            "kind": a["kind"],
            "target": a["target"],
            "before": a["before"],
            "after": a["after"],
            "outcome": a["outcome"],
            "dry_run": a["dry_run"],
            "weddings": len(a["wedding_ids"]),
        }
        for a in data.actions
    ]
    outcomes = Counter(a["outcome"] for a in actions)
    section.counts = {
        "alerts": len(alerts),
        "alerts_firing": sum(a["status"] == "firing" for a in alerts),
        "alerts_resolved": sum(a["status"] == "resolved" for a in alerts),
        "actions": len(actions),
        **{f"actions_{k.replace('-', '_')}": v for k, v in sorted(outcomes.items())},
    }
    if not alerts and not actions:
        section.empty = f"No alerts and no actions {_span_words(data.scope)}."
        return section
    section.figures.append(
        FigureSpec(
            "alerts_actions",
            "alerts_actions",
            "Alerts as bars from start to resolution (still firing: to the end of the span), "
            "coloured by severity; actions as markers on their alert's row (remediation) or on "
            "a row per kind.",
            {
                "timezone": data.scope.timezone,
                "start": iso(data.scope.start),
                "end": iso(data.scope.end),
                "alerts": alerts,
                "actions": actions,
            },
        )
    )
    if alerts:
        section.tables.append(
            Table(
                "Alerts",
                [
                    "alert",
                    "what",
                    "wedding",
                    "severity",
                    "start",
                    "end",
                    "before → after",
                    "remediation",
                ],
                [
                    [
                        str(a["alert_id"]),
                        a["check"] or a["alertname"],
                        a["wedding_id"] or "—",
                        a["severity"] or "—",
                        local(a["starts_at"], data.scope),
                        local(a["ends_at"], data.scope) if a["ends_at"] else "firing",
                        _before_after(a),
                        a["remediation_state"] or "—",
                    ]
                    for a in alerts
                ],
            )
        )
    if actions:
        section.tables.append(
            Table(
                "Actions",
                ["time", "kind", "target", "before → after", "outcome", "weddings", "plan"],
                [
                    [
                        local(a["at"], data.scope),
                        a["kind"],
                        a["target"],
                        f"{a['before'] or '—'} → {a['after'] or '—'}",
                        a["outcome"],
                        str(a["weddings"]),
                        a["plan_id"],
                    ]
                    for a in actions
                ],
            )
        )
    return section


def _before_after(alert: dict[str, Any]) -> str:
    check = alert["check"]
    if check not in CHECKS or alert["value_at_start"] is None:
        return "—"
    after = _fmt(check, alert["value_after"]) if alert["value_after"] is not None else "—"
    return f"{_fmt(check, alert['value_at_start'])} → {after}"
