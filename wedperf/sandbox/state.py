"""Per-instance machinery of the sandbox app: connections, worker slots, timing, caching.

The request handlers (wedperf.sandbox.app) describe what each operation does; this module is
how every operation is run: inside a worker slot, timed from arrival, with Redis in front of
PostgreSQL for reads.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import psycopg
import redis.asyncio as aioredis
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool, PoolTimeout
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse, Response

from wedperf.sandbox.capacity import CapacityLimiter
from wedperf.sandbox.sqlfiles import named_queries
from wedperf.sandbox.telemetry import AppMetrics, create_metrics

log = logging.getLogger(__name__)

# PostgreSQL connections per app instance. Raising capacity above this makes the database pool
# the next queue, as it would be on a real platform.
DB_POOL_SIZE = 16
Work = Callable[[], Awaitable[Response]]


class SandboxState:
    """Connections, worker slots and metrics of one app instance."""

    def __init__(self, database_url: str, redis_url: str, capacity: int, cache_ttl: int) -> None:
        self.database_url = database_url
        self.redis_url = redis_url
        self.cache_ttl = cache_ttl
        self.limiter = CapacityLimiter(capacity)
        self.metrics: AppMetrics = create_metrics()
        self.metrics.capacity.set_function(lambda: self.limiter.capacity)
        self.metrics.busy.set_function(lambda: self.limiter.busy)
        self.metrics.queued.set_function(lambda: self.limiter.waiting)
        self.pool: AsyncConnectionPool | None = None
        self.redis: aioredis.Redis | None = None
        self._open_lock = asyncio.Lock()

    async def open(self) -> None:
        """Open the pool and Redis client once (lifespan start, or first request without one)."""
        if self.pool is not None:
            return
        async with self._open_lock:
            if self.pool is not None:
                return
            pool = AsyncConnectionPool(
                self.database_url,
                min_size=1,
                max_size=DB_POOL_SIZE,
                open=False,
                check=AsyncConnectionPool.check_connection,
                kwargs={"autocommit": True, "connect_timeout": 10},
                name="wedperf-sandbox",
            )
            await pool.open(wait=True, timeout=15)
            self.redis = aioredis.Redis.from_url(self.redis_url)
            self.pool = pool

    async def aclose(self) -> None:
        if self.pool is not None:
            await self.pool.close()
            self.pool = None
        if self.redis is not None:
            await self.redis.aclose()
            self.redis = None

    async def query(
        self, conn: psycopg.AsyncConnection, operation: str, name: str, **params: Any
    ) -> list[dict[str, Any]]:
        """Run the named query of queries.sql and count it against `operation`."""
        self.metrics.db_queries.labels(operation).inc()
        cursor = conn.cursor(row_factory=dict_row)
        await cursor.execute(named_queries("queries.sql")[name], params)
        return await cursor.fetchall() if cursor.description else []

    async def measured(self, operation: str, wedding_id: int, work: Work) -> Response:
        """Run `work` in a worker slot; observe arrival-to-response time, queueing included."""
        began = time.perf_counter()
        status = 500
        try:
            async with self.limiter.slot():
                queued = time.perf_counter() - began
                response = await work()
            status = response.status_code
        except HTTPException as exc:
            status = exc.status_code
            raise
        except (psycopg.Error, PoolTimeout) as exc:
            log.warning("%s for wedding %s: database error: %s", operation, wedding_id, exc)
            status = 503
            return error_response(503, "database unavailable")
        finally:
            self.metrics.requests.labels(operation, str(status)).inc()
        elapsed = time.perf_counter() - began
        # Only successes are observed per wedding: a flood of bad ids must not mint series.
        self.metrics.request_duration.labels(operation, str(wedding_id)).observe(elapsed)
        response.headers["server-timing"] = (
            f"queue;dur={queued * 1000:.3f}, total;dur={elapsed * 1000:.3f}"
        )
        return response

    async def cached_read(
        self, operation: str, key: str, load: Callable[[], Awaitable[bytes]]
    ) -> Response:
        """Answer from Redis if warm; else `load()` from PostgreSQL and cache the body."""
        assert self.redis is not None
        body: bytes | None = None
        try:
            body = await self.redis.get(key)
            result = "hit" if body is not None else "miss"
        except aioredis.RedisError as exc:
            # A broken cache degrades to cold reads rather than failing the guest list.
            log.warning("redis get %s failed: %s", key, exc)
            result = "error"
        self.metrics.cache_lookups.labels(operation, result).inc()
        if body is None:
            body = await load()
            with contextlib.suppress(aioredis.RedisError):
                await self.redis.set(key, body, ex=self.cache_ttl)
        return Response(body, media_type="application/json", headers={"x-wedperf-cache": result})


def error_response(status: int, message: str) -> JSONResponse:
    """The app's JSON error body."""
    return JSONResponse({"error": message, "status": status}, status_code=status)
