"""The alert webhook receiver: an ASGI app (FastAPI, served by uvicorn).

Each POST is: check credentials and content type from the headers -> take an in-flight slot
(at most `max_in_flight`, `max_in_flight_per_client` per client) -> read at most
max_body_bytes within body_timeout_seconds -> (signed requests: body digest, nonce used
once) -> parse and validate every field -> commit to perf.alerts (group commit:
notifications arriving together share one statement) -> 200, then inline dispatch in the
background (wedperf.alerts.intake says why in this order). Alert POSTs bypass the
framework's layers (`WebhookApp`); FastAPI serves the rest and documents them.
Answers: 200 stored (body: counts); 401 no or bad credentials; 408 body too slow; 413 body
too large; 415 not JSON; 422 malformed (the message says what is wrong; nothing stored);
503 overloaded or PostgreSQL unavailable (with Retry-After; Alertmanager retries 5xx and
drops 4xx): nothing stored, try again. A 200 always means committed.
GET /healthz checks the database and reports saturation; OpenAPI at /openapi.json and docs
at /docs only with `expose_docs`.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from psycopg_pool import AsyncConnectionPool
from pydantic import BaseModel, ValidationError

from wedperf.alerts.auth import AuthFailed, Credentials, Proof, rum_credentials
from wedperf.alerts.dispatch import InlineDispatcher
from wedperf.alerts.http import Disconnected, Problem, send_json, validation_problems
from wedperf.alerts.inbox import InboxRejected, InboxUnavailable, InboxWriter, open_pool
from wedperf.alerts.intake import Gate, Incoming, asgi_incoming, starlette_incoming
from wedperf.alerts.model import Alert
from wedperf.alerts.nonces import NonceStore
from wedperf.alerts.openapi import RESPONSES, build_openapi
from wedperf.alerts.schemas import (
    AlertmanagerNotification,
    GenericNotification,
    GrafanaNotification,
    collapse,
    from_alertmanager,
    from_generic,
)
from wedperf.alerts.settings import WebhookSettings
from wedperf.config import get_settings
from wedperf.mobile.routes import RumReceiver
from wedperf.mobile.settings import RumSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Receiver:
    """One kind of webhook: its body model and how it becomes inbox rows."""

    kind: str
    model: type[BaseModel]
    description: str
    rows: Callable[[Any, datetime], list[Alert]]


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
    """The receiver's pool, group-commit writer, nonce store, inline dispatcher and admission
    gate; made anew each time the app starts (a pool cannot be reopened)."""

    def __init__(
        self,
        database_url: str,
        settings: WebhookSettings,
        credentials: Credentials,
        prefect_api_url: str | None,
    ) -> None:
        self.database_url = database_url
        self.settings = settings
        self.prefect_api_url = prefect_api_url
        self.gate = Gate(
            "alert",
            credentials,
            max_in_flight=settings.max_in_flight,
            max_per_client=settings.max_in_flight_per_client,
            max_body_bytes=settings.max_body_bytes,
            body_timeout=settings.body_timeout_seconds,
        )
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
        self.nonces = NonceStore(self.pool, timeout=settings.db_timeout_seconds)

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


def create_app(
    database_url: str,
    settings: WebhookSettings,
    credentials: Credentials,
    *,
    prefect_api_url: str | None = None,
    rum: RumSettings | None = None,
) -> WebhookApp:
    """The receiver for `database_url` (migrated schema perf). `prefect_api_url` overrides
    PREFECT_API_URL for inline dispatch. /rum is served only with `rum.token` (or in a
    development run); raises WebhookConfigError for a RUM token that is short or an alert
    credential. Lifespan opens the pool and starts dispatch; with `httpx.ASGITransport`, which
    sends no lifespan events, enter `app.router.lifespan_context`.
    """
    state = ReceiverState(database_url, settings, credentials, prefect_api_url)
    rum = rum or get_settings().rum
    rum_creds = rum_credentials(
        credentials, rum.token.get_secret_value() if rum.token is not None else None
    )

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
        docs_url="/docs" if settings.expose_docs else None,
        openapi_url="/openapi.json" if settings.expose_docs else None,
        redoc_url=None,
    )
    app.state.receiver = state

    handlers = {}
    for receiver in RECEIVERS:
        _add_route(app, state, receiver)
        handlers[f"/alerts/{receiver.kind}"] = _fast_handler(state, receiver)
    rum_receiver = None
    if rum_creds is not None:
        rum_receiver = RumReceiver(database_url, rum_creds, rum)
        app.include_router(rum_receiver.router())
        handlers[rum_receiver.path] = rum_receiver.asgi
    app.state.rum = rum_receiver

    @app.get("/healthz", tags=["health"], summary="The receiver, its database and its load")
    async def healthz() -> JSONResponse:
        load = {
            "alerts": state.gate.health(),
            "rum": rum_receiver.gate.health() if rum_receiver else None,
        }
        try:
            async with state.pool.connection(timeout=settings.db_timeout_seconds) as conn:
                await conn.execute("SELECT 1")
        except Exception as exc:  # any failure means not ready
            log.warning("health check: database unavailable: %s", type(exc).__name__)
            return JSONResponse({"status": "database unavailable", **load}, status_code=503)
        # Saturated alert intake answers 503 too: a load balancer or readiness probe then
        # sends alerts to another receiver. /rum saturation is reported, not fatal.
        if load["alerts"]["saturated"]:
            return JSONResponse({"status": "saturated", **load}, status_code=503)
        return JSONResponse({"status": "ok", **load})

    models = [receiver.model for receiver in RECEIVERS]
    app.openapi = lambda: build_openapi(app, models)  # type: ignore[method-assign]
    return WebhookApp(app, handlers)


class WebhookApp:
    """The ASGI entry point: POSTs to the intake routes go straight to their handler, with no
    framework layers on the hot path (they cost a fifth of a request's CPU); everything else —
    docs, OpenAPI, /healthz, lifespan — goes to the FastAPI app, which also documents the
    intake routes (and serves them identically if reached through it)."""

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


def _fast_handler(state: ReceiverState, receiver: Receiver) -> Callable[..., Any]:
    async def handle(scope: dict, receive: Callable, send: Callable) -> None:
        try:
            payload = await _receive(asgi_incoming(scope, receive), state, receiver)
        except Problem as problem:
            await send_json(send, problem.status, problem.body(), problem.headers)
        except Disconnected:
            return  # counted by the gate; there is no one to answer
        else:
            await send_json(send, 200, payload)

    return handle


def _add_route(app: FastAPI, state: ReceiverState, receiver: Receiver) -> None:
    async def endpoint(request: Request) -> JSONResponse:
        try:
            return JSONResponse(await _receive(starlette_incoming(request), state, receiver))
        except Problem as problem:
            return problem.response()
        except Disconnected:
            return JSONResponse({}, status_code=400)  # never sent: the client is gone

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


async def _receive(request: Incoming, state: ReceiverState, receiver: Receiver) -> dict[str, Any]:
    """One notification: screen (headers), admit, read, verify, parse, commit. Returns the
    200 body; raises Problem for any other answer, Disconnected if the sender left."""
    settings, gate = state.settings, state.gate
    proof = gate.screen(request)
    with gate.admitted(request.client):
        body = await gate.read(request)
        if proof.nonce is not None:
            await _use_signature(state, proof, body)
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
    gate.counters["accepted"] += 1
    if state.inline is not None:
        state.inline.submit(stored)
    return {
        "stored": len(stored),
        "new": sum(1 for a in stored if a.inserted),
        "repeats": sum(1 for a in stored if not a.inserted),
        "resolved": sum(1 for a in stored if a.status == "resolved"),
        "alert_ids": [a.alert_id for a in stored],
    }


async def _use_signature(state: ReceiverState, proof: Proof, body: bytes) -> None:
    """A signed request's remaining checks: the body is the one signed, the nonce is new."""
    gate = state.gate
    try:
        gate.credentials.check_body(proof, body)
    except AuthFailed as exc:
        gate.counters["unauthorized"] += 1
        raise Problem(
            401, str(exc), headers={"WWW-Authenticate": gate.credentials.challenge}
        ) from None
    assert proof.nonce is not None and proof.expires_at is not None
    try:
        first = await state.nonces.use(proof.nonce, proof.expires_at)
    except InboxUnavailable as exc:
        log.warning("signed notification not checked: %s", exc)
        raise Problem(
            503,
            "nonce not checked: database unavailable, retry later (sign anew)",
            headers={"Retry-After": "5"},
        ) from None
    if not first:
        gate.counters["replays_refused"] += 1
        raise Problem(
            401,
            "replayed request: this nonce was used already (sign every attempt anew)",
            headers={"WWW-Authenticate": gate.credentials.challenge},
        )


def _parse(receiver: Receiver, body: bytes, max_alerts: int) -> list[Alert]:
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
