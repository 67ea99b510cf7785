"""Known-good statement statistics in wedperf's own database, and regression against them.

A baseline is one statement's cumulative pg_stat_statements figures when it was captured
(normalised text and queryid only). The advisor records a baseline for every wedding-day
statement it sees for the first time; `overwrite` (the `save_baseline` flow parameter, `wedperf
db advise --save-baseline`) replaces the baselines of the statements seen now after a
known-good day (the others keep theirs).

Regression compares the mean time of the calls *since* the baseline (the difference of the
cumulative figures) with the baseline's mean. When the figures restarted since — a global
reset, a reset of the entry alone, or the entry evicted (pg_stat_statements.max) and tracked
again from zero — the difference means nothing, and the current cumulative mean is all there
is.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import psycopg

from wedperf.advisor.settings import AdvisorSettings
from wedperf.advisor.stats import StatementStats, redact_literals
from wedperf.db.queries import queries

Q = queries("advisor")


@dataclass(frozen=True)
class Baseline:
    queryid: int
    query: str
    calls: int
    total_exec_ms: float
    mean_exec_ms: float
    rows: int
    captured_at: datetime


@dataclass(frozen=True)
class Regression:
    baseline_mean_ms: float
    recent_mean_ms: float
    recent_calls: int
    ratio: float | None  # None: the baseline's mean was 0
    regressed: bool


def load_baselines(conn: psycopg.Connection, database: str) -> dict[int, Baseline]:
    """Every baseline of one app database, by queryid."""
    rows = conn.execute(Q["baselines"], {"database": database}).fetchall()
    return {row[0]: Baseline(*row) for row in rows}


def save_baselines(
    conn: psycopg.Connection,
    database: str,
    statements: Iterable[StatementStats],
    *,
    captured_at: datetime,
    overwrite: bool = False,
) -> int:
    """Record statements' current figures as their baseline; without `overwrite`, only those
    that have none yet. Returns how many were written."""
    written = 0
    with conn.transaction():
        for s in statements:
            cursor = conn.execute(
                Q["save_baseline"],
                {
                    "database": database,
                    "queryid": s.queryid,
                    "query": redact_literals(s.query),
                    "calls": s.calls,
                    "total_exec_ms": s.total_exec_ms,
                    "mean_exec_ms": s.mean_exec_ms,
                    "rows": s.rows,
                    "captured_at": captured_at,
                    "overwrite": overwrite,
                },
            )
            written += cursor.rowcount
    return written


def compare(
    statement: StatementStats,
    baseline: Baseline,
    settings: AdvisorSettings,
    *,
    stats_reset: datetime | None = None,
) -> Regression:
    """The statement's recent mean against its baseline's. `stats_reset`: when
    pg_stat_statements was last reset as a whole."""
    if restarted_since(statement, baseline, stats_reset=stats_reset):
        recent_calls, recent_mean = statement.calls, statement.mean_exec_ms
    elif statement.calls > baseline.calls:
        recent_calls = statement.calls - baseline.calls
        recent_mean = (statement.total_exec_ms - baseline.total_exec_ms) / recent_calls
    else:
        recent_calls, recent_mean = 0, baseline.mean_exec_ms  # not called since
    ratio = recent_mean / baseline.mean_exec_ms if baseline.mean_exec_ms > 0 else None
    regressed = (
        recent_calls >= settings.regression_min_calls
        and (ratio is None or ratio >= settings.regression_ratio)
        and recent_mean - baseline.mean_exec_ms >= settings.regression_min_ms
    )
    return Regression(
        baseline_mean_ms=baseline.mean_exec_ms,
        recent_mean_ms=recent_mean,
        recent_calls=recent_calls,
        ratio=ratio,
        regressed=regressed,
    )


def restarted_since(
    statement: StatementStats, baseline: Baseline, *, stats_reset: datetime | None = None
) -> bool:
    """Whether the statement's cumulative figures started again from zero after the baseline
    was captured, so that subtracting the baseline's would be meaningless.

    pg_stat_statements_info.stats_reset only tells a reset of everything; an entry reset by
    queryid or evicted under pg_stat_statements.max restarts on its own. PostgreSQL 17+ says
    when (`stats_since`); before, figures smaller than the baseline's are the sign (the same
    number of calls with a different total too: cumulative figures only grow).
    """
    if stats_reset is not None and stats_reset > baseline.captured_at:
        return True
    if statement.stats_since is not None and statement.stats_since > baseline.captured_at:
        return True
    same_total = math.isclose(statement.total_exec_ms, baseline.total_exec_ms, rel_tol=1e-9)
    if statement.calls < baseline.calls:
        return True
    if statement.total_exec_ms < baseline.total_exec_ms and not same_total:
        return True
    return statement.calls == baseline.calls and not same_total
