"""Inline dispatch: the receiver creates remediation runs right after the commit.

Stored alerts are handed to a bounded queue that one background task drains in batches; the
request never waits for it, and nothing here can fail a request. What the queue cannot take
(overflow, a breaker open after Prefect was unreachable, the receiver stopping) stays
pending in perf.alerts for the `dispatch-pending-alerts` sweep once the inline grace is over.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable

from psycopg_pool import AsyncConnectionPool

from wedperf.alerts.dispatch import RemediationDispatcher, dispatch_alerts
from wedperf.alerts.model import Alert
from wedperf.alerts.settings import WebhookSettings
from wedperf.prefect_api import configured_api_url

log = logging.getLogger(__name__)
BATCH = 100
BREAKER_SECONDS = 5.0


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
                while len(batch) < BATCH and not self._queue.empty():
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
