"""One evaluation round: run every check for a set of weddings and classify against SLOs."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd

from wedperf.config import CriticalPathSettings
from wedperf.critical_path import checks
from wedperf.critical_path.data import DayData
from wedperf.critical_path.slo import CHECKS, LATENCY_OPERATIONS, resolve_slo, tier_of

RESULT_COLUMNS = [
    "wedding_id",
    "check_name",
    "value",
    "warn_threshold",
    "threshold",
    "status",
    "detail",
]


def run_checks(
    weddings: pd.DataFrame, data: DayData, at: datetime, settings: CriticalPathSettings
) -> pd.DataFrame:
    """Raw check values (wedding_id, check_name, value, detail) for every wedding and check."""
    frames = [
        checks.guest_arrival(
            weddings,
            data.checkins,
            at,
            expected_share=settings.expected_checkin_share,
            arrival_minutes=settings.arrival_minutes,
        ),
        checks.guests_missing_at_ceremony(
            weddings, data.checkins, at, grace=settings.ceremony_grace
        ),
        checks.timeline_drift(weddings, data.items, at),
        checks.vendor_delivery_p95(weddings, data.notifications, at),
        checks.vendor_unresponsive(
            weddings, data.notifications, at, deadline=settings.ack_deadline
        ),
        *(
            checks.incident_response(weddings, data.incidents, at, severity=severity)
            for severity in ("critical", "high", "low")
        ),
        *(
            checks.operation_latency(
                weddings, data.latency, operation=operation, buckets=data.buckets
            )
            for operation in LATENCY_OPERATIONS
        ),
        *(
            checks.mobile_operation_latency(
                weddings, data.latency, operation=operation, buckets=data.buckets
            )
            for operation in LATENCY_OPERATIONS
        ),
    ]
    return pd.concat(frames, ignore_index=True)


def classify(
    raw: pd.DataFrame, weddings: pd.DataFrame, settings: CriticalPathSettings
) -> pd.DataFrame:
    """Attach each row's SLO (default -> global -> tier -> wedding overrides) and status."""
    tiers = {
        str(w): tier_of(int(g), settings)
        for w, g in zip(weddings["wedding_id"], weddings["guest_count"], strict=True)
    }
    slos = {}
    warn, breach, status = [], [], []
    for wedding_id, check, value in zip(
        raw["wedding_id"], raw["check_name"], raw["value"], strict=True
    ):
        key = (check, tiers[wedding_id], wedding_id if wedding_id in settings.weddings else None)
        slo = slos.get(key)
        if slo is None:
            slo = slos[key] = resolve_slo(
                check, wedding_id=wedding_id, tier=tiers[wedding_id], settings=settings
            )
        warn.append(slo.warn)
        breach.append(slo.breach)
        status.append(slo.classify(None if np.isnan(value) else float(value)))
    result = raw.assign(warn_threshold=warn, threshold=breach, status=status)
    return result[RESULT_COLUMNS]


def evaluate(
    weddings: pd.DataFrame, data: DayData, at: datetime, settings: CriticalPathSettings
) -> pd.DataFrame:
    """Every check of every wedding at `at`, with thresholds and ok/warn/breach."""
    return classify(run_checks(weddings, data, at, settings), weddings, settings)


def describe(check_name: str) -> str:
    return CHECKS[check_name].description
