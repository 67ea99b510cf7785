"""The sandbox app's Redis cache layout, shared by the app, the seed command and pre-warmers.

Each key holds the exact JSON body the app would answer with (UTF-8 bytes), with a TTL:

- ``sandbox:wedding:{id}:guests``   -> body of GET /weddings/{id}/guests
- ``sandbox:wedding:{id}:timeline`` -> body of GET /weddings/{id}/timeline

The simplest correct way to warm a wedding is therefore to GET those two URLs once.
"""

from __future__ import annotations

import redis

KEY_PREFIX = "sandbox:"
DEFAULT_TTL_SECONDS = 900  # a wedding-day cache entry outlives a few timeline refreshes


def guests_key(wedding_id: int) -> str:
    return f"{KEY_PREFIX}wedding:{wedding_id}:guests"


def timeline_key(wedding_id: int) -> str:
    return f"{KEY_PREFIX}wedding:{wedding_id}:timeline"


def clear_sandbox_cache(redis_url: str) -> int:
    """Delete every ``sandbox:*`` key (writes: Redis); returns how many were deleted.

    A reseed replaces every wedding's data, so the cached bodies of the old data set must go.
    """
    client = redis.Redis.from_url(redis_url)
    try:
        deleted = 0
        batch: list[bytes] = []
        for key in client.scan_iter(match=f"{KEY_PREFIX}*", count=1000):
            batch.append(key)
            if len(batch) >= 1000:
                deleted += client.delete(*batch)
                batch.clear()
        if batch:
            deleted += client.delete(*batch)
        return deleted
    finally:
        client.close()
