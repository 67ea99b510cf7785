"""Move sandbox weddings onto the demo's days: a few upcoming ones into today's day window, so
a demo run has weddings live right now whatever the day and hour it starts, and a few that
have happened onto a past day, so it has a whole wedding day behind it.

Ceremonies stay where weddings have them, in the afternoon local time: a live wedding is
one whose venue's clock says afternoon when its ceremony comes (moved to such a venue when
none is found), a past one keeps its own local ceremony time.

Their guests' app signals (app_installed_at, guest_list_opened_at) move with them: a live
wedding's are placed again around its new ceremony by the sandbox's one engagement decision
(wedperf.sandbox.engagement), those after `now` left NULL, so what the app knows ahead of
the wedding is what it would know of a wedding really this close; a past wedding's shift
with the rest of its day.

A live wedding's timeline items start as they come due, as its coordinator would mark them
(`start_due_items`): each a seeded few minutes off its scheduled time — most items by the
seed's law (wedperf.sandbox.day_events: gamma(2, 2) minutes minus 1, mean +3), the ceremony
by the load model's (wedperf.sandbox.demand: gamma(2, 5), mean 10), so an occasional day
runs late enough for the critical path's drift check to warn — and complete after their
planned duration. Items due by `now` when the wedding is moved get those times in the past
(the morning the demo models happened with them); later ones start when a later call finds
them due. A timestamp after `now` is never written.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import psycopg
from psycopg import sql

from wedperf.sandbox.day_events import (
    START_DELAY_SCALE_MIN,
    START_DELAY_SHAPE,
    START_DELAY_SHIFT_MIN,
    TIMELINE,
)
from wedperf.sandbox.demand import CEREMONY_LATE_SCALE_MIN, CEREMONY_LATE_SHAPE
from wedperf.sandbox.engagement import wedding_signals
from wedperf.sandbox.names import CITIES
from wedperf.sandbox.tables import NULL_TS, mask_future, to_us
from wedperf.sandbox.wedding_dates import TIMEZONES

# Ceremonies 60, 75, 90, ... minutes from now: inside the 3 h pre-ceremony window, staggered
# the way same-day weddings are.
FIRST_CEREMONY_IN = timedelta(minutes=60)
STAGGER = timedelta(minutes=15)
# A realistic ceremony time, local (wedding_dates.CEREMONY_TIMES: most 15:00-17:30).
AFTERNOON = (time(13, 0), time(18, 30))
# Where it is afternoon when it is afternoon in none of the sandbox's venue zones (about
# 07:00-12:00 UTC): venues further east, with a city to name them by.
EXTRA_ZONES = {"Asia/Dubai": ("Dubai, UAE",), "Asia/Singapore": ("Singapore",)}
# The stream of a live wedding's item timings: SeedSequence(seed, spawn_key=(ITEM_TIMINGS,
# wedding id)), apart from the engagement decision's streams (spawn keys 1 and 2).
ITEM_TIMINGS = 3
# Planned minutes per item (day_events.TIMELINE); an item run 0.85-1.25 x it, as in the seed.
PLANNED_MINUTES = {item: minutes for item, _, minutes in TIMELINE}
DURATION_FACTOR = (0.85, 1.25)


def afternoon_zones(ceremony: datetime) -> list[str]:
    """The venue zones (the sandbox's first, then EXTRA_ZONES) where `ceremony` falls in the
    AFTERNOON local time."""
    return [
        zone
        for zone in (*TIMEZONES, *EXTRA_ZONES)
        if AFTERNOON[0] <= ceremony.astimezone(ZoneInfo(zone)).time() < AFTERNOON[1]
    ]


def _city(zone: str) -> str:
    return (CITIES.get(zone) or EXTRA_ZONES[zone])[0]


def bring_weddings_live(
    conn: psycopg.Connection, *, count: int, now: datetime, seed: int
) -> list[int]:
    """Reschedule `count` upcoming confirmed weddings so their ceremonies start soon after
    `now`; their timeline items move with them. Returns the wedding ids, ceremony order.

    Each ceremony is in the afternoon local time: the wedding is drawn among those whose
    venue's zone puts it there; if there is none, one is drawn among all and its venue moves
    to such a zone (a city there; the venue keeps its name). Their guests' app signals are
    placed again around the new ceremony (`seed`: the data set's, so the active guests
    behind them are the load model's), and the items due by `now` started
    (`start_due_items`). Writes app.weddings, app.timeline_items and app.guests in one
    transaction. Deterministic for a seed and an hour (as if those couples had moved their
    date).
    """
    ids: list[int] = []
    with conn.transaction():
        # The weddings in play in id order, as the engagement decision takes them.
        in_play = conn.execute(
            "SELECT id, guest_count FROM app.weddings WHERE status <> 'cancelled' ORDER BY id"
        ).fetchall()
        for index in range(count):
            ceremony = (now + FIRST_CEREMONY_IN + index * STAGGER).replace(second=0, microsecond=0)
            zones = afternoon_zones(ceremony)
            pick = (
                "SELECT id, timezone FROM app.weddings WHERE status = 'confirmed' "
                "AND ceremony_at > %(after)s AND NOT id = ANY(%(taken)s) "
                "AND (%(any)s OR timezone = ANY(%(zones)s)) "
                "ORDER BY md5(id::text || %(seed)s::text) LIMIT 1"
            )
            params = {"after": now + timedelta(hours=6), "taken": ids, "seed": seed}
            row = conn.execute(pick, params | {"any": False, "zones": zones}).fetchone()
            if row is None:
                row = conn.execute(pick, params | {"any": True, "zones": zones}).fetchone()
            if row is None:
                break
            wedding_id, zone = row
            if zone not in zones and zones:
                conn.execute(
                    "UPDATE app.weddings SET timezone = %s, "
                    "venue = split_part(venue, ', ', 1) || ', ' || %s WHERE id = %s",
                    (zones[0], _city(zones[0]), wedding_id),
                )
            _move(conn, wedding_id, ceremony)
            _place_guest_signals(conn, wedding_id, ceremony, in_play=in_play, now=now, seed=seed)
            ids.append(wedding_id)
        start_due_items(conn, ids, now=now, seed=seed)
    return ids


def start_due_items(
    conn: psycopg.Connection, wedding_ids: list[int], *, now: datetime, seed: int
) -> int:
    """Start the timeline items of these weddings that have come due by `now`, and complete
    those whose planned duration has run; returns how many items changed.

    Each item starts at its scheduled time plus its own seeded delay (the module's
    docstring) and ends after its planned minutes x 0.85-1.25 (an item without them, or
    without a scheduled time, is left alone). Idempotent: an item already started keeps its
    start (never un-started, never started twice), one already completed is not touched,
    and the same seed gives every call the same times, so a call at a later `now` only
    adds what has come due since; nothing after `now` is written. Cancelled weddings are
    skipped. Call it again as the day goes on (before a watch round) to keep the live
    weddings' run-of-show moving."""
    rows = conn.execute(
        "SELECT t.id, t.wedding_id, t.item, t.scheduled_at FROM app.timeline_items t "
        "JOIN app.weddings w ON w.id = t.wedding_id "
        "WHERE t.wedding_id = ANY(%s) AND w.status <> 'cancelled' "
        "ORDER BY t.wedding_id, t.id",
        (list(wedding_ids),),
    ).fetchall()
    item_ids, starts, durations = [], [], []
    for wedding_id in dict.fromkeys(r[1] for r in rows):
        items = [r for r in rows if r[1] == wedding_id]
        for (item_id, _, _item, scheduled), (delay, duration) in zip(
            items, item_timings(seed, wedding_id, [r[2] for r in items]), strict=True
        ):
            if scheduled is None or duration is None:
                continue
            item_ids.append(item_id)
            starts.append(scheduled + delay)
            durations.append(duration)
    if not item_ids:
        return 0
    changed = conn.execute(
        "WITH v AS ("
        "  SELECT * FROM unnest(%(ids)s::bigint[], %(starts)s::timestamptz[], "
        "                       %(durations)s::interval[]) AS v(id, started, duration)) "
        "UPDATE app.timeline_items t SET "
        "  started_at = COALESCE(t.started_at, v.started), "
        "  completed_at = CASE WHEN COALESCE(t.started_at, v.started) + v.duration <= %(now)s "
        "                      THEN COALESCE(t.started_at, v.started) + v.duration END "
        "FROM v WHERE t.id = v.id AND t.completed_at IS NULL "
        "  AND COALESCE(t.started_at, v.started) <= %(now)s "
        "  AND (t.started_at IS NULL "
        "       OR COALESCE(t.started_at, v.started) + v.duration <= %(now)s)",
        {"ids": item_ids, "starts": starts, "durations": durations, "now": now},
    )
    return changed.rowcount


def item_timings(
    seed: int, wedding_id: int, items: list[str]
) -> list[tuple[timedelta, timedelta | None]]:
    """(start delay, duration) of each of a wedding's timeline items, in the order given
    (the items' id order): deterministic for the seed and the wedding. The ceremony is late
    by the load model's law, every other item by the seed's; the duration is the item's
    planned minutes x 0.85-1.25 (None for an item the sandbox does not plan)."""
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(ITEM_TIMINGS, wedding_id)))
    n = len(items)
    delays = rng.gamma(START_DELAY_SHAPE, START_DELAY_SCALE_MIN, size=n) + START_DELAY_SHIFT_MIN
    late = rng.gamma(CEREMONY_LATE_SHAPE, CEREMONY_LATE_SCALE_MIN, size=n)
    factors = rng.uniform(*DURATION_FACTOR, size=n)
    out: list[tuple[timedelta, timedelta | None]] = []
    for i, item in enumerate(items):
        minutes = float(late[i] if item == "ceremony" else delays[i])
        planned = PLANNED_MINUTES.get(item)
        duration = None if planned is None else _seconds(planned * float(factors[i]) * 60)
        out.append((_seconds(minutes * 60), duration))
    return out


def _seconds(seconds: float) -> timedelta:
    return timedelta(seconds=round(seconds))


def bring_weddings_to_day(
    conn: psycopg.Connection, *, count: int, day: date, now: datetime, zones: list[str]
) -> list[int]:
    """Move `count` weddings that have happened (the most recent completed ones in `zones`
    with an afternoon ceremony) onto `day` in their own zone, at the same local times, with
    every row of their day (timeline, check-ins, vendor notifications, incidents, photos):
    as if those couples had married that day. Only weddings whose reception, so moved, ended
    before `now` are taken. Returns their ids, ceremony order; one transaction."""
    with conn.transaction():
        rows = conn.execute(
            "WITH moved AS ("
            "  SELECT id, ((%(day)s::date + (ceremony_at AT TIME ZONE timezone)::time) "
            "              AT TIME ZONE timezone) - ceremony_at AS shift "
            "  FROM app.weddings "
            "  WHERE status = 'completed' AND timezone = ANY(%(zones)s) "
            "    AND (ceremony_at AT TIME ZONE timezone)::time >= %(from)s "
            "    AND (ceremony_at AT TIME ZONE timezone)::time < %(until)s "
            "    AND (ceremony_at AT TIME ZONE timezone)::date <> %(day)s) "
            "SELECT w.id, m.shift FROM app.weddings w JOIN moved m USING (id) "
            "WHERE w.reception_ends_at + m.shift < %(now)s "
            "ORDER BY w.ceremony_at DESC, w.id LIMIT %(count)s",
            {
                "day": day,
                "zones": zones,
                "from": AFTERNOON[0],
                "until": AFTERNOON[1],
                "now": now,
                "count": count,
            },
        ).fetchall()
        for wedding_id, shift in rows:
            conn.execute(
                "UPDATE app.weddings SET ceremony_at = ceremony_at + %(s)s, "
                "reception_ends_at = reception_ends_at + %(s)s WHERE id = %(id)s",
                {"s": shift, "id": wedding_id},
            )
            for table, columns in _DAY_ROWS.items():
                statement = sql.SQL("UPDATE {} SET {} WHERE wedding_id = %(id)s").format(
                    sql.Identifier("app", table),
                    sql.SQL(", ").join(
                        sql.SQL("{c} = {c} + %(s)s").format(c=sql.Identifier(c)) for c in columns
                    ),
                )
                conn.execute(statement, {"s": shift, "id": wedding_id})
        ordered = conn.execute(
            "SELECT id FROM app.weddings WHERE id = ANY(%s) ORDER BY ceremony_at, id",
            ([r[0] for r in rows],),
        ).fetchall()
    return [r[0] for r in ordered]


# Every timestamp of a wedding's day, per app table (NULLs stay NULL).
_DAY_ROWS = {
    "timeline_items": ("scheduled_at", "started_at", "completed_at"),
    "guest_checkins": ("checked_in_at",),
    "vendor_notifications": ("sent_at", "delivered_at", "acknowledged_at"),
    "incidents": ("opened_at", "first_response_at", "resolved_at"),
    "photos": ("uploaded_at",),
    "guests": ("app_installed_at", "guest_list_opened_at"),
}


def _move(conn: psycopg.Connection, wedding_id: int, ceremony: datetime) -> None:
    conn.execute(
        "WITH moved AS ("
        "  UPDATE app.weddings w SET ceremony_at = %(at)s, "
        "         reception_ends_at = %(at)s + (w.reception_ends_at - w.ceremony_at) "
        "  FROM app.weddings old WHERE w.id = %(id)s AND old.id = w.id "
        "  RETURNING %(at)s - old.ceremony_at AS shift) "
        "UPDATE app.timeline_items t SET scheduled_at = t.scheduled_at + moved.shift "
        "FROM moved WHERE t.wedding_id = %(id)s",
        {"id": wedding_id, "at": ceremony},
    )


def _place_guest_signals(
    conn: psycopg.Connection,
    wedding_id: int,
    ceremony: datetime,
    *,
    in_play: list[tuple[int, int]],
    now: datetime,
    seed: int,
) -> None:
    """The wedding's guests' app signals placed around `ceremony` (NULL after `now`); a
    declined guest the decision has coming after all gets an accepted RSVP, as in the seed."""
    guests = conn.execute(
        "SELECT id, rsvp = 'declined' FROM app.guests WHERE wedding_id = %s ORDER BY id",
        (wedding_id,),
    ).fetchall()
    placed = wedding_signals(
        [invited for _, invited in in_play],
        [i for i, _ in in_play].index(wedding_id),
        declined=np.array([declined for _, declined in guests], dtype=bool),
        ceremony_us=to_us(ceremony),
        seed=seed,
    )
    now_us = to_us(now)
    conn.execute(
        "UPDATE app.guests g SET app_installed_at = v.installed, "
        "guest_list_opened_at = v.opened, "
        "rsvp = CASE WHEN v.changed_mind THEN 'accepted' ELSE g.rsvp END "
        "FROM unnest(%s::bigint[], %s::timestamptz[], %s::timestamptz[], %s::boolean[]) "
        "AS v(id, installed, opened, changed_mind) WHERE g.id = v.id",
        (
            [guest_id for guest_id, _ in guests],
            _instants(mask_future(placed.app_installed_at, now_us)),
            _instants(mask_future(placed.guest_list_opened_at, now_us)),
            placed.changed_mind.tolist(),
        ),
    )


def _instants(values: np.ndarray) -> list[datetime | None]:
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    return [None if v == NULL_TS else epoch + timedelta(microseconds=v) for v in values.tolist()]
