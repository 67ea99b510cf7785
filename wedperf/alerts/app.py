"""The alert webhook receiver: an ASGI app (FastAPI, served by uvicorn).

Each POST is: admit (in-flight limit) -> authenticate -> read at most max_body_bytes ->
parse and validate -> commit to perf.alerts (group commit: notifications arriving together
share one statement) -> 200, then inline dispatch in the background. Alert POSTs bypass the
framework's layers (`WebhookApp`); FastAPI serves the rest and documents them.
Answers: 200 stored (body: counts); 401 no or bad credentials; 413 body too large; 422
malformed (the message says what is wrong); 503 overloaded or PostgreSQL unavailable (with
Retry-After; Alertmanager retries 5xx and drops 4xx). A 200 always means committed.
OpenAPI at /openapi.json, interactive docs at /docs; GET /healthz checks the database.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from psycopg_pool import AsyncConnectionPool
from pydantic import BaseModel, ValidationError
from starlette.datastructures import Headers

from wedperf.alerts.auth import CHALLENGE, AuthFailed, Credentials
from wedperf.alerts.http import (
    Disconnected,
    Problem,
    asgi_body_chunks,
    read_body,
    validation_problems,
)
from wedperf.alerts.inbox import InboxRejected, InboxUnavailable, InboxWriter, open_pool
from wedperf.alerts.inline import InlineDispatcher
from wedperf.alerts.openapi import RESPONSES, build_openapi
from wedperf.alerts.schemas import (
    AlertmanagerNotification,
    GenericNotification,
    GrafanaNotification,
    IncomingAlert,
    collapse,
    from_alertmanager,
    from_generic,
)
from wedperf.alerts.settings import WebhookSettings
from wedperf.config import get_settings
from wedperf.mobile.routes import rum_router
from wedperf.mobile.settings import RumSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Receiver:
    """One kind of webhook: its body model and how it becomes inbox rows."""

    kind: str
    model: type[BaseModel]
    description: str
    rows: Callable[[Any, datetime], list[IncomingAlert]]


RECEIVERS = (
    Receiver(
        "alertmanager",
        AlertmanagerNotification,
        "Prometheus Alertmanager webhook_config notification (version 4).",
        lambda body, at: from_alertmanager(body, "alertmanager", at),
    ),
    Receiver(
        "grafana",
        GrafanaNotification,
        "Grafana unified alerting webhook contact point notification.",
        lambda body, at: from_alertmanager(body, "grafana", at),
    ),
    Receiver(
        "generic",
        GenericNotification,
        "Generic JSON alerts. Repeats must send the same starts_at; a missing fingerprint is "
        "derived from name and labels.",
        from_generic,
    ),
)


class ReceiverState:
    """The receiver's pool, group-commit writer, inline dispatcher and load counter; made
    anew each time the app starts (a pool cannot be reopened)."""

    def __init__(
        self, database_url: str, settings: WebhookSettings, prefect_api_url: str | None
    ) -> None:
        self.database_url = database_url
        self.settings = settings
        self.prefect_api_url = prefect_api_url
        self.in_flight = 0
        self._started = False
        self._build()

    def _build(self) -> None:
        settings = self.settings
        self.pool: AsyncConnectionPool = open_pool(self.database_url, size=settings.db_pool_size)
        self.inline: InlineDispatcher | None = (
            InlineDispatcher(self.pool, settings, api_url=self.prefect_api_url)
            if settings.dispatch_inline
            else None
        )
        self.writer = InboxWriter(
            self.pool,
            grace=settings.inline_grace if self.inline else timedelta(0),
            timeout=settings.db_timeout_seconds,
            writers=max(1, settings.db_pool_size // 2),
        )

    async def open(self) -> None:
        if self._started:  # served before: a closed pool cannot be reopened
            self._build()
        self._started = True
        await self.pool.open(wait=False)
        await self.writer.start()
        if self.inline is not None:
            await self.inline.start()

    async def aclose(self) -> None:
        if self.inline is not None:
            await self.inline.stop()
        await self.writer.stop()
        await self.pool.close()


def rum_credentials(webhook: Credentials, rum: RumSettings) -> Credentials:
    """/rum's credential: its own token when `rum.token` is set (so what the apps carry cannot
    post alerts), else the webhook's."""
    if rum.token is None:
        return webhook
    return Credentials(
        token=rum.token.get_secret_value().encode(), hmac_key=None, basic_username=None
    )


def create_app(
    database_url: str,
    settings: WebhookSettings,
    credentials: Credentials,
    *,
    prefect_api_url: str | None = None,
    rum: RumSettings | None = None,
) -> WebhookApp:
    """The receiver for `database_url` (migrated schema perf). `prefect_api_url` overrides
    PREFECT_API_URL for inline dispatch. Lifespan opens the pool and starts dispatch; with
    `httpx.ASGITransport`, which sends no lifespan events, enter `app.router.lifespan_context`.
    """
    state = ReceiverState(database_url, settings, prefect_api_url)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await state.open()
        try:
            yield
        finally:
            await state.aclose()

    app = FastAPI(
        title="wedperf alert webhooks",
        summary="Alerts from Alertmanager, Grafana or any JSON sender into wedperf's inbox.",
        version="1",
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.receiver = state

    handlers = {}
    for receiver in RECEIVERS:
        _add_route(app, state, credentials, receiver)
        handlers[f"/alerts/{receiver.kind}"] = _fast_handler(state, credentials, receiver)
    rum = rum or get_settings().rum
    app.include_router(rum_router(database_url, rum_credentials(credentials, rum), rum))

    @app.get("/healthz", tags=["health"], summary="The receiver and its database")
    async def healthz() -> JSONResponse:
        try:
            async with state.pool.connection(timeout=settings.db_timeout_seconds) as conn:
                await conn.execute("SELECT 1")
        except Exception as exc:  # any failure means not ready
            log.warning("health check: database unavailable: %s", type(exc).__name__)
            return Problem(503, "database unavailable").response()
        return JSONResponse({"status": "ok"})

    models = [receiver.model for receiver in RECEIVERS]
    app.openapi = lambda: build_openapi(app, models)  # type: ignore[method-assign]
    return WebhookApp(app, handlers)


class WebhookApp:
    """The ASGI entry point: alert POSTs go straight to their handler, with no framework
    layers on the hot path (they cost a fifth of a request's CPU); everything else — docs,
    OpenAPI, /healthz, lifespan — goes to the FastAPI app, which also documents the alert
    routes (and serves them identically if reached through it)."""

    def __init__(self, api: FastAPI, handlers: dict[str, Callable[..., Any]]) -> None:
        self.api = api
        self.handlers = handlers

    @property
    def router(self) -> Any:
        return self.api.router

    @property
    def state(self) -> Any:
        return self.api.state

    def openapi(self) -> dict[str, Any]:
        return self.api.openapi()

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            handler = self.handlers.get(scope["path"])
            if handler is not None:
                await handler(scope, receive, send)
                return
        await self.api(scope, receive, send)


def _fast_handler(
    state: ReceiverState, credentials: Credentials, receiver: Receiver
) -> Callable[..., Any]:
    async def handle(scope: dict, receive: Callable, send: Callable) -> None:
        headers: dict[str, Any] = {}
        try:
            payload = await _receive(
                Headers(scope=scope), asgi_body_chunks(receive), state, credentials, receiver
            )
            status = 200
        except Problem as problem:
            status, payload, headers = problem.status, problem.body(), problem.headers
        except Disconnected:
            return
        body = json.dumps(payload, separators=(",", ":")).encode()
        raw = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
        raw += [(k.lower().encode(), v.encode()) for k, v in headers.items()]
        await send({"type": "http.response.start", "status": status, "headers": raw})
        await send({"type": "http.response.body", "body": body})

    return handle


def _add_route(
    app: FastAPI, state: ReceiverState, credentials: Credentials, receiver: Receiver
) -> None:
    async def endpoint(request: Request) -> JSONResponse:
        try:
            return JSONResponse(
                await _receive(request.headers, request.stream(), state, credentials, receiver)
            )
        except Problem as problem:
            return problem.response()

    app.add_api_route(
        f"/alerts/{receiver.kind}",
        endpoint,
        methods=["POST"],
        name=f"receive_{receiver.kind}",
        summary=f"Receive {receiver.kind} alerts",
        description=receiver.description,
        tags=["alerts"],
        responses=RESPONSES,
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {"$ref": f"#/components/schemas/{receiver.model.__name__}"}
                    }
                },
            }
        },
    )


async def _receive(
    headers: Mapping[str, str],
    body_chunks: AsyncIterator[bytes],
    state: ReceiverState,
    credentials: Credentials,
    receiver: Receiver,
) -> dict[str, Any]:
    """One notification: admit, authenticate, read, parse, commit. Returns the 200 body;
    raises Problem for any other answer."""
    settings = state.settings
    if state.in_flight >= settings.max_in_flight:
        raise Problem(503, "receiver overloaded, retry later", headers={"Retry-After": "1"})
    state.in_flight += 1
    try:
        try:
            needs_signature = credentials.needs_body(headers)
        except AuthFailed as exc:
            raise Problem(401, str(exc), headers={"WWW-Authenticate": CHALLENGE}) from None
        body = await read_body(headers.get("content-length"), body_chunks, settings.max_body_bytes)
        if needs_signature:
            try:
                credentials.verify_signature(headers, body)
            except AuthFailed as exc:
                raise Problem(401, str(exc), headers={"WWW-Authenticate": CHALLENGE}) from None
        alerts = _parse(receiver, body, settings.max_alerts_per_request)
        try:
            stored = await state.writer.store(alerts)
        except InboxUnavailable as exc:
            log.warning("%s notification not stored: %s", receiver.kind, exc)
            raise Problem(
                503,
                "alerts not stored: database unavailable, retry later",
                headers={"Retry-After": "5"},
            ) from None
        except InboxRejected as exc:
            raise Problem(422, str(exc)) from None
    finally:
        state.in_flight -= 1
    if state.inline is not None:
        state.inline.submit(stored)
    return {
        "stored": len(stored),
        "new": sum(1 for a in stored if a.inserted),
        "repeats": sum(1 for a in stored if not a.inserted),
        "resolved": sum(1 for a in stored if a.status == "resolved"),
        "alert_ids": [a.alert_id for a in stored],
    }


def _parse(receiver: Receiver, body: bytes, max_alerts: int) -> list[IncomingAlert]:
    if not body.strip():
        raise Problem(422, f"empty body: expected a {receiver.kind} notification (JSON)")
    try:
        notification = receiver.model.model_validate_json(body)
    except ValidationError as exc:
        raise Problem(
            422, f"invalid {receiver.kind} notification", problems=validation_problems(exc)
        ) from None
    count = len(notification.alerts)  # type: ignore[attr-defined]
    if count > max_alerts:
        raise Problem(
            422,
            f"{count} alerts in one notification; at most {max_alerts} (Alertmanager: set "
            "max_alerts in the webhook_config)",
        )
    return collapse(receiver.rows(notification, datetime.now(UTC)))
