"""A watch round for a set of weddings: load, evaluate, (optionally) record."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pandas as pd
import psycopg

from wedperf.calendar.model import Wedding
from wedperf.calendar.sync import weddings_in_day_windows
from wedperf.config import Settings
from wedperf.critical_path.checks import client_latency
from wedperf.critical_path.data import load_day_data
from wedperf.critical_path.evaluate import evaluate
from wedperf.critical_path.record import AlertChanges, store_round
from wedperf.critical_path.slo import LATENCY_OPERATIONS, validate_overrides
from wedperf.shards import Shard, partition

WEDDING_COLUMNS = ["wedding_id", "starts_at", "ends_at", "timezone", "guest_count", "status"]


@dataclass(frozen=True)
class RoundResult:
    at: datetime
    results: pd.DataFrame
    alerts: AlertChanges | None
    # p95 per wedding x operation x client group (all, web, mobile, ios, android) over the
    # latency lookback: the view that puts mobile beside web (checks.client_latency).
    by_client: pd.DataFrame = field(default_factory=pd.DataFrame)


def grid_instant(now: datetime, interval: timedelta) -> datetime:
    """`now` floored to the watch grid, so a round (and its retry) has one stable instant."""
    step = int(interval.total_seconds())
    return datetime.fromtimestamp(int(now.timestamp()) // step * step, UTC)


def weddings_frame(weddings: Sequence[Wedding]) -> pd.DataFrame:
    frame = pd.DataFrame(
        [
            (w.wedding_id, w.starts_at, w.ends_at, w.timezone, w.guest_count, w.status)
            for w in weddings
        ],
        columns=WEDDING_COLUMNS,
    )
    for column in ("starts_at", "ends_at"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    return frame


def live_weddings(conn: psycopg.Connection, at: datetime, settings: Settings) -> list[Wedding]:
    """Weddings (not cancelled) whose day window contains `at`."""
    return weddings_in_day_windows(conn, at, at + timedelta(microseconds=1), settings)


def run_round(
    app_conn: psycopg.Connection,
    perf_conn: psycopg.Connection,
    weddings: Sequence[Wedding],
    at: datetime,
    settings: Settings,
    *,
    record: bool,
    by_client: bool = True,
) -> RoundResult:
    """Evaluate every check for `weddings` at `at`; with `record`, store the rows in
    perf.critical_path_checks and fire/resolve alerts in perf.alerts. `by_client`: also the
    p95 per client group (RoundResult.by_client, what `wedperf watch` shows beside the
    checks); a round that shows nothing skips it (a third of a round's time)."""
    validate_overrides(settings.critical_path)
    frame = weddings_frame(weddings)
    data = load_day_data(
        app_conn,
        perf_conn,
        frame,
        at,
        schema=settings.source_schema,
        latency_lookback=settings.critical_path.latency_lookback,
    )
    results = evaluate(frame, data, at, settings.critical_path)
    alerts = store_round(perf_conn, results, at) if record else None
    clients = (
        client_latency(data.latency, LATENCY_OPERATIONS, data.buckets)
        if by_client
        else pd.DataFrame()
    )
    return RoundResult(at=at, results=results, alerts=alerts, by_client=clients)


@dataclass(frozen=True)
class WatchShard(Shard):
    """One shard of a watch round: the weddings whose checks it evaluates (`wedding_ids`)
    and those whose error budgets it evaluates (`budget_ids`: the live ones and those whose
    window closed since the previous round)."""

    budget_ids: list[str] = field(default_factory=list)


def shard_round(
    live: Sequence[Wedding], budget_targets: Sequence[Wedding], shard_size: int
) -> list[WatchShard]:
    """Split a round's weddings into shards of at most `shard_size` weddings.

    The partition of `wedperf.shards` over the round's weddings, checked or budgeted: each
    wedding lands in exactly one shard, and the same calendar gives the same shards. A
    wedding's checks and its budget go to the same shard, so a shard reads each wedding's
    day once.
    """
    checked = {w.wedding_id for w in live}
    budgeted = {w.wedding_id for w in budget_targets}
    chunks = partition(checked | budgeted, shard_size)
    return [
        WatchShard(
            index=n,
            count=len(chunks),
            wedding_ids=[i for i in chunk if i in checked],
            budget_ids=[i for i in chunk if i in budgeted],
        )
        for n, chunk in enumerate(chunks)
    ]
