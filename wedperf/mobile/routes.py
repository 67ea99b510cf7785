"""POST /rum on the webhook service: batched real-user-monitoring beacons from the apps.

Admit (at most `max_in_flight` at once) -> authenticate (the webhook's credentials: bearer
token, basic auth or a body signature) -> read at most `max_body_bytes` -> validate -> store
through `write_samples` and roll up the beacons' minutes -> 200 with counts.
Answers: 200 stored (a retried batch: `stored` 0, `duplicates` all; beacons naming an unknown
wedding dropped and counted in `unknown_wedding`); 401 no or bad credentials; 413 body too
large; 422 malformed, with what is wrong per beacon; 503 overloaded or database unavailable
(with Retry-After: resend the batch).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool

from wedperf.alerts.auth import CHALLENGE, AuthFailed, Credentials
from wedperf.alerts.http import Problem, capped_problems, read_body, validation_problems
from wedperf.alerts.openapi import RESPONSES
from wedperf.config import get_settings
from wedperf.db.connection import DatabaseUnavailable, get_pool
from wedperf.mobile.schemas import RumBatch, batch_problems
from wedperf.mobile.settings import RumSettings
from wedperf.mobile.storage import StoredBatch, store_beacons

log = logging.getLogger(__name__)
PATH = "/rum"


def rum_router(
    database_url: str,
    credentials: Credentials,
    settings: RumSettings,
    *,
    day_window: tuple[timedelta, timedelta] | None = None,
) -> APIRouter:
    """The /rum route, storing into perf.samples at `database_url` (migrated schema perf).

    `day_window` (before, after) is the span around a wedding that platform-wide beacons
    count for in the rollup; default the process settings' `day_window_before/after`, the
    ones collection rolls up with.
    """
    if day_window is None:
        process = get_settings()
        day_window = (process.day_window_before, process.day_window_after)
    router = APIRouter()
    in_flight = 0

    async def receive_rum(request: Request) -> JSONResponse:
        nonlocal in_flight
        if in_flight >= settings.max_in_flight:
            return Problem(
                503, "RUM receiver overloaded, retry later", headers={"Retry-After": "1"}
            ).response()
        in_flight += 1
        try:
            return JSONResponse(
                await _receive(request, database_url, credentials, settings, day_window)
            )
        except Problem as problem:
            return problem.response()
        finally:
            in_flight -= 1

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
    request: Request,
    database_url: str,
    credentials: Credentials,
    settings: RumSettings,
    day_window: tuple[timedelta, timedelta],
) -> dict[str, Any]:
    try:
        needs_signature = credentials.needs_body(request.headers)
    except AuthFailed as exc:
        raise Problem(401, str(exc), headers={"WWW-Authenticate": CHALLENGE}) from None
    body = await read_body(
        request.headers.get("content-length"), request.stream(), settings.max_body_bytes
    )
    if needs_signature:
        try:
            credentials.verify_signature(request.headers, body)
        except AuthFailed as exc:
            raise Problem(401, str(exc), headers={"WWW-Authenticate": CHALLENGE}) from None
    batch = parse_batch(body, settings, datetime.now(UTC))
    before, after = day_window
    try:
        result = await run_in_threadpool(
            store_beacons, get_pool(database_url), batch.beacons, before=before, after=after
        )
    except DatabaseUnavailable as exc:
        # Storing or the rollup after it failed; a resend stores nothing twice and rolls up.
        log.warning("RUM batch of %d beacons not stored: %s", len(batch.beacons), exc)
        raise Problem(
            503,
            "beacons not stored: database unavailable, retry later",
            headers={"Retry-After": "5"},
        ) from None
    return answer(len(batch.beacons), result)


def answer(received: int, result: StoredBatch) -> dict[str, Any]:
    """The 200 body: counts, and which beacons were dropped for naming an unknown wedding
    (by index: the id itself is not echoed, it may be personal data)."""
    unknown = len(result.unknown_wedding)
    body: dict[str, Any] = {
        "received": received,
        "stored": result.stored,
        "duplicates": received - unknown - result.stored,
        "unknown_wedding": unknown,
    }
    if unknown:
        body["problems"] = capped_problems(
            [
                f"beacons.{i}.wedding_id: no such wedding; beacon dropped"
                for i in result.unknown_wedding
            ]
        )
    return body


def parse_batch(body: bytes, settings: RumSettings, now: datetime) -> RumBatch:
    """The validated batch; raises Problem(422) naming each problem."""
    if not body.strip():
        raise Problem(422, 'empty body: expected {"beacons": [...]} (JSON)')
    try:
        batch = RumBatch.model_validate_json(body)
    except ValidationError as exc:
        raise Problem(422, "invalid RUM batch", problems=validation_problems(exc)) from None
    problems = batch_problems(batch, settings, now)
    if problems:
        raise Problem(422, "invalid RUM batch", problems=capped_problems(problems))
    return batch


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
