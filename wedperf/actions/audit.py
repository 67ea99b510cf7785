"""perf.actions and perf.capacity_state: what wedperf did, and what each target's floor was.

A package that acts writes its steps here (`record_step`) and asks this module, rather than
querying perf.actions itself, what was done (`acted_since`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

import psycopg

from wedperf.db.queries import queries

Q = queries("actions")


@dataclass(frozen=True)
class ActionRecord:
    plan_id: str
    kind: str
    target: str
    reason: str
    dry_run: bool
    outcome: str  # done | dry-run | planned | skipped | failed
    before: str | None = None
    after: str | None = None
    wedding_ids: Sequence[str] = ()
    detail: str = ""


def record_action(conn: psycopg.Connection, action: ActionRecord) -> None:
    """Write one step; a retried run overwrites its own step (natural key plan/kind/target)."""
    with conn.transaction():
        conn.execute(
            Q["record_action"],
            {
                "plan_id": action.plan_id,
                "kind": action.kind,
                "target": action.target,
                "before": action.before,
                "after": action.after,
                "reason": action.reason,
                "wedding_ids": list(action.wedding_ids),
                "dry_run": action.dry_run,
                "outcome": action.outcome,
                "detail": action.detail,
            },
        )


def record_step(
    conn: psycopg.Connection,
    plan_id: str,
    kind: str,
    target: str,
    *,
    outcome: str,
    reason: str,
    dry_run: bool,
    before: object | None = None,
    after: object | None = None,
    wedding_ids: Iterable[str] = (),
    detail: str = "",
) -> None:
    """Write one step of `plan_id` to perf.actions (as `record_action`); `before` and `after`
    are kept as text (a floor of 6 is "6"), None as NULL."""
    record_action(
        conn,
        ActionRecord(
            plan_id=plan_id,
            kind=kind,
            target=target,
            reason=reason,
            dry_run=dry_run,
            outcome=outcome,
            before=None if before is None else str(before),
            after=None if after is None else str(after),
            wedding_ids=tuple(wedding_ids),
            detail=detail,
        ),
    )


def acted_since(conn: psycopg.Connection, kind: str, target: str, since: datetime) -> bool:
    """Has a step of `kind` on `target` ended `done` after `since`? (Dry-run, skipped and
    failed steps changed nothing, so they do not count.)"""
    return conn.execute(
        Q["acted_since"], {"kind": kind, "target": target, "since": since}
    ).fetchone()[0]


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
