"""What an evidence report is about (its scope) and everything it reads from the databases.

Reads only: perf.weddings, perf.forecasts, perf.actions, perf.capacity_state, perf.alerts,
perf.critical_path_checks, perf.rollups_minute, perf.samples (their count per source: which
part was modelled) (wedperf's database) and, for forecast actuals of `app_view`
series, the app-DB contract views. Every value kept is an id, a count, a timing or a metric.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import psycopg
from psycopg.rows import class_row, dict_row

from wedperf.calendar.model import Wedding
from wedperf.calendar.sync import weddings_by_id, weddings_in_day_windows
from wedperf.config import Settings
from wedperf.db.queries import queries
from wedperf.forecast.requests import load_request_series
from wedperf.forecast.sources import load_series
from wedperf.metrics.model import SourceError
from wedperf.metrics.sources.prometheus import PrometheusSource

log = logging.getLogger(__name__)
Q = queries("evidence")
# Actuals of an `app_view` series are read from this long before the scope: a view's hourly
# counts are zero-filled from its first row, so an hour of the scope without rows reads 0 (the
# app recorded none: a real zero), not unknown, once the view had rows in the week before.
# Not for `samples` series: an hour without samples may be an hour wedperf's own collector
# was down, so it is unknown, never an actual of 0.
ACTUALS_LEAD = timedelta(days=7)
# The operations whose server-side events are requests to the app (the measured load);
# vendor_delivery is a notification's delivery, platform a probe of the platform.
REQUEST_OPERATIONS = ("guest_list", "timeline_sync", "photo_upload", "vendor_notify")
MEASURED_STEP = timedelta(minutes=5)
# perf.samples.source of the sandbox's modelled history (wedperf.sandbox.history.SOURCE):
# samples a load model gave, not a collector's measurements.
MODELLED_SOURCE = "sandbox-model"


class EvidenceScopeError(ValueError):
    """The report's scope cannot be built (unknown wedding, both or neither of day/wedding)."""


@dataclass(frozen=True)
class Scope:
    """A report's subject and time span [start, end) (UTC instants)."""

    kind: str  # "day" | "wedding"
    label: str  # "2026-10-17" or the wedding id
    start: datetime
    end: datetime
    timezone: str
    day: date | None = None
    wedding: Wedding | None = None

    days: int = 1  # a day scope's consecutive days, from `day`

    @property
    def slug(self) -> str:
        return package_name(self.day if self.kind == "day" else None, self.wedding_id, self.days)

    @property
    def wedding_id(self) -> str | None:
        return self.wedding.wedding_id if self.wedding else None

    @property
    def title(self) -> str:
        if self.kind == "day":
            return f"Evidence for {self.label} ({self.timezone})"
        return f"Evidence for wedding {self.label}"


def package_name(day: date | None, wedding_id: str | None, days: int = 1) -> str:
    """Names a package directory: evidence-2026-10-17 (evidence-2026-10-16-to-2026-10-17 for
    two days) or evidence-wedding-<id>."""
    if wedding_id is None:
        if day is not None and days > 1:
            return f"evidence-{day.isoformat()}-to-{(day + timedelta(days=days - 1)).isoformat()}"
        return f"evidence-{day.isoformat() if day else 'undated'}"
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in wedding_id.lower())
    return f"evidence-wedding-{safe.strip('-') or 'unnamed'}"


def report_timezone(settings: Settings) -> str:
    return settings.evidence.timezone or settings.forecast.timezone


def scope_weddings(conn: psycopg.Connection, scope: Scope, settings: Settings) -> list[Wedding]:
    """The report's weddings, the one definition every section uses: a wedding report's
    wedding; a day report's, every wedding whose day window (`day_window_before` the
    ceremony to `day_window_after` the end) overlaps the span, cancelled ones included (listed
    as cancelled). A reception that runs past midnight is in both days' reports."""
    if scope.wedding is not None:
        return [scope.wedding]
    window = {
        "start": scope.start,
        "end": scope.end,
        "before": settings.day_window_before,
        "after": settings.day_window_after,
    }
    cursor = conn.cursor(row_factory=class_row(Wedding))
    return cursor.execute(Q["weddings_of_scope"], window).fetchall()


def day_scope(day: date, settings: Settings, days: int = 1) -> Scope:
    """Local midnight of `day` to midnight `days` days later in the report's timezone (one
    day by default; two: a day and the next, e.g. yesterday and today)."""
    if days < 1:
        raise EvidenceScopeError(f"a day scope spans at least one day, got {days}")
    tz = report_timezone(settings)
    zone = ZoneInfo(tz)
    start = datetime.combine(day, time(), zone).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=days), time(), zone).astimezone(UTC)
    last = day + timedelta(days=days - 1)
    label = day.isoformat() if days == 1 else f"{day.isoformat()} to {last.isoformat()}"
    return Scope("day", label, start, end, tz, day=day, days=days)


def wedding_scope(conn: psycopg.Connection, wedding_id: str, settings: Settings) -> Scope:
    """The wedding's day window widened by evidence.wedding_padding on both sides, then out
    to whole hours: the load figures are hourly, and a partial first or last hour would
    show as a false dip."""
    found = weddings_by_id(conn, [wedding_id])
    if not found:
        raise EvidenceScopeError(f"no wedding {wedding_id!r} in perf.weddings")
    wedding = found[0]
    opens, closes = wedding.day_window(settings.day_window_before, settings.day_window_after)
    pad = settings.evidence.wedding_padding
    start = (opens - pad).replace(minute=0, second=0, microsecond=0)
    end = closes + pad
    if end != end.replace(minute=0, second=0, microsecond=0):
        end = end.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    return Scope(
        "wedding",
        wedding.wedding_id,
        start,
        end,
        wedding.timezone,
        day=wedding.local_start.date(),
        wedding=wedding,
    )


@dataclass
class ForecastSeries:
    """One series over the scope: the forecast in force per hour, and actuals where known."""

    name: str
    hours: pd.DataFrame  # index ts; mean, lo_80, hi_80, lo_95, hi_95, model, origin, actual
    actuals_note: str | None = None  # why there are no actuals, if there are none


@dataclass
class EvidenceData:
    """Everything a report is built from, read once."""

    scope: Scope
    now: datetime
    weddings: list[Wedding]  # the report's weddings (scope_weddings)
    live_weddings: list[Wedding]  # not cancelled, day window overlapping the scope (load)
    forecasts: list[ForecastSeries]
    actions: list[dict[str, Any]]
    floor_at_start: dict[str, int]
    capacity_state: list[dict[str, Any]]
    alerts: list[dict[str, Any]]
    check_summary: list[dict[str, Any]]
    checks: pd.DataFrame  # the drawn weddings' evaluations
    drawn_weddings: list[str]
    extra: dict[str, Any] = field(default_factory=dict)


def gather(
    conn: psycopg.Connection,
    scope: Scope,
    settings: Settings,
    *,
    now: datetime,
    app_conn: psycopg.Connection | None = None,
) -> EvidenceData:
    """Read the scope's weddings, forecasts (and actuals), actions, capacity state, alerts and
    critical-path checks. `app_conn` (the app database, for `app_view` forecast actuals) may
    be None: those series then say that actuals are unavailable."""
    window = {"start": scope.start, "end": scope.end}
    weddings = scope_weddings(conn, scope, settings)
    # The calendar load: every wedding on in the span (for a wedding report, the others
    # overlapping it too: the floor is sized on all of them).
    live = weddings_in_day_windows(conn, scope.start, scope.end, settings)
    dicts = conn.cursor(row_factory=dict_row)
    wedding_filter = None if scope.wedding is None else scope.wedding.wedding_id
    alerts = dicts.execute(
        Q["alerts_in_window"], window | {"wedding_id": wedding_filter}
    ).fetchall()
    actions = dicts.execute(
        Q["actions_in_window"],
        window
        | {
            "wedding_ids": None if wedding_filter is None else [wedding_filter],
            "plan_ids": [f"alert-{a['alert_id']}" for a in alerts],
        },
    ).fetchall()
    floor_at_start = {}
    for row in dicts.execute(Q["floor_at"], {"at": scope.start}).fetchall():
        if _as_int(row["after"]) is not None:
            floor_at_start[row["target"]] = _as_int(row["after"])
    capacity_state = dicts.execute(Q["capacity_state"]).fetchall()
    ids = [w.wedding_id for w in weddings]
    summary = dicts.execute(Q["check_summary"], {"wedding_ids": ids}).fetchall()
    drawn = _worst_first(summary, settings.evidence.max_wedding_figures)
    checks = pd.DataFrame(
        dicts.execute(Q["checks_of_weddings"], {"wedding_ids": drawn}).fetchall(),
        columns=[
            "wedding_id",
            "check_name",
            "evaluated_at",
            "value",
            "threshold",
            "warn_threshold",
            "status",
        ],
    )
    forecasts = _forecasts(conn, app_conn, scope, settings, now)
    measured = dicts.execute(
        Q["measured_load"],
        window
        | {
            "operations": list(REQUEST_OPERATIONS),
            "step": MEASURED_STEP,
            "seconds": MEASURED_STEP.total_seconds(),
        },
    ).fetchall()
    sources = {
        row["source"]: row
        for row in dicts.execute(
            Q["sample_sources"], window | {"operations": list(REQUEST_OPERATIONS)}
        ).fetchall()
    }
    modelled_rounds = None
    if MODELLED_SOURCE in sources:
        last = dicts.execute(Q["modelled_until"], {"start": scope.start}).fetchone()["last"]
        # A modelled sample covers its whole minute: rounds up to that minute's end ran on
        # the modelled clock (the demo's modelling), not at the time.
        until = last + timedelta(minutes=1)
        row = dicts.execute(Q["rounds_until"], {"wedding_ids": ids, "until": until}).fetchone()
        modelled_rounds = {"until": until, "rounds": row["rounds"], "modelled": row["before"]}
    return EvidenceData(
        scope=scope,
        now=now,
        weddings=weddings,
        live_weddings=live,
        forecasts=forecasts,
        actions=actions,
        floor_at_start=floor_at_start,
        capacity_state=capacity_state,
        alerts=alerts,
        check_summary=summary,
        checks=checks,
        drawn_weddings=drawn,
        extra={
            "measured_load": measured,
            "sample_sources": sources,
            "modelled_rounds": modelled_rounds,
        },
    )


def _worst_first(summary: list[dict[str, Any]], limit: int) -> list[str]:
    """The weddings whose timelines are drawn: most breaches, then most warnings, then id."""
    ranked = sorted(summary, key=lambda r: (-r["breach"], -r["warn"], r["wedding_id"]))
    return [r["wedding_id"] for r in ranked[:limit]]


def _forecasts(
    conn: psycopg.Connection,
    app_conn: psycopg.Connection | None,
    scope: Scope,
    settings: Settings,
    now: datetime,
) -> list[ForecastSeries]:
    rows = conn.execute(Q["forecast_hours"], {"start": scope.start, "end": scope.end}).fetchall()
    columns = [
        "series",
        "ts",
        "model",
        "model_version",
        "origin",
        "mean",
        "lo_80",
        "hi_80",
        "lo_95",
        "hi_95",
    ]
    frame = pd.DataFrame(rows, columns=columns)
    if frame.empty:
        return []
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True)
    specs = {s.name: s for s in settings.forecast.series}
    out = []
    for name, hours in frame.groupby("series", sort=True):
        hours = hours.drop(columns="series").set_index("ts").sort_index()
        actual, note = _actuals(conn, app_conn, specs.get(name), scope, settings, now)
        hours["actual"] = actual.reindex(hours.index) if actual is not None else float("nan")
        out.append(ForecastSeries(str(name), hours, note))
    return out


def _actuals(conn, app_conn, spec, scope: Scope, settings: Settings, now: datetime):
    """Hourly actuals of a configured series over the scope's past hours; (None, reason)
    when they cannot be read."""
    if spec is None:
        return None, "series not configured (forecast.series): actuals unknown"
    end = min(scope.end, now.replace(minute=0, second=0, microsecond=0))
    if end <= scope.start:
        return None, "no complete hour has passed yet"
    if spec.source == "prometheus":
        return _request_actuals(spec, scope.start, end, settings)
    view = spec.source == "app_view"
    source = app_conn if view else conn
    if source is None:
        return None, "app database not available: actuals unknown"
    try:
        with source.transaction():
            series = load_series(
                source,
                spec,
                start=scope.start - (ACTUALS_LEAD if view else timedelta(0)),
                end=end,
                source_schema=settings.source_schema,
            )
        series = series[series.index >= scope.start]
        if not view:
            # The query zero-fills from the first sample's hour; without samples an hour
            # is unknown (the collector may have been down), not 0.
            series = series[series > 0]
    except psycopg.Error as exc:
        log.warning("evidence: actuals of %s unavailable: %s", spec.name, exc)
        return None, f"actuals unavailable ({type(exc).__name__})"
    if series.empty:
        return None, "no actuals recorded in this span"
    return series, None


def _request_actuals(spec, start: datetime, end: datetime, settings: Settings):
    """Hourly request counts of a Prometheus request-rate series, as the forecast read them."""
    if not settings.prometheus.url:
        return None, "prometheus.url is not set: actuals unknown"
    try:
        series, _ = load_request_series(
            PrometheusSource(settings.prometheus), spec.query, start=start, end=end,
            name=spec.name,
        )  # fmt: skip
    except SourceError as exc:
        log.warning("evidence: actuals of %s unavailable: %s", spec.name, exc)
        return None, "actuals unavailable (prometheus)"
    if series.empty:
        return None, "no actuals recorded in this span"
    return series, None


def _as_int(value: Any) -> int | None:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return None
