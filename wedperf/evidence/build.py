"""Build an evidence package: read, compute the sections, draw, render, write atomically.

The package directory (`out`) holds::

    evidence.html          self-contained report (figures embedded as base64 PNG)
    evidence.md            the Markdown twin
    evidence.json          scope, counts, sections, files
    figures/<name>.png     each figure
    figures/<name>.json    the numbers behind it
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import psycopg

from wedperf.config import Settings, get_settings
from wedperf.db.connection import connect, with_db_retry
from wedperf.evidence.advisor import advisor_section
from wedperf.evidence.data import (
    EvidenceData,
    EvidenceScopeError,
    Scope,
    day_scope,
    gather,
    package_name,
    report_timezone,
)
from wedperf.evidence.data import wedding_scope as make_wedding_scope
from wedperf.evidence.figures import render_png
from wedperf.evidence.render import html_report, markdown_report
from wedperf.evidence.sections import (
    Section,
    alerts_actions_section,
    capacity_section,
    critical_path_section,
    forecast_section,
    iso,
)
from wedperf.evidence.sections.slo import budget_section
from wedperf.evidence.write import staged_package, write_json
from wedperf.services import ResolvedServices

log = logging.getLogger(__name__)

HTML_NAME, MARKDOWN_NAME, JSON_NAME, FIGURES_DIR = (
    "evidence.html",
    "evidence.md",
    "evidence.json",
    "figures",
)

SectionBuilder = Callable[[EvidenceData, Settings], Section]
SECTIONS: tuple[SectionBuilder, ...] = (
    forecast_section,
    capacity_section,
    critical_path_section,
    alerts_actions_section,
)


@dataclass(frozen=True)
class EvidenceResult:
    """Where the package is and what it counted."""

    out: Path
    html_path: Path
    markdown_path: Path
    json_path: Path
    figures: list[Path]  # the PNGs
    summary: dict[str, int]  # counts, as in evidence.json["counts"]
    scope: dict[str, Any] = field(default_factory=dict)
    sections: dict[str, dict[str, Any]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """Scope, paths and counts, JSON-ready (the CLI's --json and the flow's result)."""
        return {
            "scope": self.scope,
            "out": str(self.out),
            "html": str(self.html_path),
            "markdown": str(self.markdown_path),
            "json": str(self.json_path),
            "figures": [str(p) for p in self.figures],
            "counts": self.summary,
        }


def build_package(
    settings: Settings,
    services: ResolvedServices,
    *,
    day: date | None = None,
    wedding_id: str | None = None,
    out: Path | None = None,
    days: int = 1,
) -> EvidenceResult:
    """The evidence package as `wedperf evidence` and the build-evidence flow make it: from
    wedperf's and the app's databases of `services`, to `out` (default `default_out`), a
    lost connection retried (the build writes no database; the package is replaced
    atomically). Raises EvidenceScopeError, PackageDirError or DatabaseUnavailable."""
    return with_db_retry(
        lambda: build_evidence_package(
            services.database_url,
            out=out or default_out(settings, day=day, wedding_id=wedding_id, days=days),
            day=day,
            days=days,
            wedding_id=wedding_id,
            settings=settings,
            app_database_url=services.app_database_url,
        ),
        what="building the evidence package",
    )


def build_evidence_package(
    database_url: str,
    *,
    out: Path,
    day: date | None = None,
    wedding_id: str | None = None,
    days: int = 1,
    now: datetime | None = None,
    settings: Settings | None = None,
    app_database_url: str | None = None,
    extra_sections: Sequence[Callable[[psycopg.Connection, Scope, Settings], Section | None]] = (),
) -> EvidenceResult:
    """Write the evidence package of one day (`day`, midnight to midnight in
    evidence.timezone; `days` consecutive days from it) or one wedding (`wedding_id`: its
    day window plus padding) to the directory `out`, replacing an earlier package there
    atomically.

    Reads perf.* in `database_url` and, for forecast actuals of app-view series, the app
    database (`app_database_url`, default settings.app_database_url or `database_url`;
    unreachable: those actuals are reported unavailable). Writes nothing to any database.
    `extra_sections` add sections after the built-in ones (the database advisor's always
    comes last). Raises EvidenceScopeError for a bad scope.
    """
    if (day is None) == (wedding_id is None):
        raise EvidenceScopeError("give exactly one of day or wedding_id")
    settings = settings or get_settings()
    now = (now or datetime.now(UTC)).astimezone(UTC)
    app_url = app_database_url or settings.app_database_url or database_url
    with connect(database_url) as conn:
        conn.read_only = True
        scope = (
            day_scope(day, settings, days)
            if day is not None
            else make_wedding_scope(conn, wedding_id, settings)
        )
        app_conn = _app_connection(app_url, database_url, conn)
        try:
            data = gather(conn, scope, settings, now=now, app_conn=app_conn)
        finally:
            if app_conn is not None and app_conn is not conn:
                app_conn.close()
        sections = [build(data, settings) for build in SECTIONS]
        for extra in (budget_section, *extra_sections, advisor_section):
            section = extra(conn, scope, settings)
            if section is not None:
                sections.append(section)
    return write_package(Path(out), scope, now, sections, dpi=settings.evidence.figure_dpi)


def _app_connection(app_url: str, database_url: str, conn: psycopg.Connection):
    if app_url == database_url:
        return conn
    try:
        app_conn = connect(app_url, connect_timeout=5)
    except Exception as exc:  # actuals of app-view series are then reported unavailable
        log.warning("evidence: app database unavailable: %s", exc)
        return None
    app_conn.read_only = True
    return app_conn


def summary_counts(sections: Sequence[Section]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for section in sections:
        counts.update(section.counts)
    counts["figures"] = sum(len(s.figures) for s in sections)
    return counts


def write_package(
    out: Path, scope: Scope, now: datetime, sections: Sequence[Section], *, dpi: int = 110
) -> EvidenceResult:
    """Draw every figure and write the package to `out` (atomically)."""
    pngs = {f.name: render_png(f.kind, f.data, dpi=dpi) for s in sections for f in s.figures}
    counts = summary_counts(sections)
    scope_json = {
        "kind": scope.kind,
        "label": scope.label,
        "timezone": scope.timezone,
        "start": iso(scope.start),
        "end": iso(scope.end),
        "day": scope.day.isoformat() if scope.day else None,
        "wedding_id": scope.wedding.wedding_id if scope.wedding else None,
    }
    sections_json = {
        s.key: {
            "title": s.title,
            "empty": s.empty,
            "notes": s.notes,
            "counts": s.counts,
            "figures": [f"{FIGURES_DIR}/{f.name}.png" for f in s.figures],
            "figure_data": [f"{FIGURES_DIR}/{f.name}.json" for f in s.figures],
            "tables": [{"title": t.title, "columns": t.columns, "rows": t.rows} for t in s.tables],
        }
        for s in sections
    }
    with staged_package(out) as staging:
        figures = staging / FIGURES_DIR
        figures.mkdir()
        for section in sections:
            for figure in section.figures:
                (figures / f"{figure.name}.png").write_bytes(pngs[figure.name])
                write_json(
                    figures / f"{figure.name}.json",
                    {"name": figure.name, "caption": figure.caption, **figure.data},
                )
        (staging / HTML_NAME).write_text(html_report(scope, now, counts, sections, pngs))
        (staging / MARKDOWN_NAME).write_text(markdown_report(scope, now, counts, sections))
        write_json(
            staging / JSON_NAME,
            {
                "scope": scope_json,
                "generated_at": iso(now),
                "counts": counts,
                "sections": sections_json,
                "files": {"html": HTML_NAME, "markdown": MARKDOWN_NAME},
            },
        )
    out = out.resolve()
    return EvidenceResult(
        out=out,
        html_path=out / HTML_NAME,
        markdown_path=out / MARKDOWN_NAME,
        json_path=out / JSON_NAME,
        figures=[out / FIGURES_DIR / f"{f.name}.png" for s in sections for f in s.figures],
        summary=counts,
        scope=scope_json,
        sections={
            k: {"empty": v["empty"], "counts": v["counts"]} for k, v in sections_json.items()
        },
    )


def default_out(
    settings: Settings, *, day: date | None, wedding_id: str | None, days: int = 1
) -> Path:
    """<evidence.out_dir or data_dir/evidence>/evidence-<day> or evidence-wedding-<id>."""
    base = settings.evidence.out_dir or settings.data_dir / "evidence"
    return Path(base) / package_name(day, wedding_id, days)


def report_day(settings: Settings, now: datetime, days_ago: int) -> date:
    """The day `days_ago` before `now` on the report's clock (1: yesterday, for nightly)."""
    from datetime import timedelta
    from zoneinfo import ZoneInfo

    return (now.astimezone(ZoneInfo(report_timezone(settings))) - timedelta(days=days_ago)).date()


def scheduled_day(
    settings: Settings, now: datetime, *, days_ago: int, after_restore: bool = False
) -> date:
    """The day a scheduled or triggered build reports. `after_restore` (a completed
    capacity-floor restore triggered it): the day whose day windows just closed — a restore
    runs `ops.restore_delay` after the window, rounded up to the slot, so an evening
    wedding's restore may complete after local midnight. Otherwise `days_ago` days back."""
    if after_restore:
        return report_day(settings, now - settings.ops.restore_delay - settings.ops.slot, 0)
    return report_day(settings, now, days_ago)
