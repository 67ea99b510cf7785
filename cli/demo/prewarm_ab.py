"""The pre-warm's effect, measured A/B in one load run: the first touch of weddings that were
pre-warmed against weddings that were not, while wedding-day load runs on the live ones."""

from __future__ import annotations

import random
import threading
import time
from typing import TYPE_CHECKING, Any

import httpx
import numpy as np

from cli.demo.errors import DemoError, Progress
from wedperf.db.connection import connect

if TYPE_CHECKING:
    from cli.demo.worker import DemoWorker

PER_GROUP = 10  # weddings pre-warmed, and as many left cold
ROUTES = ("guests", "timeline")  # each wedding's first touch of both screens
# One load client beside the measuring one, on the baseline's 2 replicas: the load contends for
# PostgreSQL, Redis and the event loop, but a first touch never waits for a slot, so the
# difference measured is the cache's, not a queue's (closed-loop clients >= replicas would
# keep every slot busy and the queue would dominate both groups' p95).
LOAD_CLIENTS = 1


def measure_prewarm_ab(
    worker: DemoWorker,
    *,
    base_url: str,
    services,
    live_ids: list[int],
    plan_id: str,
    seed: int,
    progress: Progress,
) -> dict[str, Any]:
    """Pre-warm PER_GROUP upcoming weddings (flow prewarm-weddings on the worker), leave as
    many cold, then touch every one of them for the first time, interleaved, while load runs.
    Returns the flow's result and {cold_p95_ms, warm_p95_ms} of those first touches."""
    from wedperf.prewarm.contract import DATASETS, dataset_key
    from wedperf.sandbox.load import drive_load

    warm, cold = _pick_groups(services.app_database_url, live_ids)
    _forget(services.redis_url, [dataset_key(w, d) for w in warm + cold for d in DATASETS])
    progress(f"pre-warming weddings {warm} (flow prewarm-weddings); {cold} stay cold")
    flow = worker.run(
        "prewarm-weddings/prewarm-weddings",
        {"wedding_ids": [str(w) for w in warm], "plan_id": f"{plan_id}-ab"},
    )
    touches = [(w, route) for w in warm + cold for route in ROUTES]
    random.Random(seed).shuffle(touches)  # interleaved: both groups see the same load
    progress(f"first touch of {len(touches)} screens of those weddings under wedding-day load")
    load = threading.Thread(
        target=drive_load,
        args=(base_url, live_ids),
        kwargs={"requests": 300, "concurrency": LOAD_CLIENTS, "seed": seed + 7},
        daemon=True,
    )
    load.start()
    timings: dict[bool, list[float]] = {True: [], False: []}
    hits: dict[bool, int] = {True: 0, False: 0}
    warmed = set(warm)
    with httpx.Client(base_url=base_url, timeout=30) as http:
        for wedding_id, route in touches:
            began = time.perf_counter()
            answer = http.get(f"/weddings/{wedding_id}/{route}")
            elapsed_ms = (time.perf_counter() - began) * 1000
            if answer.status_code != 200:
                raise DemoError(f"GET /weddings/{wedding_id}/{route}: {answer.status_code}")
            timings[wedding_id in warmed].append(elapsed_ms)
            hits[wedding_id in warmed] += answer.headers.get("x-wedperf-cache") == "hit"
    load.join(timeout=120)
    result = {
        "cold_p95_ms": float(np.percentile(timings[False], 95)),
        "warm_p95_ms": float(np.percentile(timings[True], 95)),
        "warm_weddings": warm,
        "cold_weddings": cold,
        "first_touches_per_group": len(timings[True]),
        "cache_hits": {"warm": hits[True], "cold": hits[False]},
        "redis_keys": flow.get("redis_keys", 0),
        "flow": flow,
    }
    progress(
        f"  first-touch p95: pre-warmed {result['warm_p95_ms']:.1f} ms "
        f"({hits[True]}/{len(timings[True])} cache hits), not pre-warmed "
        f"{result['cold_p95_ms']:.1f} ms ({hits[False]}/{len(timings[False])} hits)"
    )
    return result


def _pick_groups(app_database_url: str, live_ids: list[int]) -> tuple[list[int], list[int]]:
    """2 x PER_GROUP upcoming weddings nobody has touched, alternately assigned by guest count
    so neither group is the bigger weddings."""
    with connect(app_database_url) as conn:
        rows = conn.execute(
            "SELECT id FROM app.weddings WHERE status = 'confirmed' "
            "AND ceremony_at > now() + interval '6 hours' AND NOT id = ANY(%s) "
            "ORDER BY ceremony_at LIMIT %s",
            (live_ids, 2 * PER_GROUP),
        ).fetchall()
        if len(rows) < 2 * PER_GROUP:
            raise DemoError(f"need {2 * PER_GROUP} upcoming weddings, found {len(rows)}")
        ordered = conn.execute(
            "SELECT id FROM app.weddings WHERE id = ANY(%s) ORDER BY guest_count, id",
            ([r[0] for r in rows],),
        ).fetchall()
    ids = [r[0] for r in ordered]
    return ids[1::2], ids[0::2]  # the pre-warmed get the bigger of each pair


def _forget(redis_url: str, keys: list[str]) -> None:
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        client.delete(*keys)
    finally:
        client.close()
