"""A budget round: every SLO of a set of weddings at one instant, (optionally) recorded.

A wedding is evaluated from its day window's opening up to the round's instant, or up to its
close if that came first: the round after a window closes writes the day's final budget and
resolves its alerts.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import psycopg

from wedperf.calendar.model import Wedding
from wedperf.calendar.sync import weddings_in_day_windows
from wedperf.config import Settings
from wedperf.critical_path.slo import tier_of
from wedperf.slo.budget import Budget, alert_windows, evaluate_budget
from wedperf.slo.settings import SloDefinition
from wedperf.slo.sli import MINUTE, Q, load_phases, minute_weights, sli_minutes
from wedperf.slo.store import ALERT_SOURCE, BudgetAlertChanges, store_budgets


@dataclass(frozen=True)
class WeddingBudget:
    wedding: Wedding
    definition: SloDefinition
    tier: str
    window_start: datetime
    window_end: datetime
    evaluated_at: datetime
    budget: Budget


@dataclass(frozen=True)
class BudgetRound:
    at: datetime
    budgets: list[WeddingBudget]
    alerts: BudgetAlertChanges | None

    def of(self, wedding_id: str) -> list[WeddingBudget]:
        return [b for b in self.budgets if b.wedding.wedding_id == wedding_id]


def budget_weddings(conn: psycopg.Connection, at: datetime, settings: Settings) -> list[Wedding]:
    """The weddings a round at `at` evaluates: those whose day window is open, and those whose
    window closed since the previous round (their final budget)."""
    return weddings_in_day_windows(
        conn, at - settings.critical_path.interval, at + timedelta(microseconds=1), settings
    )


def _floor_minute(value: datetime) -> datetime:
    return value.replace(second=0, microsecond=0)


AppConnection = Callable[[], AbstractContextManager[psycopg.Connection]]


def evaluate_budgets(
    app_connection: AppConnection | None,
    perf_conn: psycopg.Connection,
    weddings: Sequence[Wedding],
    at: datetime,
    settings: Settings,
    *,
    record: bool,
) -> BudgetRound:
    """Each SLO's budget for each of `weddings` at `at`; with `record`, stored in
    perf.slo_budgets with page/ticket alerts fired or resolved in perf.alerts.

    Reads perf.rollups_minute (the SLIs), the firing budget alerts of perf.alerts and, when
    a tier weighs phases, the app's timeline_items through a connection from
    `app_connection` (a context manager factory), called only then: most deployments weigh
    no phases, and a round should neither wait for nor fail on the app database it does
    not read. None: phases are not read."""
    slo = settings.slo
    unknown = sorted(set(slo.tiers) - set(settings.critical_path.tier_bounds))
    if unknown:
        raise ValueError(f"slo.tiers names undefined tiers: {', '.join(unknown)}")
    weddings = [w for w in weddings if w.status != "cancelled"]
    tiers = {w.wedding_id: tier_of(w.guest_count, settings.critical_path) for w in weddings}
    spans = {
        w.wedding_id: w.day_window(settings.day_window_before, settings.day_window_after)
        for w in weddings
    }
    weights_by_wedding = {w.wedding_id: slo.phase_weights(tiers[w.wedding_id]) for w in weddings}
    phases = {}
    if app_connection is not None and any(weights_by_wedding.values()):
        with app_connection() as app_conn:
            phases = load_phases(app_conn, settings.source_schema, weddings, weights_by_wedding, at)
    firing = {
        (str(w), name, severity)
        for w, name, severity in perf_conn.execute(
            Q["firing_budget_alerts"],
            {"source": ALERT_SOURCE, "wedding_ids": [w.wedding_id for w in weddings], "at": at},
        )
    }
    budgets: list[WeddingBudget] = []
    if weddings and slo.enabled:
        start = min(_floor_minute(spans[w.wedding_id][0]) for w in weddings)
        for definition in slo.definitions:
            frame = sli_minutes(perf_conn, definition, list(spans), start, at)
            by_wedding = dict(tuple(frame.groupby("wedding_id"))) if len(frame) else {}
            for wedding in weddings:
                budgets.append(
                    _wedding_budget(
                        wedding,
                        definition,
                        tiers[wedding.wedding_id],
                        spans[wedding.wedding_id],
                        by_wedding.get(wedding.wedding_id),
                        phases.get(wedding.wedding_id, []),
                        at,
                        settings,
                        {
                            s
                            for w, n, s in firing
                            if (w, n) == (wedding.wedding_id, definition.name)
                        },
                    )
                )
    alerts = (
        store_budgets(perf_conn, budgets, at, after=settings.day_window_after) if record else None
    )
    return BudgetRound(at=at, budgets=budgets, alerts=alerts)


def _wedding_budget(
    wedding: Wedding,
    definition: SloDefinition,
    tier: str,
    span: tuple[datetime, datetime],
    minutes: pd.DataFrame | None,
    phases: list,
    at: datetime,
    settings: Settings,
    firing_before: set[str],
) -> WeddingBudget:
    opens, closes = span
    first = _floor_minute(opens)
    length = math.ceil((closes - first) / MINUTE)
    evaluated_at = min(at, closes)
    elapsed = max(0, min(math.floor((evaluated_at - first) / MINUTE), length))
    good, total = np.zeros(elapsed), np.zeros(elapsed)
    if minutes is not None and elapsed:
        index = ((minutes["minute"] - first) / MINUTE).astype(int).to_numpy()
        inside = (index >= 0) & (index < elapsed)
        np.add.at(total, index[inside], minutes["total"].to_numpy()[inside])
        np.add.at(good, index[inside], minutes["good"].to_numpy()[inside])
    good = np.minimum(good, total)
    objective = settings.slo.objective(definition, tier)
    budget = evaluate_budget(
        good,
        total,
        minute_weights(first, elapsed, phases),
        length_minutes=length,
        objective=objective,
        windows=alert_windows(length, settings.slo),
        min_events=definition.events_needed(objective),
        firing_before=firing_before,
        resolve_share=settings.slo.resolve_share,
        baseline_minutes=math.ceil(settings.slo.baseline / MINUTE),
        confidence=settings.slo.confidence,
        rise_p=settings.slo.rise_p_value,
    )
    return WeddingBudget(wedding, definition, tier, opens, closes, evaluated_at, budget)
