"""The sandbox wedding platform's API: an ASGI app over PostgreSQL (schema app) and Redis.

Latency is honest: every operation runs inside one of `capacity` worker slots (requests beyond
capacity queue, FIFO) and is measured from arrival, queueing included. Reads are served from
Redis when warm — the keys of wedperf's cache contract (wedperf.sandbox.cache), which pre-warm
writes; a cold read pays the real PostgreSQL queries plus a modelled ORM cost per row.
Work that a real platform does elsewhere (image processing, the push provider) is modelled with
documented constants while holding the worker slot, so it consumes capacity like the real thing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import psycopg
import redis.asyncio as aioredis
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from psycopg_pool import PoolTimeout
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from wedperf.sandbox import cache
from wedperf.sandbox.state import SandboxState, error_response

log = logging.getLogger(__name__)

# Modelled costs in seconds (modelling assumptions, not measurements). A cold read hydrates and
# serialises one ORM object per row: 0.1 ms per row, the order of magnitude of a Django or
# SQLAlchemy model plus a serializer, on top of 2 ms per request for session setup and query
# building. A warm read skips all of it: the cached body is the response.
ORM_FIXED_SECONDS = 0.002
ORM_SECONDS_PER_ROW = 0.0001
# Photo upload: thumbnails and EXIF stripping at ~50 MB/s (20 ms per MB) plus 3 ms fixed.
PHOTO_FIXED_SECONDS = 0.003
PHOTO_SECONDS_PER_MB = 0.02
MAX_PHOTO_BYTES = 30_000_000
# Vendor notification: the push provider's API accepts a message in ~4 ms.
PUSH_SECONDS = 0.004
MAX_REPLICAS = 256
_ID = re.compile(r"[0-9]{1,18}")


def create_app(
    database_url: str,
    redis_url: str,
    *,
    capacity: int = 8,
    cache_ttl: int = cache.DEFAULT_TTL_SECONDS,
) -> Starlette:
    """The sandbox API. Reads and writes schema `app` at `database_url`; caches in `redis_url`.
    `capacity`: worker slots (replicas); the demo and the sandbox CLI start at
    wedperf.sandbox.capacity.BASELINE_REPLICAS.

    Routes: GET /weddings/{id}/guests, GET /weddings/{id}/timeline, POST /weddings/{id}/photos,
    POST /weddings/{id}/vendors/{vendor_id}/notify, GET /healthz, GET /metrics,
    GET|PUT /admin/capacity. An `x-wedperf-client` header (ios/android/web) is accepted and
    ignored for now.
    """
    state = SandboxState(database_url, redis_url, capacity, cache_ttl)

    async def ready() -> SandboxState:
        try:
            await state.open()
        except (psycopg.Error, PoolTimeout, aioredis.RedisError) as exc:
            raise HTTPException(503, f"backing services unavailable: {exc}") from exc
        return state

    async def load_guests(wedding_id: int) -> dict[str, list[dict[str, Any]]]:
        assert state.pool is not None
        async with state.pool.connection() as conn:
            await _require_wedding(state, conn, "guest_list", wedding_id)
            rows = await state.query(conn, "guest_list", "guest_list", wedding_id=wedding_id)
        await asyncio.sleep(ORM_FIXED_SECONDS + ORM_SECONDS_PER_ROW * len(rows))
        return {"guest_list": rows}

    async def load_timeline(wedding_id: int) -> dict[str, list[dict[str, Any]]]:
        assert state.pool is not None
        async with state.pool.connection() as conn:
            await _require_wedding(state, conn, "timeline_sync", wedding_id)
            items = await state.query(conn, "timeline_sync", "timeline", wedding_id=wedding_id)
            vendors = await state.query(
                conn, "timeline_sync", "timeline_vendors", wedding_id=wedding_id
            )
        await asyncio.sleep(ORM_FIXED_SECONDS + ORM_SECONDS_PER_ROW * (len(items) + len(vendors)))
        return {"timeline": items, "vendors": vendors}

    async def guests(request: Request) -> Response:
        wedding_id = _path_id(request, "wedding_id")
        st = await ready()
        return await st.measured(
            "guest_list",
            wedding_id,
            lambda: cache.contract_read(
                st,
                "guest_list",
                wedding_id,
                cache.GUESTS,
                lambda: load_guests(wedding_id),
                store=_may_store(request),
            ),
        )

    async def timeline(request: Request) -> Response:
        wedding_id = _path_id(request, "wedding_id")
        st = await ready()
        return await st.measured(
            "timeline_sync",
            wedding_id,
            lambda: cache.contract_read(
                st,
                "timeline_sync",
                wedding_id,
                cache.TIMELINE,
                lambda: load_timeline(wedding_id),
                store=_may_store(request),
            ),
        )

    async def photo_upload(request: Request) -> Response:
        wedding_id = _path_id(request, "wedding_id")
        st = await ready()

        async def work() -> Response:
            body = await request.body()
            if not body:
                raise HTTPException(400, "empty photo body")
            if len(body) > MAX_PHOTO_BYTES:
                raise HTTPException(413, f"photo larger than {MAX_PHOTO_BYTES} bytes")
            assert st.pool is not None
            async with st.pool.connection() as conn:
                await _require_wedding(st, conn, "photo_upload", wedding_id)
            # Thumbnailing cost grows with the size of the image.
            await asyncio.sleep(PHOTO_FIXED_SECONDS + PHOTO_SECONDS_PER_MB * len(body) / 1e6)
            async with st.pool.connection() as conn:
                rows = await st.query(
                    conn,
                    "photo_upload",
                    "insert_photo",
                    wedding_id=wedding_id,
                    bytes=len(body),
                    uploaded_at=datetime.now(UTC),
                )
            payload = {"photo_id": rows[0]["id"], "wedding_id": wedding_id, "bytes": len(body)}
            return JSONResponse(payload, status_code=201)

        return await st.measured("photo_upload", wedding_id, work)

    async def vendor_notify(request: Request) -> Response:
        wedding_id = _path_id(request, "wedding_id")
        vendor_id = _path_id(request, "vendor_id")
        st = await ready()

        async def work() -> Response:
            message = await _notification_message(request)
            assert st.pool is not None
            sent_at = datetime.now(UTC)
            async with st.pool.connection() as conn:
                rows = await st.query(
                    conn,
                    "vendor_notify",
                    "insert_notification",
                    wedding_id=wedding_id,
                    vendor_id=vendor_id,
                    message=message,
                    sent_at=sent_at,
                )
                if not rows:
                    raise HTTPException(
                        404, f"vendor {vendor_id} not found for wedding {wedding_id}"
                    )
                await asyncio.sleep(PUSH_SECONDS)  # the push provider's round trip
                delivered_at = datetime.now(UTC)
                await st.query(
                    conn,
                    "vendor_notify",
                    "mark_delivered",
                    notification_id=rows[0]["id"],
                    delivered_at=delivered_at,
                )
            payload = {
                "notification_id": rows[0]["id"],
                "wedding_id": wedding_id,
                "vendor_id": vendor_id,
                "sent_at": sent_at.isoformat(),
                "delivered_at": delivered_at.isoformat(),
            }
            return JSONResponse(payload, status_code=201)

        return await st.measured("vendor_notify", wedding_id, work)

    async def healthz(request: Request) -> Response:
        st = await ready()
        assert st.pool is not None and st.redis is not None
        try:
            async with st.pool.connection(timeout=5) as conn:
                await conn.execute("SELECT 1")
            await st.redis.ping()
        except (psycopg.Error, PoolTimeout, aioredis.RedisError) as exc:
            return error_response(503, f"unhealthy: {exc}")
        return JSONResponse({"status": "ok", "replicas": st.limiter.capacity})

    async def metrics(request: Request) -> Response:
        return Response(generate_latest(state.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    async def admin_capacity(request: Request) -> Response:
        if request.method == "PUT":
            replicas = await _replicas(request)
            state.limiter.set_capacity(replicas)
            log.info("capacity set to %d replicas", replicas)
        limiter = state.limiter
        return JSONResponse(
            {"replicas": limiter.capacity, "busy": limiter.busy, "queued": limiter.waiting}
        )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await state.open()
        try:
            yield
        finally:
            await state.aclose()

    routes = [
        Route("/weddings/{wedding_id}/guests", guests, methods=["GET"]),
        Route("/weddings/{wedding_id}/timeline", timeline, methods=["GET"]),
        Route("/weddings/{wedding_id}/photos", photo_upload, methods=["POST"]),
        Route("/weddings/{wedding_id}/vendors/{vendor_id}/notify", vendor_notify, methods=["POST"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        Route("/admin/capacity", admin_capacity, methods=["GET", "PUT"]),
    ]
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={HTTPException: _http_error},
    )
    app.state.sandbox = state
    return app


async def _require_wedding(
    state: SandboxState, conn: psycopg.AsyncConnection, operation: str, wedding_id: int
) -> None:
    if not await state.query(conn, operation, "wedding_exists", wedding_id=wedding_id):
        raise HTTPException(404, f"wedding {wedding_id} not found")


def _may_store(request: Request) -> bool:
    """`Cache-Control: no-store` on the request: answer, but leave the cache as it was."""
    return "no-store" not in request.headers.get("cache-control", "").lower()


def _path_id(request: Request, name: str) -> int:
    """A positive integer id from the path, or 400."""
    raw = request.path_params[name]
    if not _ID.fullmatch(raw) or int(raw) == 0:
        raise HTTPException(400, f"{name} must be a positive integer, got {raw!r}")
    return int(raw)


async def _notification_message(request: Request) -> str:
    body = await request.body()
    if not body:
        return "Update from the couple's planner"
    try:
        payload = json.loads(body)
    except ValueError:
        raise HTTPException(400, 'body must be JSON like {"message": "..."}') from None
    message = payload.get("message") if isinstance(payload, dict) else None
    if not isinstance(message, str) or not message.strip():
        raise HTTPException(400, 'body must be JSON like {"message": "..."}')
    return message


async def _replicas(request: Request) -> int:
    try:
        payload = json.loads(await request.body())
    except ValueError:
        raise HTTPException(400, 'body must be JSON like {"replicas": 4}') from None
    replicas = payload.get("replicas") if isinstance(payload, dict) else None
    if isinstance(replicas, bool) or not isinstance(replicas, int):
        raise HTTPException(400, "replicas must be an integer")
    if not 1 <= replicas <= MAX_REPLICAS:
        raise HTTPException(400, f"replicas must be between 1 and {MAX_REPLICAS}")
    return replicas


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return error_response(exc.status_code, str(exc.detail))
