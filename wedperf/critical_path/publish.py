"""Which weddings' artifacts a watch round republishes.

Writing two artifacts per live wedding every round is most of a round's time at 1,000
weddings (bench/critical_path.py), and a new artifact version that says what the last one
said helps nobody. So a round republishes a wedding when something a person would act on
changed — a check's status differs from what its artifacts last showed
(perf.critical_path_published, written only after a successful publish, so a failed or
skipped publish is caught up by the next round), or it was never published — and otherwise
at most once per `refresh` (spread over the rounds by wedding, so the refreshes do not all
land on one round). The stored checks (perf.critical_path_checks), `wedperf watch` and the
evidence report always have every round.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

import pandas as pd
import psycopg
from psycopg.types.json import Jsonb

from wedperf.calendar.model import Wedding
from wedperf.db.queries import queries

Statuses = Mapping[str, Mapping[str, str]]  # wedding id -> check name -> status


def published_statuses(
    conn: psycopg.Connection, weddings: Sequence[Wedding]
) -> dict[str, dict[str, str]]:
    """What each wedding's artifacts last showed (absent: never published)."""
    rows = conn.execute(
        queries("critical_path_artifacts")["published_statuses"],
        {"wedding_ids": [w.wedding_id for w in weddings]},
    )
    return {wedding_id: dict(statuses) for wedding_id, statuses in rows}


def record_published(
    conn: psycopg.Connection, wedding_ids: Sequence[str], results: pd.DataFrame, at: datetime
) -> None:
    """Remember what the artifacts of `wedding_ids` now show (after they were published)."""
    now = statuses_by_wedding(results)
    with conn.transaction(), conn.cursor() as cur:
        cur.executemany(
            queries("critical_path_artifacts")["record_published"],
            [
                {"wedding_id": w, "statuses": Jsonb(now[w]), "evaluated_at": at}
                for w in wedding_ids
                if w in now
            ],
        )


def statuses_by_wedding(results: pd.DataFrame) -> dict[str, dict[str, str]]:
    return {
        wedding_id: dict(zip(rows["check_name"], rows["status"], strict=True))
        for wedding_id, rows in results.groupby("wedding_id")
    }


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
    now = statuses_by_wedding(results)
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
