"""The demo's past: a whole wedding day that has happened on the sandbox (yesterday on the
report's clock), and the morning of today's live weddings, measured and watched with
wedperf's own code on an injected clock.

`model_history` starts after the calendar sync, beside today's live part (`wait` joins it
before the live watch round):

1. the forecast made before the past day: a fit-forecasts run on the worker whose history
   ends at that day's local midnight (`end`), submitted once the plan's run is done
   (`submit_forecast`);
2. in a process of its own (spawned: the live part's latencies are measured in the demo's
   process and must not share its interpreter), the requests the sandbox's load model
   gives every wedding in its day window from that midnight to now
   (wedperf.sandbox.history), stored as histogram samples with their past timestamps by
   wedperf's store code (store_samples, rollup_minutes), in one batch: no HTTP per
   modelled request; and the app database's own rows of that span (vendor deliveries),
   read by the collector's SqlSource as its rounds would have read them;
3. in the same process, a critical-path round and an error-budget round at every instant of
   the watch grid (critical_path.interval) in that span, for the weddings the watch flow
   would pick at that instant (live_weddings, budget_weddings), recorded as the flow's tasks
   record them (run_round, evaluate_budgets with record, a pooled connection per round):
   not a flow run per modelled round.

Today's live part then adds real requests, real collection and a real watch round on top.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime
from multiprocessing import get_context
from typing import Any

from cli.demo.errors import Progress
from cli.demo.worker import DemoWorker
from wedperf.db.connection import get_pool


def past_day_start(settings, now: datetime) -> tuple[Any, datetime]:
    """Yesterday on the report's clock, and its local midnight (UTC). "Today" is the day of
    the live weddings' first ceremony there, not the host's date: at 00:30 UTC it is still
    yesterday evening in New York, and at 23:30 there the first ceremony is tomorrow."""
    from wedperf.evidence.build import report_day
    from wedperf.evidence.data import day_scope
    from wedperf.sandbox.live import FIRST_CEREMONY_IN

    day = report_day(settings, now + FIRST_CEREMONY_IN, 1)
    return day, day_scope(day, settings).start


class ModelledPast:
    """The modelled past under way: the forecast run on the worker and the measurements and
    rounds in a process of their own, while the live part goes on (`wait` joins them).

    A context manager: leaving the block without `wait` having joined it (the demo failed or
    was interrupted) cancels the modelling and terminates its process, so it does not go on
    writing into the databases while the demo stops its services."""

    def __init__(self, worker: DemoWorker, services, *, now: datetime, seed: int) -> None:
        from wedperf.config import get_settings

        settings = get_settings()
        self.worker, self.now = worker, now
        self.day, self.start = past_day_start(settings, now)
        self.forecast_run = None
        # spawn: a fresh interpreter (the demo's threads, pools and event loops stay here);
        # it reads the same settings from the environment the demo set.
        self._executor = ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn"))
        self._joined = False
        # The process's pid, to terminate it (the executor has no public way to): asked
        # first, so the one worker answers it before it starts modelling.
        self._pid = self._executor.submit(os.getpid)
        self._future = self._executor.submit(
            _model_in_process,
            services,
            start=self.start,
            now=now,
            seed=seed,
        )

    def submit_forecast(self) -> None:
        """The fit-forecasts run with history to the past day's midnight, on the worker. Kept
        apart from the plan's run (call it after): the local server keeps its runs in SQLite,
        and two write-heavy runs at once meet "database is locked" and the client's retries."""
        self.forecast_run = self.worker.submit(
            "fit-forecasts/fit-forecasts", {"end": self.start.isoformat()}
        )

    def wait(self, progress: Progress) -> dict[str, Any]:
        """Join the forecast run and the modelling process; report what they did."""
        if self.forecast_run is None:
            self.submit_forecast()
        try:
            measured, watched = self._future.result()
        except BaseException:
            self.cancel()
            raise
        self._executor.shutdown()
        self._joined = True
        progress(measured.pop("line"))
        progress(watched.pop("line"))
        forecast = DemoWorker.result(
            self.worker.wait(self.forecast_run, "fit-forecasts"), "fit-forecasts"
        )
        progress(f"  forecast before {self.day}: origin {forecast.get('origin')}")
        return {
            "day": self.day.isoformat(),
            "start": self.start.isoformat(),
            "forecast_origin": forecast.get("origin"),
            **measured,
            **watched,
        }

    def cancel(self) -> None:
        """Stop the modelling: drop it if it has not started, terminate its process if it has
        (its open transaction is rolled back), then shut the executor down."""
        if self._joined:
            return
        self._joined = True
        if not self._future.cancel():
            try:
                pid = self._pid.result(timeout=60)
            except Exception:  # the process never started or is already gone
                pid = None
            if pid is not None and not self._future.done():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM)
        self._executor.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> ModelledPast:
        return self

    def __exit__(self, *exc_info) -> None:
        self.cancel()  # nothing to do once `wait` has joined it


def model_history(
    worker: DemoWorker, services, *, now: datetime, seed: int, progress: Progress
) -> ModelledPast:
    """Start modelling the past (module docstring): yesterday's local midnight to `now`.
    Returns the work under way (a context manager: leaving it unjoined stops the work); its
    `wait` joins it."""
    past = ModelledPast(worker, services, now=now, seed=seed)
    progress(
        f"modelling the past on the sandbox, {past.day} 00:00 to now, in the background: "
        f"the forecast before {past.day} (flow fit-forecasts, history to "
        f"{past.start:%Y-%m-%d %H:%M} UTC), the load model's requests, watch rounds every "
        "critical_path.interval on the modelled clock"
    )
    return past


def _model_in_process(services, *, start: datetime, now: datetime, seed: int) -> tuple[dict, dict]:
    from wedperf.config import get_settings
    from wedperf.db.connection import close_pools

    # Behind the live part on a shared machine: its latencies are what the demo measures,
    # and this only has to be done by the live watch round.
    os.nice(5)
    settings = get_settings()
    try:
        measured = model_measurements(services, settings, start=start, now=now, seed=seed)
        watched = model_rounds(services, settings, start=start, now=now)
    finally:
        close_pools()
    return measured, watched


def model_measurements(services, settings, *, start: datetime, now: datetime, seed: int) -> dict:
    """The load model's requests of every wedding in its day window in [start, now), stored
    as histogram samples and rolled up per minute (wedperf's store code)."""
    from wedperf.calendar.sync import weddings_in_day_windows
    from wedperf.metrics.model import CollectWindow
    from wedperf.metrics.sources import SqlSource
    from wedperf.metrics.store import rollup_minutes, store_samples
    from wedperf.sandbox.capacity import BASELINE_REPLICAS
    from wedperf.sandbox.history import modelled_samples

    began = time.monotonic()
    perf_pool = get_pool(services.database_url)
    with perf_pool.connection() as conn:
        weddings = [
            w
            for w in weddings_in_day_windows(conn, start, now, settings)
            if w.status != "cancelled"
        ]
    span = modelled_samples(weddings, start, now, replicas=BASELINE_REPLICAS, seed=seed)
    stored = store_samples(perf_pool, span.samples)
    # What the app database itself recorded (vendor deliveries: sent -> delivered), read by
    # the collector's own source over the whole span, as its rounds would have read it.
    rows = []
    if settings.sql_source.enabled:
        rows = SqlSource(
            services.app_database_url,
            schema=settings.source_schema,
            timeout_s=settings.sql_source.timeout_seconds,
        ).collect(CollectWindow(start=start, end=now, live_weddings=tuple(weddings)))
        stored += store_samples(perf_pool, rows)
    with perf_pool.connection() as conn:
        rollup_minutes(
            conn,
            start,
            now,
            before=settings.day_window_before,
            after=settings.day_window_after,
        )
    return {
        "weddings": span.weddings,
        "requests": span.requests,
        "samples": stored,
        "replicas": span.replicas,
        "line": (
            f"  load model: {span.requests:,} requests of {span.weddings} weddings from "
            f"{start:%Y-%m-%d %H:%M} UTC to now at {span.replicas} replicas (peak "
            f"{span.peak_rps:.0f} req/s), {len(rows):,} app-DB rows, {stored:,} samples stored "
            f"({time.monotonic() - began:.1f} s)"
        ),
    }


def model_rounds(services, settings, *, start: datetime, now: datetime) -> dict:
    """A critical-path round and an error-budget round at every watch-grid instant in
    [start, now), recorded as the watch flow records them."""
    from wedperf.critical_path.round import live_weddings, run_round
    from wedperf.sandbox.history import round_instants
    from wedperf.slo.round import budget_weddings, evaluate_budgets

    began = time.monotonic()
    perf_pool, app_pool = get_pool(services.database_url), get_pool(services.app_database_url)
    cp = settings.critical_path
    # Every grid instant up to now (the live round then takes the next one, or this one
    # again: a round is keyed by wedding x instant, so a re-run replaces it).
    instants = round_instants(start, now, cp.interval)
    rounds = budget_rounds = 0
    per_wedding: dict[str, int] = {}
    for at in instants:
        # As the watch flow's tasks do: a pooled connection per round, committed at its end.
        with perf_pool.connection() as perf_conn:
            live = live_weddings(perf_conn, at, settings)
            targets = budget_weddings(perf_conn, at, settings) if settings.slo.enabled else []
        if live:
            with app_pool.connection() as app_conn, perf_pool.connection() as perf_conn:
                run_round(app_conn, perf_conn, live, at, settings, record=True, by_client=False)
            rounds += 1
            for w in live:
                per_wedding[w.wedding_id] = per_wedding.get(w.wedding_id, 0) + 1
        if targets:
            with perf_pool.connection() as perf_conn:
                evaluate_budgets(app_pool.connection, perf_conn, targets, at, settings, record=True)
            budget_rounds += 1
    return {
        "rounds": rounds,
        "budget_rounds": budget_rounds,
        "rounds_per_wedding": per_wedding,
        "line": (
            f"  watch rounds every {int(cp.interval.total_seconds() // 60)} min on the modelled "
            f"clock: {rounds} critical-path rounds ({len(per_wedding)} weddings, "
            f"{min(per_wedding.values(), default=0)}-{max(per_wedding.values(), default=0)} "
            f"rounds each), {budget_rounds} error-budget rounds "
            f"({time.monotonic() - began:.1f} s)"
        ),
    }
