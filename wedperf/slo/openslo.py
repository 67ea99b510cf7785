"""The SLOs of upcoming wedding days as OpenSLO v1 documents (github.com/OpenSLO/OpenSLO).

OpenSLO's time windows are rolling or calendar-aligned; a wedding's day window is neither, so
each (wedding, SLO) is one `SLO` whose window is calendar-aligned: it starts when the day
window opens, in the venue's timezone, and lasts as long as the day window (a duration in
minutes). Only its first period means anything, which the `window-kind: one-off` annotation
says. The indicator is a ratio of counters (good: requests within the threshold's bucket;
total: the +Inf bucket) with Occurrences budgeting; each alert window pair is an inline
AlertPolicy with a burnrate AlertCondition on the long span (OpenSLO has one lookback window
per condition, so the short span is in its description).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

from wedperf.calendar.model import Wedding
from wedperf.config import Settings
from wedperf.slo.budget import alert_windows
from wedperf.slo.rules import WeddingSlo, le_matcher, wedding_slos, with_matchers

API_VERSION = "openslo/v1"
SERVICE = "wedding-day"
NOTIFICATION_TARGET = "wedperf-alert-inbox"


def object_name(*parts: str) -> str:
    """An RFC 1123 label (lowercase alphanumerics and '-', at most 63 characters) that stays
    unique when long ids are cut: a short digest of the parts is kept."""
    raw = "-".join(parts)
    name = re.sub(r"[^a-z0-9-]+", "-", raw.lower()).strip("-")
    if len(name) <= 63 and name == raw:
        return name
    digest = hashlib.sha256(raw.encode()).hexdigest()[:8]
    return f"{name[: 63 - 9].rstrip('-')}-{digest}"


def _slo_document(ws: WeddingSlo, settings: Settings) -> dict:
    d = ws.definition
    name = object_name(d.name, "wedding", ws.wedding.wedding_id)
    good = with_matchers(ws.selector, [le_matcher(d.threshold_s)])
    total = with_matchers(ws.selector, ['le="+Inf"'])
    local = ws.opens.astimezone(ws.wedding.zone)
    policies = []
    for w in alert_windows(ws.length_minutes, settings.slo):
        extra = (
            " and at least the burn that would spend what is left of the budget by the window's "
            "close"
            if w.severity == "page"
            else ""
        )
        policies.append(
            {
                "kind": "AlertPolicy",
                "metadata": {"name": object_name(name, w.name)},
                "spec": {
                    "description": (
                        f"{w.name}: {w.burn_rate:g}x"
                        + (" of the day's budget" if w.measure == "budget" else "")
                        + f" over {w.long_minutes}m, confirmed by "
                        f"{w.short_minutes}m{extra}; at least "
                        f"{d.events_needed(ws.objective)} events in the long span"
                    ),
                    "alertWhenBreaching": True,
                    "alertWhenResolved": True,
                    "alertWhenNoData": False,
                    "conditions": [
                        {
                            "kind": "AlertCondition",
                            "metadata": {"name": object_name(name, w.name, "burn")},
                            "spec": {
                                "severity": w.severity,
                                "condition": {
                                    "kind": "burnrate",
                                    # wedperf fires at the rate or above it
                                    "op": "gte",
                                    "threshold": w.burn_rate,
                                    "lookbackWindow": f"{w.long_minutes}m",
                                    "alertAfter": "0m",
                                },
                            },
                        }
                    ],
                    "notificationTargets": [{"targetRef": NOTIFICATION_TARGET}],
                },
            }
        )
    return {
        "apiVersion": API_VERSION,
        "kind": "SLO",
        "metadata": {
            "name": name,
            "displayName": f"{d.name}, wedding {ws.wedding.wedding_id}",
            "labels": {
                "wedding_id": ws.wedding.wedding_id,
                "slo": d.name,
                "tier": ws.tier,
                "operation": d.operation,
            },
            "annotations": {
                "window-kind": "one-off",
                "window-start": ws.opens.isoformat(),
                "window-end": ws.closes.isoformat(),
            },
        },
        "spec": {
            "description": (
                f"{d.description or d.name}, over wedding {ws.wedding.wedding_id}'s day window"
            )[:1050],
            "service": SERVICE,
            "indicator": {
                "metadata": {"name": object_name(name, "sli")},
                "spec": {
                    "ratioMetric": {
                        "counter": True,
                        "good": {
                            "metricSource": {
                                "type": "Prometheus",
                                "spec": {"query": f"sum({good})"},
                            }
                        },
                        "total": {
                            "metricSource": {
                                "type": "Prometheus",
                                "spec": {"query": f"sum({total})"},
                            }
                        },
                    }
                },
            },
            "timeWindow": [
                {
                    "duration": f"{ws.length_minutes}m",
                    "calendar": {
                        "startTime": local.strftime("%Y-%m-%d %H:%M:%S"),
                        "timeZone": ws.wedding.timezone,
                    },
                    "isRolling": False,
                }
            ],
            "budgetingMethod": "Occurrences",
            "objectives": [
                {
                    "displayName": f"{ws.objective:.2%} within {d.threshold_s:g} s",
                    "target": ws.objective,
                }
            ],
            "alertPolicies": policies,
        },
    }


def openslo_documents(
    weddings: Sequence[Wedding], settings: Settings
) -> tuple[list[dict], list[str]]:
    """The Service, the alert inbox as a notification target, and one SLO per (wedding, SLO);
    and the SLOs left out (no Prometheus histogram for their operation)."""
    found, skipped = wedding_slos(weddings, settings)
    documents = [
        {
            "apiVersion": API_VERSION,
            "kind": "Service",
            "metadata": {"name": SERVICE, "displayName": "Wedding day"},
            "spec": {
                "description": "The platform as each wedding's guests, couple and vendors "
                "use it on the day"
            },  # fmt: skip
        },
        {
            "apiVersion": API_VERSION,
            "kind": "AlertNotificationTarget",
            "metadata": {"name": NOTIFICATION_TARGET},
            "spec": {
                "description": "wedperf's alert inbox (perf.alerts), as page or ticket",
                "target": "webhook",
            },
        },
    ]
    documents += [_slo_document(ws, settings) for ws in found]
    return documents, skipped
