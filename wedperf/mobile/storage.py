"""RUM beacons as samples: the same store path (and natural key) as every metrics source.

A beacon becomes one `latency_s` sample of source `rum`: operation and wedding as sent, value
in seconds, `client` its client kind, attributed_by `beacon` (or `window` when it names no
wedding). Its series is `<client>/<network>/<app_version>/<screen>#<id>`, where the id is the
beacon's own `beacon_id`, or a digest of its content when it has none; with the start time
that makes the natural key, so a retried batch stores nothing new.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from psycopg_pool import ConnectionPool

from wedperf.metrics.model import LATENCY, Sample
from wedperf.metrics.store import store_samples
from wedperf.mobile.schemas import RumBeacon

SOURCE = "rum"


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
        source=SOURCE,
        metric=LATENCY,
        operation=beacon.operation,
        series=series,
        wedding_id=beacon.wedding_id,
        attributed_by="beacon" if beacon.wedding_id else "window",
        value=beacon.duration_ms / 1000.0,
        client=beacon.client,
    )


def store_beacons(
    pool: ConnectionPool, beacons: Sequence[RumBeacon], *, delays: Sequence[float] = (0.2, 1.0)
) -> int:
    """Store `beacons` in perf.samples (one transaction); returns how many were new.

    Raises wedperf.db.DatabaseUnavailable when PostgreSQL stays unreachable (short retries:
    the app resends a batch that was not acknowledged).
    """
    return store_samples(pool, [beacon_sample(b) for b in beacons], delays=delays)
