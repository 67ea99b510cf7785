"""RUM beacons as samples: the same store path (and natural key) as every metrics source.

A beacon becomes one `latency_s` sample of source `rum`: operation and wedding as sent, value
in seconds, `client` its client kind, attributed_by `beacon` (or `window` when it names no
wedding). Its series is `<client>/<network>/<app_version>/<screen>#<id>`, where the id is the
beacon's own `beacon_id`, or a digest of its content when it has none; with the start time
that makes the natural key, so a retried batch stores nothing new.

A beacon naming a wedding perf.weddings does not know is dropped, not stored: whatever an app
put in the field (a couple's name, a phone number) never reaches perf.samples. After storing,
the minutes the batch's beacons fall in are rolled up again, so a beacon queued offline for
hours still reaches perf.rollups_minute (collection rolls up only its own window).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from psycopg_pool import ConnectionPool

from wedperf.db.connection import with_db_retry
from wedperf.db.queries import queries
from wedperf.metrics.clients import RUM_SOURCE
from wedperf.metrics.model import LATENCY, Sample
from wedperf.metrics.store import rollup_minutes, write_samples
from wedperf.mobile.schemas import RumBeacon

Q = queries("samples")
# Beacon minutes at most this far apart are rolled up as one span; further apart (a phone
# flushing what it queued offline this morning with what it timed just now), separately, so
# a batch does not recompute the hours between them.
ROLLUP_SPAN_GAP = timedelta(minutes=15)


@dataclass(frozen=True)
class StoredBatch:
    """What became of a batch: how many beacons were new, and which (by index in the batch)
    were dropped because their wedding_id names no wedding wedperf knows."""

    stored: int
    unknown_wedding: list[int]


def beacon_key(beacon: RumBeacon) -> str:
    """The beacon's identity within its series: its id, else a digest of what it says."""
    if beacon.beacon_id:
        return beacon.beacon_id
    content = "|".join(
        [
            beacon.screen,
            beacon.operation,
            repr(float(beacon.duration_ms)),
            beacon.network,
            beacon.app_version,
            beacon.client,
            beacon.wedding_id or "",
            beacon.ts.isoformat(),
        ]
    )
    return "h" + hashlib.sha256(content.encode()).hexdigest()[:20]


def beacon_sample(beacon: RumBeacon) -> Sample:
    series = (
        f"{beacon.client}/{beacon.network}/{beacon.app_version}/{beacon.screen}"
        f"#{beacon_key(beacon)}"
    )
    return Sample(
        ts=beacon.ts,
        source=RUM_SOURCE,
        metric=LATENCY,
        operation=beacon.operation,
        series=series,
        wedding_id=beacon.wedding_id,
        attributed_by="beacon" if beacon.wedding_id else "window",
        value=beacon.duration_ms / 1000.0,
        client=beacon.client,
    )


def minute_spans(
    timestamps: Sequence[datetime], *, gap: timedelta = ROLLUP_SPAN_GAP
) -> list[tuple[datetime, datetime]]:
    """[first minute, last minute + 1 min) spans (UTC) covering the minutes `timestamps` fall
    in; minutes at most `gap` apart share a span."""
    minutes = sorted({t.astimezone(UTC).replace(second=0, microsecond=0) for t in timestamps})
    spans: list[tuple[datetime, datetime]] = []
    for minute in minutes:
        if spans and minute - spans[-1][1] <= gap:
            spans[-1] = (spans[-1][0], minute + timedelta(minutes=1))
        else:
            spans.append((minute, minute + timedelta(minutes=1)))
    return spans


def store_beacons(
    pool: ConnectionPool,
    beacons: Sequence[RumBeacon],
    *,
    before: timedelta,
    after: timedelta,
    delays: Sequence[float] = (0.2, 1.0),
) -> StoredBatch:
    """Store `beacons` naming a known wedding (or none) in perf.samples, in one transaction,
    then recompute perf.rollups_minute for their minutes (`before`/`after`: the day window
    that platform-wide samples count for, as in collection's rollup).

    Reads perf.weddings; writes perf.samples and perf.rollups_minute. Raises
    wedperf.db.DatabaseUnavailable when PostgreSQL stays unreachable (short retries: the app
    resends a batch that was not acknowledged; the resend stores nothing twice and rolls up
    again).
    """
    named = sorted({b.wedding_id for b in beacons if b.wedding_id})

    def store() -> StoredBatch:
        with pool.connection() as conn:
            known: set[str] = set()
            if named:
                with conn.transaction():
                    rows = conn.execute(Q["known_wedding_ids"], {"wedding_ids": named})
                    known = {row[0] for row in rows.fetchall()}
            unknown = [
                i for i, b in enumerate(beacons) if b.wedding_id and b.wedding_id not in known
            ]
            dropped = set(unknown)
            kept = [beacon_sample(b) for i, b in enumerate(beacons) if i not in dropped]
            return StoredBatch(stored=write_samples(conn, kept), unknown_wedding=unknown)

    result = with_db_retry(store, what=f"storing {len(beacons)} RUM beacons", delays=delays)
    dropped = set(result.unknown_wedding)
    spans = minute_spans([b.ts for i, b in enumerate(beacons) if i not in dropped])

    def roll_up() -> None:
        with pool.connection() as conn:
            for start, end in spans:
                rollup_minutes(conn, start, end, before=before, after=after)

    if spans:
        with_db_retry(roll_up, what=f"rolling up {len(spans)} RUM minute span(s)", delays=delays)
    return result
