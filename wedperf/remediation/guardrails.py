"""Which weddings an action would touch, and whether any is in its ceremony window."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import psycopg

from wedperf.calendar.model import Wedding
from wedperf.calendar.sync import weddings_by_id, weddings_in_day_windows
from wedperf.config import Settings
from wedperf.remediation.playbooks import Playbook


@dataclass(frozen=True)
class CeremonyConflict:
    wedding_id: str
    ceremony_local: str
    until: datetime  # when the ceremony window closes


def ceremony_window(wedding: Wedding, settings: Settings) -> tuple[datetime, datetime]:
    r = settings.remediation
    return wedding.starts_at - r.ceremony_before, wedding.starts_at + r.ceremony_after


def touched_weddings(
    conn: psycopg.Connection,
    playbook: Playbook,
    wedding_id: str | None,
    now: datetime,
    settings: Settings,
) -> list[Wedding]:
    """A wedding-scoped playbook touches the alert's wedding; a platform-wide one (query
    cancel, scale) touches every wedding live now."""
    live = weddings_in_day_windows(conn, now, now + timedelta(microseconds=1), settings)
    if playbook.scope == "wedding" and wedding_id:
        return [w for w in live if w.wedding_id == wedding_id] or weddings_by_id(conn, [wedding_id])
    return live


def ceremony_conflicts(
    weddings: list[Wedding], now: datetime, settings: Settings
) -> list[CeremonyConflict]:
    out = []
    for w in weddings:
        opens, closes = ceremony_window(w, settings)
        if opens <= now < closes:
            out.append(
                CeremonyConflict(w.wedding_id, f"{w.local_start:%H:%M} {w.timezone}", closes)
            )
    return out
