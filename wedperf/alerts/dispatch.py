"""From a stored alert to a remediation flow run and Prefect events: the one dispatch module.

Each firing alert gets one run of the remediation deployment (default
`remediate-alert/remediate-alert`, parameters `{"alert_id": ...}`), created through the
Prefect API (`wedperf.prefect_api`) with an idempotency key made of the deployment and the
alert's identity: the server returns the first run for a repeated key, so any number of
dispatch attempts, from the receiver or the pending sweep, concurrent or not, make one run.
Keys are per flow and never expire on the server, which is why the deployment name is part
of them.

Two callers, one `dispatch_alerts`: the receiver's `InlineDispatcher` (right after the
commit, stored alerts go to a bounded queue that one background task drains in batches,
claiming each batch's alerts in perf.alerts first, with the lease the sweep takes, so that a
repeat, another receiver or a sweep never dispatches an alert a second time; the request
never waits for it, and nothing there can fail a request), and the
`dispatch-pending-alerts` sweep (`wedperf.alerts.pending`), which dispatches what the queue
could not take (overflow, a breaker open after Prefect was unreachable, the receiver
stopping) once the inline grace is over.

Events: `wedperf.alert.firing` when the run is created (related: the flow run and the
deployment) and `wedperf.alert.resolved` when an alert resolves. Each event's id is derived
from the alert identity, so sending it again is harmless (the server keeps the first).
Resource `wedperf.alert.<source>.<fingerprint>` (the alert across its episodes), with labels
`wedperf.alert.id` (perf.alerts.alert_id of the episode), `wedperf.alert.source`,
`.fingerprint`, `.name`, `.severity`, `wedperf.wedding.id` and every alert label as
`wedperf.alert.label.<name>`, for automations to match on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

from wedperf import prefect_api
from wedperf.alerts.model import Alert, identity
from wedperf.alerts.settings import WebhookSettings
from wedperf.db.queries import queries
from wedperf.prefect_api import (
    Event,
    ObjectNotFound,
    PrefectClient,
    configured_api_url,
    is_transient,
)

log = logging.getLogger(__name__)
Q = queries("alerts")
EVENT_NAMESPACE = uuid.UUID("6f1d3c52-8a1e-4c0b-9a8e-5b1f0e7d2a61")
MAX_RESOURCE_LABELS = 50
RUN_TAGS = ("wedperf", "alert")
INLINE_BATCH = 100  # alerts the inline queue hands to one dispatch_alerts call
BREAKER_SECONDS = 5.0  # inline dispatch rests this long after Prefect was unreachable


def alert_resource_id(alert: Alert) -> str:
    """`wedperf.alert.<source>.<fingerprint>`: one resource per alert, across its episodes."""
    return f"wedperf.alert.{alert.source}.{alert.fingerprint}"


def alert_event(
    alert: Alert,
    kind: str,
    *,
    flow_run_id: uuid.UUID | None = None,
    deployment_id: uuid.UUID | None = None,
) -> Event:
    """The `wedperf.alert.<kind>` event (kind: firing or resolved) of one alert."""
    starts = alert.starts_at.astimezone(UTC).isoformat()
    resource = {
        "prefect.resource.id": alert_resource_id(alert),
        "prefect.resource.name": alert.alertname,
        "wedperf.alert.id": str(alert.alert_id),
        "wedperf.alert.source": alert.source,
        "wedperf.alert.fingerprint": alert.fingerprint,
        "wedperf.alert.name": alert.alertname,
        "wedperf.alert.severity": alert.severity or "",
        "wedperf.wedding.id": alert.wedding_id or "",
    }
    for name, value in list(alert.labels.items())[:MAX_RESOURCE_LABELS]:
        resource[f"wedperf.alert.label.{name}"] = str(value)
    related = []
    if flow_run_id is not None:
        related.append(
            {
                "prefect.resource.id": f"prefect.flow-run.{flow_run_id}",
                "prefect.resource.role": "flow-run",
            }
        )
    if deployment_id is not None:
        related.append(
            {
                "prefect.resource.id": f"prefect.deployment.{deployment_id}",
                "prefect.resource.role": "deployment",
            }
        )
    return Event(
        id=uuid.uuid5(EVENT_NAMESPACE, f"{kind}|{identity(alert)}"),
        event=f"wedperf.alert.{kind}",
        resource=resource,
        related=related,
        payload={
            "alert_id": alert.alert_id,
            "status": alert.status,
            "starts_at": starts,
            "ends_at": alert.ends_at.astimezone(UTC).isoformat() if alert.ends_at else None,
            "labels": alert.labels,
            "annotations": alert.annotations,
            "generator_url": alert.generator_url,
        },
    )


class RemediationDispatcher:
    """Creates remediation runs and sends alert events through one Prefect API client.

    `api_url` overrides PREFECT_API_URL (tests point it at an address that refuses).
    Every call gives up after `timeout` seconds (Prefect's client retries on its own).
    """

    def __init__(self, deployment: str, *, api_url: str | None = None, timeout: float = 10.0):
        self.deployment = deployment
        self.api_url = api_url
        self.timeout = timeout
        self._client: PrefectClient | None = None
        self._deployment_id: uuid.UUID | None = None

    async def __aenter__(self) -> RemediationDispatcher:
        self._client = prefect_api.api_client(self.api_url)
        await self._client.__aenter__()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._client is not None:
            await self._client.__aexit__(*exc_info)
            self._client = None

    @property
    def client(self) -> PrefectClient:
        if self._client is None:
            raise RuntimeError("use `async with RemediationDispatcher(...)`")
        return self._client

    @property
    def known_deployment_id(self) -> uuid.UUID | None:
        """The deployment's id if it was looked up already."""
        return self._deployment_id

    async def deployment_id(self) -> uuid.UUID:
        if self._deployment_id is None:
            async with asyncio.timeout(self.timeout):
                found = await prefect_api.deployment_id(self.client, self.deployment)
            self._deployment_id = found
        return self._deployment_id

    async def create_run(self, alert: Alert) -> uuid.UUID:
        """The alert's remediation run: created now, or the one created before."""
        deployment_id = await self.deployment_id()
        try:
            async with asyncio.timeout(self.timeout):
                run_id = await prefect_api.create_deployment_run(
                    self.client,
                    deployment_id,
                    parameters={"alert_id": alert.alert_id},
                    idempotency_key=f"{self.deployment}|{identity(alert)}",
                    name=f"remediate-{alert.alert_id}-{_slug(alert.alertname)}",
                    tags=[*RUN_TAGS, f"alert-source:{alert.source}"],
                )
        except ObjectNotFound:
            self._deployment_id = None  # redeployed under a new id: look it up again
            raise
        return run_id

    async def emit(self, events: Sequence[Event]) -> None:
        """Send events in one request (POST /events); raises if the API did not take them."""
        if not events:
            return
        async with asyncio.timeout(self.timeout):
            await prefect_api.emit_events(self.client, events)


@dataclass
class DispatchOutcome:
    """What one dispatch pass did. `unreachable`: nothing got through and Prefect could not
    be reached or timed out (a slow request among successful ones does not count)."""

    created: int = 0
    skipped: int = 0
    announced: int = 0
    failed: int = 0
    unreachable: bool = False
    errors: list[str] = field(default_factory=list)
    needed: int = 0  # alerts that needed a run (the sweep counts them; quarantined included)
    quarantined: int = 0

    def add(self, other: DispatchOutcome) -> None:
        self.created += other.created
        self.skipped += other.skipped
        self.announced += other.announced
        self.failed += other.failed
        self.needed += other.needed
        self.quarantined += other.quarantined
        self.unreachable = self.unreachable or other.unreachable
        self.errors.extend(other.errors[: max(0, 20 - len(self.errors))])

    def as_dict(self) -> dict[str, Any]:
        return {
            "created": self.created,
            "skipped": self.skipped,
            "announced": self.announced,
            "failed": self.failed,
            "unreachable": self.unreachable,
            "errors": self.errors,
            "needed": self.needed,
            "quarantined": self.quarantined,
        }


async def dispatch_alerts(
    conn: psycopg.AsyncConnection,
    dispatcher: RemediationDispatcher,
    alerts: Sequence[Alert],
    *,
    concurrency: int,
    max_attempts: int,
) -> DispatchOutcome:
    """Create the runs firing alerts need, skip pending alerts that resolved, send events,
    and record all of it in perf.alerts (`conn` in autocommit mode).

    A run that exists is recorded as dispatched even if its firing event could not be sent
    (the event is best effort; the run is what matters). Resolved events are recorded as
    sent only when the API took them, so the pending sweep sends them later otherwise.
    """
    outcome = DispatchOutcome()
    to_run = [a for a in alerts if a.needs_run]
    limit = asyncio.Semaphore(concurrency)

    async def one(alert: Alert) -> uuid.UUID | BaseException:
        async with limit:
            try:
                return await dispatcher.create_run(alert)
            except Exception as exc:  # recorded per alert below
                return exc

    results: list[uuid.UUID | BaseException]
    try:  # once, before fanning out: if Prefect is down, every alert learns it at once
        if to_run:
            await dispatcher.deployment_id()
    except Exception as exc:
        results = [exc] * len(to_run)
    else:
        results = list(await asyncio.gather(*(one(a) for a in to_run)))
    created = [(a, r) for a, r in zip(to_run, results, strict=True) if isinstance(r, uuid.UUID)]
    refused = [(a, r) for a, r in zip(to_run, results, strict=True) if not isinstance(r, uuid.UUID)]
    if created:
        await conn.execute(
            Q["mark_dispatched"],
            {
                "alert_ids": [a.alert_id for a, _ in created],
                "flow_run_ids": [r for _, r in created],
            },
        )
        outcome.created = len(created)
    if refused:
        transient = [is_transient(exc) for _, exc in refused]
        await conn.execute(
            Q["mark_attempt_failed"],
            {
                "alert_ids": [a.alert_id for a, _ in refused],
                "errors": [describe_error(exc) for _, exc in refused],
                "transient": transient,
                "max_attempts": max_attempts,
            },
        )
        outcome.failed = len(refused)
        outcome.unreachable = not created and any(transient)
        outcome.errors = sorted({describe_error(exc) for _, exc in refused})[:20]

    skipped = [a.alert_id for a in alerts if a.needs_skip]
    if skipped:
        await conn.execute(Q["mark_skipped"], {"alert_ids": skipped})
        outcome.skipped = len(skipped)

    await _send_events(conn, dispatcher, alerts, created, outcome)
    return outcome


async def _send_events(
    conn: psycopg.AsyncConnection,
    dispatcher: RemediationDispatcher,
    alerts: Sequence[Alert],
    created: list[tuple[Alert, uuid.UUID]],
    outcome: DispatchOutcome,
) -> None:
    announce = [a for a in alerts if a.needs_announcement]
    if outcome.unreachable and not created:
        return  # nothing will get through now; the sweep sends resolved events later
    deployment_id = dispatcher.known_deployment_id
    events = [
        alert_event(a, "firing", flow_run_id=run_id, deployment_id=deployment_id)
        for a, run_id in created
    ] + [alert_event(a, "resolved") for a in announce]
    try:
        await dispatcher.emit(events)
    except Exception as exc:  # events never undo a dispatch
        outcome.unreachable = outcome.unreachable or (not created and is_transient(exc))
        log.warning("could not send %d alert events: %s", len(events), describe_error(exc))
        return
    if announce:
        await conn.execute(Q["mark_announced"], {"alert_ids": [a.alert_id for a in announce]})
        outcome.announced = len(announce)


# --- inline dispatch: the receiver's background queue, after the commit ---


class InlineDispatcher:
    """Background dispatch of freshly stored alerts (start/stop with the receiver)."""

    def __init__(
        self, pool: AsyncConnectionPool, settings: WebhookSettings, *, api_url: str | None = None
    ) -> None:
        self.pool = pool
        self.settings = settings
        self.api_url = api_url
        self._queue: asyncio.Queue[Alert] = asyncio.Queue(settings.dispatch_queue_size)
        self._queued: set[int] = set()
        self._task: asyncio.Task[None] | None = None
        self._paused_until = 0.0
        self.dropped = 0

    def submit(self, alerts: Iterable[Alert]) -> None:
        """Queue what needs a run or an event; never blocks, never raises."""
        if self._task is None or time.monotonic() < self._paused_until:
            return
        for alert in alerts:
            if alert.alert_id in self._queued:
                continue
            if not (alert.needs_run or alert.needs_skip or alert.needs_announcement):
                continue
            try:
                self._queue.put_nowait(alert)
            except asyncio.QueueFull:
                self.dropped += 1
                return
            self._queued.add(alert.alert_id)

    async def start(self) -> None:
        # Never Prefect's ephemeral server here: starting one would stall the receiver's loop
        # for many seconds, and its runs would reach no worker.
        self.api_url = self.api_url or configured_api_url()
        if self.api_url is None:
            log.warning("PREFECT_API_URL is not set: no inline dispatch, the sweep dispatches")
            return
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="wedperf-inline-dispatch")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def idle(self, timeout: float = 30.0) -> None:
        """Wait until everything queued so far was handled (tests and benchmarks)."""
        async with asyncio.timeout(timeout):
            await self._queue.join()

    async def _run(self) -> None:
        try:
            await self._serve()
        except asyncio.CancelledError:
            raise
        except Exception:  # e.g. no Prefect API configured: the sweep dispatches everything
            log.exception("inline dispatch stopped; alerts wait for dispatch-pending-alerts")
            self._paused_until = float("inf")
            self._drain()

    async def _serve(self) -> None:
        async with RemediationDispatcher(
            self.settings.remediation_deployment,
            api_url=self.api_url,
            timeout=self.settings.dispatch_timeout_seconds,
        ) as dispatcher:
            while True:
                batch = [await self._queue.get()]
                while len(batch) < INLINE_BATCH and not self._queue.empty():
                    batch.append(self._queue.get_nowait())
                try:
                    await self._dispatch(dispatcher, batch)
                finally:
                    for alert in batch:
                        self._queued.discard(alert.alert_id)
                        self._queue.task_done()

    async def _dispatch(self, dispatcher: RemediationDispatcher, batch: list[Alert]) -> None:
        try:
            async with self.pool.connection(timeout=self.settings.db_timeout_seconds) as conn:
                batch = await claim_inline(conn, batch, self.settings)
                if not batch:
                    return
                outcome = await dispatch_alerts(
                    conn,
                    dispatcher,
                    batch,
                    concurrency=self.settings.dispatch_concurrency,
                    max_attempts=self.settings.dispatch_max_attempts,
                )
        except Exception:  # the sweep dispatches whatever this left pending
            log.exception("inline dispatch of %d alerts failed; left to the sweep", len(batch))
            return
        if outcome.unreachable:
            log.warning(
                "Prefect API unreachable (%s); alerts stay pending for the sweep",
                "; ".join(outcome.errors[:1]) or "event delivery failed",
            )
            self._paused_until = time.monotonic() + BREAKER_SECONDS
            self._drain()

    def _drain(self) -> None:
        """Drop what is queued while the breaker is open (it stays pending in the inbox)."""
        while not self._queue.empty():
            alert = self._queue.get_nowait()
            self._queued.discard(alert.alert_id)
            self._queue.task_done()
            self.dropped += 1


async def claim_inline(
    conn: psycopg.AsyncConnection, alerts: Sequence[Alert], settings: WebhookSettings
) -> list[Alert]:
    """`alerts` without the runs another dispatcher holds: each alert that needs a run is
    kept only if this receiver claimed it in perf.alerts (`claim_inline`, the sweep's lease),
    so a repeat notification, another receiver or a sweep that reached it first does not
    dispatch it again. Alerts that only need an event or a skip are kept as they are (an
    event's id makes sending it twice harmless)."""
    wanted = [a.alert_id for a in alerts if a.needs_run]
    claimed: set[int] = set()
    if wanted:
        cursor = await conn.execute(
            Q["claim_inline"],
            {"alert_ids": wanted, "lease": settings.dispatch_lease, "grace": settings.inline_grace},
        )
        claimed = {row[0] for row in await cursor.fetchall()}
    return [a for a in alerts if not a.needs_run or a.alert_id in claimed]


def describe_error(exc: BaseException) -> str:
    if isinstance(exc, ObjectNotFound):
        return "remediation deployment not found (is it deployed?)"
    if isinstance(exc, TimeoutError):
        return "Prefect API timed out"
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:300]}" if text else type(exc).__name__


def _slug(name: str) -> str:
    cleaned = "".join(c if c.isalnum() else "-" for c in name.lower()).strip("-")
    return "-".join(filter(None, cleaned.split("-")))[:40] or "alert"
