"""The sandbox app's Redis cache: wedperf's cache contract (wedperf.prewarm.contract).

The app reads the very keys pre-warm writes, so a pre-warmed wedding is served from Redis
on its first touch:

- GET /weddings/{id}/guests   <- ``wedperf:wedding:{id}:guest_list``
- GET /weddings/{id}/timeline <- ``wedperf:wedding:{id}:timeline`` + ``...:vendors``

A response body wraps the payloads: ``{"wedding_id": id, "guests": <guest_list>}``,
``{"wedding_id": id, "items": <timeline>, "vendors": <vendors>}``. A cold read (any key
missing) runs the PostgreSQL queries and fills the keys for ``cache_ttl`` seconds — unless the
request says ``Cache-Control: no-store`` (a first-touch measurement that must not warm).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

import redis
import redis.asyncio as aioredis
from starlette.responses import Response

from wedperf.prewarm.contract import KEY_PATTERN, dataset_key, encode_rows

if TYPE_CHECKING:
    from wedperf.sandbox.state import SandboxState

log = logging.getLogger(__name__)
KEY_PREFIX = "sandbox:"  # the app's own keys from before the contract; a reseed clears them too
DEFAULT_TTL_SECONDS = 900  # a wedding-day cache entry outlives a few timeline refreshes
# route -> the contract datasets its body is made of, and the body's field for each
GUESTS = (("guest_list", "guests"),)
TIMELINE = (("timeline", "items"), ("vendors", "vendors"))
Loader = Callable[[], Awaitable[dict[str, list[dict[str, Any]]]]]


def guests_key(wedding_id: int) -> str:
    return dataset_key(wedding_id, "guest_list")


def timeline_key(wedding_id: int) -> str:
    return dataset_key(wedding_id, "timeline")


async def contract_read(
    state: SandboxState,
    operation: str,
    wedding_id: int,
    fields: Sequence[tuple[str, str]],
    load: Loader,
    *,
    store: bool = True,
) -> Response:
    """Answer from the contract keys if all are there; else `load()` the datasets from
    PostgreSQL, encode them as the contract says and (if `store`) fill the keys."""
    assert state.redis is not None
    keys = [dataset_key(wedding_id, dataset) for dataset, _ in fields]
    payloads: list[bytes | None] = [None] * len(keys)
    try:
        payloads = await state.redis.mget(keys)
        result = "hit" if all(p is not None for p in payloads) else "miss"
    except aioredis.RedisError as exc:
        # A broken cache degrades to cold reads rather than failing the guest list.
        log.warning("redis mget %s failed: %s", keys, exc)
        result = "error"
    state.metrics.cache_lookups.labels(operation, result).inc()
    if result != "hit":
        rows = await load()
        payloads = [encode_rows(dataset, rows[dataset]) for dataset, _ in fields]
        if store:
            with contextlib.suppress(aioredis.RedisError):
                pipe = state.redis.pipeline(transaction=False)
                for key, payload in zip(keys, payloads, strict=True):
                    pipe.set(key, payload, ex=state.cache_ttl)
                await pipe.execute()
    body = b'{"wedding_id":%d' % wedding_id
    for (_, name), payload in zip(fields, payloads, strict=True):
        body += b',"%s":%s' % (name.encode(), payload)
    return Response(body + b"}", media_type="application/json", headers={"x-wedperf-cache": result})


def clear_sandbox_cache(redis_url: str) -> int:
    """Delete every contract key and every ``sandbox:*`` key (writes: Redis); returns how many
    were deleted. A reseed replaces every wedding's data, so the old data set's cache must go."""
    client = redis.Redis.from_url(redis_url)
    try:
        deleted = 0
        for pattern in (f"{KEY_PREFIX}*", KEY_PATTERN):
            batch: list[bytes] = []
            for key in client.scan_iter(match=pattern, count=1000):
                batch.append(key)
                if len(batch) >= 1000:
                    deleted += client.delete(*batch)
                    batch.clear()
            if batch:
                deleted += client.delete(*batch)
        return deleted
    finally:
        client.close()
