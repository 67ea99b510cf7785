"""What the budgets are computed from: per-minute good/total event counts (the SLI) and the
weight of each minute (the phase of the day it falls in).

The SLI is read from perf.rollups_minute, which collection (and the RUM route, for late
beacons) keeps up to date: good = the cumulative bucket at the SLO's threshold, total = the
minute's events. Phases come from the app's timeline items (app-DB contract view
`timeline_items`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import psycopg

from wedperf.calendar.model import Wedding
from wedperf.contract import rows_for_weddings
from wedperf.db.queries import queries
from wedperf.slo.settings import PhaseWeight, SloDefinition

Q = queries("slo")
MINUTE = timedelta(minutes=1)
SLI_COLUMNS = ["wedding_id", "minute", "total", "good"]


class SliError(RuntimeError):
    """The SLI cannot be read as configured (a threshold the stored histograms lack)."""


def sli_minutes(
    conn: psycopg.Connection,
    definition: SloDefinition,
    wedding_ids: Sequence[str],
    start: datetime,
    end: datetime,
) -> pd.DataFrame:
    """SLI_COLUMNS for the weddings' minutes in [start, end) that had events."""
    rows = conn.execute(
        Q["sli_minutes"],
        {
            "threshold": definition.threshold_s,
            "operation": definition.operation,
            "client": definition.clients,
            "wedding_ids": list(wedding_ids),
            "start": start,
            "end": end,
        },
    ).fetchall()
    frame = pd.DataFrame(rows, columns=SLI_COLUMNS)
    unreadable = frame[frame["good"].isna() & (frame["total"] > 0)]
    if len(unreadable):
        first = unreadable.iloc[0]
        raise SliError(
            f"SLO {definition.name}: the rollup of wedding {first.wedding_id} at "
            f"{first.minute:%Y-%m-%d %H:%M} has no bucket at {definition.threshold_s} s; "
            "roll that span up again with the current bounds"
        )
    return frame.astype({"wedding_id": str, "total": float, "good": float})


@dataclass(frozen=True)
class Phase:
    item: str
    start: datetime
    end: datetime
    weight: float


def load_phases(
    app_conn: psycopg.Connection,
    schema: str,
    weddings: Sequence[Wedding],
    weights: Mapping[str, Mapping[str, PhaseWeight]],
    at: datetime,
) -> dict[str, list[Phase]]:
    """The weighted phases of each wedding whose tier weighs any (`weights`: wedding_id ->
    item -> weight). A phase runs from the item's start (known by `at`; else its scheduled
    time) to its completion (known by `at`; else `minutes` after its start)."""
    ids = [w.wedding_id for w in weddings if weights.get(w.wedding_id)]
    if not ids:
        return {}
    rows = rows_for_weddings(
        app_conn,
        schema,
        "timeline_items",
        ["wedding_id", "item", "scheduled_at", "started_at", "completed_at"],
        ids,
    )
    phases: dict[str, list[Phase]] = {}
    for wedding_id, item, scheduled_at, started_at, completed_at in rows:
        wedding_id = str(wedding_id)
        weight = weights[wedding_id].get(str(item).strip().lower())
        if weight is None:
            continue
        start = started_at if started_at is not None and started_at <= at else scheduled_at
        if start is None:
            continue
        end = completed_at if completed_at is not None and completed_at <= at else None
        if end is None or end <= start:
            end = start + timedelta(minutes=weight.minutes)
        phases.setdefault(wedding_id, []).append(Phase(str(item), start, end, weight.weight))
    return phases


def minute_weights(opens: datetime, minutes: int, phases: Sequence[Phase]) -> np.ndarray:
    """Weight of each of the `minutes` minutes from `opens`: the largest weight among the
    phases that overlap the minute, 1 where none does."""
    best = np.full(minutes, np.nan)
    for phase in phases:
        first = math.floor((phase.start - opens) / MINUTE)
        last = math.ceil((phase.end - opens) / MINUTE)  # exclusive
        first, last = max(first, 0), min(last, minutes)
        if first < last:
            best[first:last] = np.fmax(best[first:last], phase.weight)
    return np.where(np.isnan(best), 1.0, best)
