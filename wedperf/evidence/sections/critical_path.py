"""The wedding-day critical path: each wedding's checks round by round against their SLOs,
with a timeline figure for the weddings with the most breaches."""

from __future__ import annotations

from typing import Any

import pandas as pd

from wedperf.config import Settings
from wedperf.critical_path.slo import CHECKS, resolve_slo, tier_of
from wedperf.evidence.data import EvidenceData
from wedperf.evidence.sections.model import FigureSpec, Section, Table
from wedperf.evidence.sections.values import (
    NO_DATA,
    format_check_value,
    iso,
    local,
    number_or_none,
    round_state,
    span_words,
)


def critical_path_section(data: EvidenceData, settings: Settings) -> Section:
    section = Section(
        "critical_path",
        "Wedding-day critical path",
        "Each wedding's critical-path checks round by round against their SLOs "
        "(wedperf.critical_path.slo, with the configured overrides).",
    )
    summary = {r["wedding_id"]: r for r in data.check_summary}
    before, after = settings.day_window_before, settings.day_window_after
    # A wedding's rounds so far, whose day window has closed (its whole day was watched)
    # or is open at the report's instant (under way): how much of each day the report shows.
    # Completed: the window has closed, and opened in the span (a reception that ran past
    # midnight into the span has its day's earlier rounds in the day before's report).
    held = [w for w in data.weddings if w.status != "cancelled"]
    from_before = [w for w in held if w.day_window(before, after)[0] < data.scope.start]
    completed = [
        w for w in held if w.day_window(before, after)[1] <= data.now and w not in from_before
    ]
    under_way = [
        w
        for w in held
        if w.day_window(before, after)[0] <= data.now < w.day_window(before, after)[1]
    ]

    def rounds(weddings) -> int:
        found = [
            summary[w.wedding_id]["rounds"] if w.wedding_id in summary else 0 for w in weddings
        ]
        return min(found, default=0)

    section.counts = {
        "weddings_completed": len(completed),
        "min_rounds_per_wedding": rounds(completed),
        "weddings_under_way": len(under_way),
        "weddings_opened_before_span": len(from_before),
        "min_rounds_per_wedding_under_way": rounds(under_way),
        "weddings": len(data.weddings),
        "weddings_evaluated": len(summary),
        "critical_path_checks": sum(
            r["ok"] + r["warn"] + r["breach"] + r["no_data"] for r in summary.values()
        ),
        "critical_path_breaches": sum(r["breach"] for r in summary.values()),
        "critical_path_warnings": sum(r["warn"] for r in summary.values()),
        "critical_path_no_data": sum(r["no_data"] for r in summary.values()),
    }
    if not data.weddings:
        section.empty = f"No weddings {span_words(data.scope)}."
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
                NO_DATA,
            ],
            [
                [
                    w.wedding_id,
                    f"{w.local_start:%Y-%m-%d %H:%M} {w.timezone}",
                    tier_of(w.guest_count, settings.critical_path),
                    str(w.guest_count),
                    w.status,
                    *(
                        [
                            str(summary[w.wedding_id][k])
                            for k in ("rounds", "ok", "warn", "breach", "no_data")
                        ]
                        if w.wedding_id in summary
                        else ["0", "—", "—", "—", "—"]
                    ),
                ]
                for w in data.weddings
            ],
        )
    )
    if not summary:
        section.empty = (
            f"No critical-path rounds recorded for the weddings {span_words(data.scope)}."
        )
        return section
    modelled = data.extra.get("modelled_rounds")
    section.counts["rounds_on_modelled_clock"] = modelled["modelled"] if modelled else 0
    if modelled and modelled["modelled"]:
        section.notes.append(
            f"{modelled['modelled']} of the {modelled['rounds']} rounds were evaluated on a "
            "modelled clock: at instants up to the end of the sandbox load model's samples "
            f"({local(modelled['until'], data.scope, '%Y-%m-%d %H:%M')}), by the modelling "
            "of the past after the fact, not by a watch run at the time."
        )
    if from_before:
        section.notes.append(
            f"{len(from_before)} of the weddings ({', '.join(w.wedding_id for w in from_before)}) "
            "had their day window open before the span (a reception running past midnight): "
            "they are in every section, and not counted in min_rounds_per_wedding."
        )
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
        opens, closes = wedding.day_window(before, after)
        payload["window_start"], payload["window_end"] = iso(opens), iso(closes)
        section.figures.append(
            FigureSpec(
                f"critical_path_{_slug(wedding_id)}",
                "critical_path",
                f"Wedding {wedding_id}: ceremony {wedding.local_start:%H:%M} {wedding.timezone}, "
                f"{wedding.guest_count} guests. One row per check, one mark per round "
                "(green ok, amber warn, red breach, grey no data: the round had no value to "
                "measure, counted as no data in the table, not as ok).",
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
                    NO_DATA,
                    "worst",
                    "last",
                ],
                [
                    [
                        c["check"],
                        format_check_value(c["check"], c["warn"]),
                        format_check_value(c["check"], c["breach"]),
                        str(c["rounds"]),
                        str(c["ok"]),
                        str(c["warn_rounds"]),
                        str(c["breach_rounds"]),
                        str(c["no_data_rounds"]),
                        format_check_value(c["check"], c["worst_value"]),
                        format_check_value(c["check"], c["last_value"]),
                    ]
                    for c in payload["checks"]
                ],
            )
        )
    return section


def wedding_checks_payload(wedding, rows: pd.DataFrame, settings: Settings) -> dict[str, Any]:
    """Per check (in the SLO module's order): the SLO, counts by state (ok, warn, breach, no
    data: `round_state`, as the figure draws them), worst and last value and every
    evaluation."""
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
        states = [round_state(r.status, r.value) for r in these.itertuples(index=False)]
        counts = pd.Series(states, dtype=object).value_counts()
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
                "no_data_rounds": int(counts.get(NO_DATA, 0)),
                "worst_value": worst,
                "last_value": number_or_none(these["value"].iloc[-1]),
                "evaluations": [
                    {
                        "at": iso(r.evaluated_at),
                        "value": number_or_none(r.value),
                        "status": r.status,
                        "state": state,
                    }
                    for r, state in zip(these.itertuples(index=False), states, strict=True)
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


def _slug(value: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in value.lower()).strip("-") or "unnamed"
