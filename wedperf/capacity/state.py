"""perf.capacity_state: each target's pre-raise baseline and the floor wedperf set last;
perf.capacity_utilisation: the same for its autoscaler target utilisation.

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
    raised_by: str | None = None  # the kind of step whose raise is in force (None: none)


def target_state(conn: psycopg.Connection, target: str) -> TargetState:
    row = conn.execute(Q["target_state"], {"target": target}).fetchone()
    return TargetState(*row) if row else TargetState(None, None, None, None)


def raised_targets(conn: psycopg.Connection) -> list[str]:
    """The targets whose floor is raised now: a restore is still owed to each."""
    return [row[0] for row in conn.execute(Q["raised_targets"])]


def remember_raise(
    conn: psycopg.Connection,
    target: str,
    *,
    before: int | None,
    after: int,
    by: str,
    at: datetime | None = None,
    keep_raiser: bool = False,
) -> None:
    """Keep the pre-raise floor as the baseline (only the first raise sets it), and `by`,
    the kind of step whose raise is now in force (the last raise's; with `keep_raiser`, the
    raiser already in force stays — the nowcast's raise over a planned raise or a scale-up,
    so its own restore leaves the floor to theirs). The capacity-floor
    step records it before its write, as the raise's intent, and commits it first, so a
    raise is never in force without a restore owed. `at`: the instant the step decides on
    (its cooldown's clock), the database's now() when None."""
    params = {"target": target, "before": before, "after": after, "by": by, "at": at,
              "keep_raiser": keep_raiser}  # fmt: skip
    with conn.transaction():
        conn.execute(Q["remember_raise"], params)


def remember_restore(
    conn: psycopg.Connection, target: str, *, after: int, at: datetime | None = None
) -> None:
    """No raise in force any more (restored, or the floor is someone else's): baseline and
    `raised_by` cleared, `after` noted as the floor."""
    with conn.transaction():
        conn.execute(Q["remember_restore"], {"target": target, "after": after, "at": at})


@dataclass(frozen=True)
class UtilisationState:
    baseline: int | None  # the target utilisation (%) before wedperf lowered it
    utilisation: int | None  # the value wedperf set last
    changed_at: datetime | None


def utilisation_state(conn: psycopg.Connection, target: str) -> UtilisationState:
    row = conn.execute(Q["utilisation_state"], {"target": target}).fetchone()
    return UtilisationState(*row) if row else UtilisationState(None, None, None)


def lowered_targets(conn: psycopg.Connection) -> list[str]:
    """The targets whose target utilisation is lowered now: a restore is owed to each."""
    return [row[0] for row in conn.execute(Q["lowered_targets"])]


def remember_lower(conn: psycopg.Connection, target: str, *, before: int, after: int) -> None:
    """A lowering's intent, before its write: the pre-lowering value as the baseline (only
    the first lowering of a run sets it) and the value about to be set. The caller commits
    it before writing, so a lowering is never in force without a restore owed."""
    with conn.transaction():
        conn.execute(Q["remember_lower"], {"target": target, "before": before, "after": after})


def forget_lowering(conn: psycopg.Connection, target: str, *, current: int | None) -> None:
    """No restore owed any more (the value is someone else's, or the target has no target
    utilisation); `current`, the value seen, is noted when there is one."""
    with conn.transaction():
        conn.execute(Q["forget_lowering"], {"target": target, "current": current})


def remember_utilisation_restore(conn: psycopg.Connection, target: str, *, after: int) -> None:
    with conn.transaction():
        conn.execute(Q["remember_utilisation_restore"], {"target": target, "after": after})
