"""perf.capacity_state: each target's pre-raise baseline and the floor wedperf set last.

A raise remembers the floor it replaced (only the first raise of a run of raises does), so
the restore after the weddings brings that one back; a target with a baseline is owed a
restore (`raised_targets`, which the plan reads so a raised floor is never orphaned).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import psycopg

from wedperf.db.queries import queries

Q = queries("capacity")


@dataclass(frozen=True)
class TargetState:
    baseline: int | None
    floor: int | None
    changed_at: datetime | None


def target_state(conn: psycopg.Connection, target: str) -> TargetState:
    row = conn.execute(Q["target_state"], {"target": target}).fetchone()
    return TargetState(*row) if row else TargetState(None, None, None)


def raised_targets(conn: psycopg.Connection) -> list[str]:
    """The targets whose floor is raised now: a restore is still owed to each."""
    return [row[0] for row in conn.execute(Q["raised_targets"])]


def remember_raise(
    conn: psycopg.Connection, target: str, *, before: int | None, after: int
) -> None:
    """Keep the pre-raise floor as the baseline (only the first raise sets it)."""
    with conn.transaction():
        conn.execute(Q["remember_raise"], {"target": target, "before": before, "after": after})


def remember_restore(conn: psycopg.Connection, target: str, *, after: int) -> None:
    with conn.transaction():
        conn.execute(Q["remember_restore"], {"target": target, "after": after})
