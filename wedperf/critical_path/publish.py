"""Which weddings' artifacts a watch round republishes.

Writing two artifacts per live wedding every round is most of a round's time at 1,000
weddings (bench/critical_path.py), and a new artifact version that says what the last one
said helps nobody. So a round republishes a wedding when something a person would act on
changed — a check's status differs from the previous round's, or it is the wedding's first
round — and otherwise at most once per `refresh` (spread over the rounds by wedding, so the
refreshes do not all land on one round). The stored checks (perf.critical_path_checks),
`wedperf watch` and the evidence report always have every round.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

import pandas as pd
import psycopg

from wedperf.calendar.model import Wedding
from wedperf.db.queries import queries

Statuses = Mapping[str, Mapping[str, str]]  # wedding id -> check name -> status


def previous_statuses(
    conn: psycopg.Connection, weddings: Sequence[Wedding], previous_round: datetime
) -> dict[str, dict[str, str]]:
    statuses: dict[str, dict[str, str]] = {}
    rows = conn.execute(
        queries("critical_path")["previous_statuses"],
        {"evaluated_at": previous_round, "wedding_ids": [w.wedding_id for w in weddings]},
    )
    for wedding_id, check_name, status in rows:
        statuses.setdefault(wedding_id, {})[check_name] = status
    return statuses


def weddings_to_publish(
    weddings: Sequence[Wedding],
    results: pd.DataFrame,
    previous: Statuses,
    *,
    at: datetime,
    interval: timedelta,
    refresh: timedelta,
) -> list[Wedding]:
    """The weddings whose artifacts this round writes (see the module docstring).
    `refresh` zero or shorter than the interval: every wedding, every round."""
    every = int(refresh / interval) if interval > timedelta(0) else 0
    if every <= 1:
        return list(weddings)
    round_number = int(at.timestamp() // interval.total_seconds())
    now = {
        wedding_id: dict(zip(rows["check_name"], rows["status"], strict=True))
        for wedding_id, rows in results.groupby("wedding_id")
    }
    chosen = []
    for wedding in weddings:
        current = now.get(wedding.wedding_id)
        if current is None:
            continue  # not evaluated this round: nothing to publish
        before = previous.get(wedding.wedding_id)
        due = (round_number + zlib.crc32(wedding.wedding_id.encode())) % every == 0
        if before is None or before != current or due:
            chosen.append(wedding)
    return chosen
