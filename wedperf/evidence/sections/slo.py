"""Error budgets: each wedding's SLOs across its day window — how much of each budget the day
spent, the burn-down round by round, and the page and ticket alerts it raised.

Reads perf.slo_budgets, the budget alerts of perf.alerts and, for each SLO's day p95, the
merged minute histograms of perf.rollups_minute (through wedperf.slo and wedperf.metrics).
The payloads are built by `budget_payload`, which is pure.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg

from wedperf.calendar.model import Wedding
from wedperf.config import Settings
from wedperf.critical_path.slo import tier_of
from wedperf.evidence.data import Scope, scope_weddings
from wedperf.evidence.sections.model import FigureSpec, Section, Table
from wedperf.evidence.sections.values import iso, local, span_words
from wedperf.metrics.store import merged_histogram
from wedperf.slo.store import budget_alerts, stored_budgets


def budget_section(conn: psycopg.Connection, scope: Scope, settings: Settings) -> Section:
    """The error-budget section of a report (day or wedding scope)."""
    section = Section(
        "error_budgets",
        "Error budgets",
        "Each wedding's SLOs over its day window (docs/slo.md): the share of the budget the "
        "day spent, round by round, and the page and ticket alerts it raised.",
    )
    weddings = [w for w in scope_weddings(conn, scope, settings) if w.status != "cancelled"]
    ids = [w.wedding_id for w in weddings]
    rows = stored_budgets(conn, ids) if ids else []
    alerts = budget_alerts(conn, ids) if ids else []
    by_wedding: dict[str, list[dict]] = {}
    for row in rows:
        by_wedding.setdefault(row["wedding_id"], []).append(row)
    section.counts = {
        "weddings_with_budgets": len(by_wedding),
        "budget_pages": sum(1 for a in alerts if a["severity"] == "page"),
        "budget_tickets": sum(1 for a in alerts if a["severity"] == "ticket"),
    }
    if not by_wedding:
        section.empty = f"No error budgets recorded for the weddings {span_words(scope)}."
        return section
    finals = []
    for wedding in weddings:
        mine = by_wedding.get(wedding.wedding_id)
        if not mine:
            continue
        for slo in dict.fromkeys(r["slo"] for r in mine):
            last = [r for r in mine if r["slo"] == slo][-1]
            finals.append((wedding, last))
    section.tables.append(
        Table(
            "Budgets at the last round",
            [
                "wedding",
                "SLO",
                "objective",
                "events",
                "bad",
                "spent",
                "left",
                "day p95 (merged)",
                "pages",
                "tickets",
                f"as of ({scope.timezone})",
            ],
            [_final_row(conn, scope, w, r, alerts) for w, r in finals],
        )
    )
    worst = sorted(
        by_wedding,
        key=lambda wid: min(r["remaining"] for r in by_wedding[wid]),
    )[: max(settings.evidence.max_wedding_figures, 1) if scope.wedding is None else 1]
    hidden = len(by_wedding) - len(worst)
    if hidden > 0:
        section.notes.append(
            f"Burn-downs of the {len(worst)} weddings with the least budget left are drawn; "
            f"{hidden} more are in the table."
        )
    known = {w.wedding_id: w for w in weddings}
    for wedding_id in worst:
        wedding = known[wedding_id]
        payload = budget_payload(
            wedding,
            tier_of(wedding.guest_count, settings.critical_path),
            by_wedding[wedding_id],
            [a for a in alerts if a["wedding_id"] == wedding_id],
        )
        section.figures.append(
            FigureSpec(
                f"error_budget_{_slug(wedding_id)}",
                "budget_burndown",
                f"Wedding {wedding_id}: ceremony {wedding.local_start:%H:%M} {wedding.timezone}, "
                f"{wedding.guest_count} guests. Top: budget left per SLO at each round (below 0: "
                "overspent); shaded red while a page fires, amber while a ticket does, and a "
                "bar per alert in its SLO's colour (solid: page, dashed: ticket). Bottom: burn "
                "rate over the first alert window (1x spends the budget exactly by the "
                "window's close)."
                + (
                    f" No events at all: {', '.join(payload['without_events'])}."
                    if payload["without_events"]
                    else ""
                ),
                payload,
            )
        )
    return section


def budget_payload(
    wedding: Wedding, tier: str, rows: Sequence[dict], alerts: Sequence[dict]
) -> dict[str, Any]:
    """The numbers the burn-down figure draws: per SLO that saw events its rounds, and the
    alerts; the SLOs without a single event are only named."""
    slos, silent = [], []
    for slo in dict.fromkeys(r["slo"] for r in rows):
        mine = [r for r in rows if r["slo"] == slo]
        if not any(r["events"] > 0 for r in mine):
            silent.append(slo)
            continue
        slos.append(
            {
                "slo": slo,
                "objective": mine[-1]["objective"],
                "threshold_s": mine[-1]["threshold_s"],
                "points": [
                    {
                        "at": iso(r["evaluated_at"]),
                        "remaining": r["remaining"],
                        "burn_rate": r["burn_rate"],
                        "page": r["page"],
                        "ticket": r["ticket"],
                    }
                    for r in mine
                ],
            }
        )
    first = rows[0]
    return {
        "wedding_id": wedding.wedding_id,
        "tier": tier,
        "guest_count": wedding.guest_count,
        "timezone": wedding.timezone,
        "ceremony": iso(wedding.starts_at),
        "window_start": iso(first["window_start"]),
        "window_end": iso(first["window_end"]),
        "slos": slos,
        "without_events": silent,
        "alerts": [
            {
                "slo": a["slo"],
                "severity": a["severity"],
                "starts_at": iso(a["starts_at"]),
                "ends_at": iso(a["ends_at"]),
            }
            for a in alerts
        ],
    }


def _final_row(
    conn: psycopg.Connection, scope: Scope, wedding: Wedding, row: dict, alerts
) -> list[str]:
    histogram = merged_histogram(
        conn,
        operation=row["operation"],
        client=row["clients"],
        wedding_id=wedding.wedding_id,
        start=row["window_start"],
        end=row["evaluated_at"],
    )
    p95 = histogram.quantile(0.95) if histogram is not None else None
    mine = [a for a in alerts if a["wedding_id"] == wedding.wedding_id and a["slo"] == row["slo"]]
    return [
        wedding.wedding_id,
        row["slo"],
        f"{row['objective']:.2%} <= {row['threshold_s']:g} s",
        f"{row['events']:,.0f}",
        f"{row['bad_events']:,.0f}",
        f"{row['consumed']:.1%}",
        f"{row['remaining']:.1%}",
        "—" if p95 is None else f"{p95 * 1000:.0f} ms" if p95 < 10 else f"{p95:.1f} s",
        str(sum(1 for a in mine if a["severity"] == "page")),
        str(sum(1 for a in mine if a["severity"] == "ticket")),
        local(row["evaluated_at"], scope, "%a %d %b %H:%M"),  # on the report's clock
    ]


def _slug(value: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in value.lower()).strip("-") or "unnamed"
