"""Move a few upcoming sandbox weddings into today's day window, so a demo run has weddings
live right now whatever the day and hour it starts."""

from __future__ import annotations

from datetime import datetime, timedelta

import psycopg

# Ceremonies 60, 75, 90, ... minutes from now: inside the 3 h pre-ceremony window, staggered
# the way same-day weddings are.
FIRST_CEREMONY_IN = timedelta(minutes=60)
STAGGER = timedelta(minutes=15)


def bring_weddings_live(
    conn: psycopg.Connection, *, count: int, now: datetime, seed: int
) -> list[int]:
    """Reschedule `count` upcoming confirmed weddings so their ceremonies start soon after
    `now`; their timeline items move with them. Returns the wedding ids, ceremony order.

    Writes app.weddings and app.timeline_items in one transaction. The choice is
    deterministic for a seed (as if those couples had moved their date).
    """
    with conn.transaction():
        ids = [
            row[0]
            for row in conn.execute(
                "SELECT id FROM app.weddings WHERE status = 'confirmed' AND ceremony_at > %s "
                "ORDER BY md5(id::text || %s::text) LIMIT %s",
                (now + timedelta(hours=6), seed, count),
            )
        ]
        for index, wedding_id in enumerate(ids):
            ceremony = (now + FIRST_CEREMONY_IN + index * STAGGER).replace(second=0, microsecond=0)
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
    return ids
