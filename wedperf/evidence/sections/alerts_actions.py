"""Alerts and actions: the inbox's alerts (firing spans, the metric before and after) and
what wedperf did (capacity, pre-warm and remediation steps)."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from wedperf.config import Settings
from wedperf.critical_path.slo import CHECKS
from wedperf.evidence.data import EvidenceData
from wedperf.evidence.sections.model import FigureSpec, Section, Table
from wedperf.evidence.sections.values import (
    format_check_value,
    iso,
    local,
    number_or_none,
    span_words,
)


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
            "value_at_start": number_or_none(a["value_at_start"]),
            "value_after": number_or_none(a["value_after"]),
            "after_at": iso(a["after_at"]),
            # Not a critical-path check: the remediation's verification reading, if any.
            "verified_reading": verified_reading(a.get("remediation_note")),
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
        section.empty = f"No alerts and no actions {span_words(data.scope)}."
        return section
    section.figures.append(
        FigureSpec(
            "alerts_actions",
            "alerts_actions",
            "Alerts as bars from start to resolution (still firing: to the end of the span), "
            "coloured by severity (a bar shorter than 1.5% of the span is drawn that wide, so "
            "a short page stays visible); actions as markers on their alert's row (remediation) "
            "or on a row per kind.",
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


# wedperf.remediation.verify's reading of a metric rule, as the remediation stored it in
# perf.alerts.remediation_note: "verified by metric: p95 923 ms over 86 requests in 5 s ...".
_READING = re.compile(r"verified by metric: (p[\d.]+ [\d.]+ m?s) over (\d+) requests")


def verified_reading(note: str | None) -> str | None:
    """The metric reading of the remediation's verification ("p95 923 ms, 86 requests"), or
    None when the note has none (no remediation, verified at the source, no requests)."""
    found = _READING.search(note or "")
    return None if found is None else f"{found[1]} over {found[2]} requests"


def _before_after(alert: dict[str, Any]) -> str:
    """The check's value when the alert fired → when it resolved (the last round with a value
    while it fired); for an alert of another source (no check values), its remediation's
    verification reading after the playbook. "—" only where nothing is stored."""
    check = alert["check"]
    if check in CHECKS and (
        alert["value_at_start"] is not None or alert["value_after"] is not None
    ):
        after = format_check_value(check, alert["value_after"])
        if alert["value_after"] is None and alert["status"] == "firing":
            after = "no value since"  # its rounds since it fired had nothing to measure
        return f"{format_check_value(check, alert['value_at_start'])} → {after}"
    if alert["verified_reading"] is not None:
        return f"— → {alert['verified_reading']} (remediation's check after the playbook)"
    return "—"
