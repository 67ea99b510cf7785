"""POST /rum on the webhook service: batched real-user-monitoring beacons from the apps.

Screen (its own bearer token and `application/json`, from the headers) -> admit (at most
`max_in_flight` at once, `max_in_flight_per_client` from one address: the token is in every
app) -> read at most `max_body_bytes` within `body_timeout_seconds` -> validate -> store
through `write_samples` and roll up the beacons' minutes -> 200 with counts. The admission
rules are the alert routes' (wedperf.alerts.intake), with slots of its own, so beacons
never take an alert's slot.
Answers: 200 stored (a retried batch: `stored` 0, `duplicates` all; beacons naming an unknown
wedding dropped and counted in `unknown_wedding`); 401 no or bad credentials; 408 body too
slow; 413 body too large; 415 not JSON; 422 malformed, with what is wrong per beacon; 503
overloaded or database unavailable (with Retry-After: resend the batch).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool

from wedperf.alerts.auth import Credentials
from wedperf.alerts.http import (
    Disconnected,
    Problem,
    capped_problems,
    send_json,
    validation_problems,
)
from wedperf.alerts.intake import Gate, Incoming, asgi_incoming, starlette_incoming
from wedperf.alerts.openapi import RESPONSES
from wedperf.config import get_settings
from wedperf.db.connection import DatabaseUnavailable, get_pool
from wedperf.mobile.schemas import RumBatch, batch_problems, human_span
from wedperf.mobile.settings import RumSettings
from wedperf.mobile.storage import StoredBatch, store_beacons

log = logging.getLogger(__name__)
PATH = "/rum"


class RumReceiver:
    """The /rum route, storing into perf.samples at `database_url` (migrated schema perf).

    `day_window` (before, after) is the span around a wedding that platform-wide beacons
    count for in the rollup; default the process settings' `day_window_before/after`, the
    ones collection rolls up with.
    """

    path = PATH

    def __init__(
        self,
        database_url: str,
        credentials: Credentials,
        settings: RumSettings,
        *,
        day_window: tuple[timedelta, timedelta] | None = None,
    ) -> None:
        if day_window is None:
            process = get_settings()
            day_window = (process.day_window_before, process.day_window_after)
        self.database_url = database_url
        self.settings = settings
        self.day_window = day_window
        self.gate = Gate(
            "RUM",
            credentials,
            max_in_flight=settings.max_in_flight,
            max_per_client=settings.max_in_flight_per_client,
            max_body_bytes=settings.max_body_bytes,
            body_timeout=settings.body_timeout_seconds,
        )

    async def asgi(self, scope: dict, receive: Callable, send: Callable) -> None:
        """The raw ASGI handler (WebhookApp routes POST /rum here)."""
        try:
            payload = await self.receive(asgi_incoming(scope, receive))
        except Problem as problem:
            await send_json(send, problem.status, problem.body(), problem.headers)
        except Disconnected:
            return  # counted by the gate; there is no one to answer
        else:
            await send_json(send, 200, payload)

    async def receive(self, request: Incoming) -> dict[str, Any]:
        """One batch: screen, admit, read, validate, store. Returns the 200 body; raises
        Problem for any other answer, Disconnected if the sender left."""
        gate = self.gate
        gate.screen(request)
        with gate.admitted(request.client):
            body = await gate.read(request)
            batch = parse_batch(body, self.settings, datetime.now(UTC))
            before, after = self.day_window
            try:
                result = await run_in_threadpool(
                    store_beacons,
                    get_pool(self.database_url),
                    batch.beacons,
                    before=before,
                    after=after,
                )
            except DatabaseUnavailable as exc:
                # Storing or the rollup after it failed; a resend stores nothing twice.
                log.warning("RUM batch of %d beacons not stored: %s", len(batch.beacons), exc)
                raise Problem(
                    503,
                    "beacons not stored: database unavailable, retry later",
                    headers={"Retry-After": "5"},
                ) from None
        gate.counters["accepted"] += 1
        return answer(len(batch.beacons), result)

    def router(self) -> APIRouter:
        """The documented route (WebhookApp serves POST /rum without the framework; this
        serves it identically if reached through FastAPI)."""
        router = APIRouter()

        async def receive_rum(request: Request) -> JSONResponse:
            try:
                return JSONResponse(await self.receive(starlette_incoming(request)))
            except Problem as problem:
                return problem.response()
            except Disconnected:
                return JSONResponse({}, status_code=400)  # never sent: the client is gone

        router.add_api_route(
            PATH,
            receive_rum,
            methods=["POST"],
            name="receive_rum",
            summary="Receive real-user-monitoring beacons",
            description="A batch of beacons from the mobile (or web) apps; see docs/mobile.md. "
            "Stored as latency samples of source `rum`; resending a batch stores nothing new. "
            f"`ts` must lie between {human_span(self.settings.max_age)} ago and "
            f"{human_span(self.settings.max_clock_skew)} ahead of the receiver's clock.",
            tags=["rum"],
            responses=RESPONSES,
            openapi_extra={
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": rum_batch_schema(self.settings)}},
                },
                "security": [{"rum": []}],
            },
        )
        return router


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


def rum_batch_schema(settings: RumSettings) -> dict[str, Any]:
    """RumBatch's request schema as this receiver enforces it: the configured screens and
    operations as enums, and at most `max_beacons_per_batch` beacons."""
    schema = inline_schema(RumBatch)
    beacons = schema["properties"]["beacons"]
    beacons["maxItems"] = settings.max_beacons_per_batch
    properties = beacons["items"]["properties"]
    properties["screen"]["enum"] = sorted(settings.screens)
    properties["operation"]["enum"] = sorted(settings.operations)
    properties["duration_ms"]["maximum"] = settings.max_duration_ms
    return schema
