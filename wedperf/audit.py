"""perf.actions: every step wedperf took (or only planned), and whether one was done lately.

A package that acts writes its steps here (`record_step`, the one way to write a step) and
asks this module, rather than querying perf.actions itself, what was done (`acted_since`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

import psycopg

from wedperf.db.queries import queries

Q = queries("actions")


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
    """Write one step of `plan_id` (outcome: done | dry-run | planned | skipped | failed); a
    retried run overwrites its own step (natural key plan/kind/target). `before` and `after`
    are kept as text (a floor of 6 is "6"), None as NULL."""
    with conn.transaction():
        conn.execute(
            Q["record_action"],
            {
                "plan_id": plan_id,
                "kind": kind,
                "target": target,
                "before": None if before is None else str(before),
                "after": None if after is None else str(after),
                "reason": reason,
                "wedding_ids": list(wedding_ids),
                "dry_run": dry_run,
                "outcome": outcome,
                "detail": detail,
            },
        )


def acted_since(
    conn: psycopg.Connection, kind: str | Sequence[str], target: str, since: datetime
) -> bool:
    """Has a step of `kind` (or of any of several kinds) on `target` ended `done` after
    `since`? (Dry-run, skipped and failed steps changed nothing, so they do not count.)"""
    kinds = [kind] if isinstance(kind, str) else list(kind)
    return conn.execute(
        Q["acted_since"], {"kinds": kinds, "target": target, "since": since}
    ).fetchone()[0]


def recorded_step(
    conn: psycopg.Connection, plan_id: str, kind: str, target: str
) -> tuple[str, str | None, str | None, str] | None:
    """(outcome, before, after, reason) of the step `plan_id` recorded, None if none."""
    row = conn.execute(
        Q["recorded_step"], {"plan_id": plan_id, "kind": kind, "target": target}
    ).fetchone()
    return tuple(row) if row else None


def last_step_of(
    conn: psycopg.Connection, target: str, kinds: Iterable[str]
) -> tuple[str, str] | None:
    """(outcome, reason) of the newest step of these kinds on `target`, None if none."""
    row = conn.execute(Q["last_step_of"], {"target": target, "kinds": list(kinds)}).fetchone()
    return tuple(row) if row else None
