"""POST /rum on the webhook service: batched real-user-monitoring beacons from the apps.

Authenticate (the webhook's credentials: bearer token, basic auth or a body signature) ->
read at most `max_body_bytes` -> validate -> store through `write_samples` -> 200 with counts.
Answers: 200 stored (a retried batch: `stored` 0, `duplicates` all); 401 no or bad
credentials; 413 body too large; 422 malformed, with what is wrong per beacon; 503 database
unavailable (nothing stored, resend the batch).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool

from wedperf.alerts.auth import CHALLENGE, AuthFailed, Credentials
from wedperf.alerts.openapi import RESPONSES
from wedperf.db.connection import DatabaseUnavailable, get_pool
from wedperf.mobile.schemas import RumBatch, batch_problems
from wedperf.mobile.settings import RumSettings
from wedperf.mobile.storage import store_beacons

log = logging.getLogger(__name__)
MAX_PROBLEMS = 10
PATH = "/rum"


class _Refused(Exception):
    """An error answer: status, message, what is wrong, headers."""

    def __init__(
        self,
        status: int,
        message: str,
        problems: list[str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.problems = problems or []
        self.headers = headers or {}

    def response(self) -> JSONResponse:
        body: dict[str, Any] = {"error": self.message}
        if self.problems:
            body["problems"] = self.problems[:MAX_PROBLEMS]
            if len(self.problems) > MAX_PROBLEMS:
                body["problems"].append(f"... and {len(self.problems) - MAX_PROBLEMS} more")
        return JSONResponse(body, status_code=self.status, headers=self.headers)


def rum_router(database_url: str, credentials: Credentials, settings: RumSettings) -> APIRouter:
    """The /rum route, storing into perf.samples at `database_url` (migrated schema perf)."""
    router = APIRouter()

    async def receive_rum(request: Request) -> JSONResponse:
        try:
            return JSONResponse(await _receive(request, database_url, credentials, settings))
        except _Refused as refused:
            return refused.response()

    router.add_api_route(
        PATH,
        receive_rum,
        methods=["POST"],
        name="receive_rum",
        summary="Receive real-user-monitoring beacons",
        description="A batch of beacons from the mobile (or web) apps; see docs/mobile.md. "
        "Stored as latency samples of source `rum`; resending a batch stores nothing new.",
        tags=["rum"],
        responses=RESPONSES,
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": inline_schema(RumBatch)}},
            },
            "security": [{"bearer": []}, {"basic": []}, {"signature": []}],
        },
    )
    return router


async def _receive(
    request: Request, database_url: str, credentials: Credentials, settings: RumSettings
) -> dict[str, int]:
    try:
        needs_signature = credentials.needs_body(request.headers)
    except AuthFailed as exc:
        raise _Refused(401, str(exc), headers={"WWW-Authenticate": CHALLENGE}) from None
    body = await _read_body(request.headers.get("content-length"), request.stream(), settings)
    if needs_signature:
        try:
            credentials.verify_signature(request.headers, body)
        except AuthFailed as exc:
            raise _Refused(401, str(exc), headers={"WWW-Authenticate": CHALLENGE}) from None
    batch = parse_batch(body, settings, datetime.now(UTC))
    try:
        stored = await run_in_threadpool(store_beacons, get_pool(database_url), batch.beacons)
    except DatabaseUnavailable as exc:
        log.warning("RUM batch of %d beacons not stored: %s", len(batch.beacons), exc)
        raise _Refused(
            503,
            "beacons not stored: database unavailable, retry later",
            headers={"Retry-After": "5"},
        ) from None
    received = len(batch.beacons)
    return {"received": received, "stored": stored, "duplicates": received - stored}


def parse_batch(body: bytes, settings: RumSettings, now: datetime) -> RumBatch:
    """The validated batch; raises _Refused(422) naming each problem."""
    if not body.strip():
        raise _Refused(422, 'empty body: expected {"beacons": [...]} (JSON)')
    try:
        batch = RumBatch.model_validate_json(body)
    except ValidationError as exc:
        problems = [
            f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}"
            for e in exc.errors(include_url=False, include_input=False)
        ]
        raise _Refused(422, "invalid RUM batch", problems) from None
    problems = batch_problems(batch, settings, now)
    if problems:
        raise _Refused(422, "invalid RUM batch", problems)
    return batch


async def _read_body(
    declared: str | None, chunks: AsyncIterator[bytes], settings: RumSettings
) -> bytes:
    limit = settings.max_body_bytes
    if declared is not None:
        if not declared.strip().isdigit():
            raise _Refused(400, "Content-Length must be a number")
        if int(declared) > limit:
            raise _Refused(413, f"body larger than {limit} bytes")
    parts, size = [], 0
    async for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise _Refused(413, f"body larger than {limit} bytes")
        parts.append(chunk)
    return b"".join(parts)


def inline_schema(model: type[BaseModel]) -> dict[str, Any]:
    """`model`'s JSON schema with its local `$defs` references inlined (an OpenAPI request
    body cannot point into a `$defs` of its own)."""
    schema = model.model_json_schema()
    definitions = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return resolve(definitions[ref.removeprefix("#/$defs/")])
            return {key: resolve(value) for key, value in node.items()}
        if isinstance(node, list):
            return [resolve(item) for item in node]
        return node

    return resolve(schema)
