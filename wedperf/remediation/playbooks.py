"""The playbooks, in one table, and `apply_playbook`: one playbook run for one alert.

Each `Playbook` says what it is called, whether it can hurt a wedding in progress
(`disruptive`: approval, or deferral, during a ceremony), which weddings it touches (`scope`:
the alert's wedding, or every wedding live now), the parameters a rule may give it, and how it
runs. Nothing else in wedperf lists playbooks: the rules file is checked against this table,
the guardrails read `disruptive` and `scope` from it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import psycopg
import redis

from wedperf.alerts.model import Alert
from wedperf.audit import acted_since, record_step
from wedperf.calendar.model import Wedding
from wedperf.config import Settings
from wedperf.db.connection import get_pool
from wedperf.remediation import steps
from wedperf.remediation.steps import StepResult
from wedperf.services import ResolvedServices


@dataclass(frozen=True)
class PlaybookRun:
    """What one run of a playbook acts for and with."""

    playbook: str
    alert: Alert
    params: Mapping[str, Any]
    touched: Sequence[Wedding]
    conn: psycopg.Connection  # wedperf's database (the capacity state a scale-up remembers)
    settings: Settings
    services: ResolvedServices
    dry_run: bool

    def wedding(self) -> Wedding | None:
        """The alert's wedding, when it is one of the weddings touched."""
        return next((w for w in self.touched if w.wedding_id == self.alert.wedding_id), None)

    @contextmanager
    def app_connection(self, *, autocommit: bool = False) -> Iterator[psycopg.Connection]:
        """A connection to the app's database, handed back to its pool as it was lent."""
        with get_pool(self.services.app_database_url).connection() as app_conn:
            if not autocommit:
                yield app_conn  # the pool commits (or rolls back) when it is handed back
                return
            app_conn.autocommit = True
            try:
                yield app_conn
            finally:
                app_conn.autocommit = False

    @contextmanager
    def cache(self) -> Iterator[redis.Redis]:
        """The app's Redis cache."""
        client = redis.Redis.from_url(self.services.redis_url, socket_timeout=10)
        try:
            yield client
        finally:
            client.close()


@dataclass(frozen=True)
class Playbook:
    name: str
    disruptive: bool  # can hurt a wedding in progress: approval or deferral in a ceremony
    scope: Literal["wedding", "platform"]  # touches the alert's wedding, or every live one
    run: Callable[[PlaybookRun], list[StepResult]]
    does: str = ""
    params: Mapping[str, str] = field(default_factory=dict)  # a rule's `params`: meaning


def _scale_up(run: PlaybookRun) -> list[StepResult]:
    return steps.scale_up(
        run.conn,
        run.settings,
        step=int(run.params.get("step", 2)),
        only=run.params.get("target"),
        dry_run=run.dry_run,
    )


def _cancel_runaway_queries(run: PlaybookRun) -> list[StepResult]:
    # Autocommit: each pg_cancel_backend takes effect at once, not at a commit.
    with run.app_connection(autocommit=True) as app_conn:
        return steps.cancel_runaway_queries(
            app_conn,
            min_duration_s=float(run.params.get("min_duration_s", 300)),
            protected_roles=run.settings.remediation.protected_roles,
            dry_run=run.dry_run,
        )


def _refresh_matviews(run: PlaybookRun) -> list[StepResult]:
    with run.app_connection() as app_conn:
        return steps.refresh_matviews(app_conn, run.params.get("views"), dry_run=run.dry_run)


def _flush_rewarm_cache(run: PlaybookRun) -> list[StepResult]:
    return _rewarm_wedding(run, flush_first=True)


def _rerun_prewarm(run: PlaybookRun) -> list[StepResult]:
    return _rewarm_wedding(run, flush_first=False)


def _rewarm_wedding(run: PlaybookRun, *, flush_first: bool) -> list[StepResult]:
    wedding = run.wedding()
    if wedding is None:
        return [
            StepResult(
                run.playbook, "wedding", "skipped", detail="the alert names no known wedding"
            )
        ]
    with run.app_connection() as app_conn, run.cache() as client:
        out = []
        if flush_first:
            patterns = run.params.get("key_patterns", run.settings.remediation.cache_key_patterns)
            if isinstance(patterns, str):  # one pattern written without brackets
                patterns = [patterns]
            out.append(
                steps.flush_cache(client, list(patterns), wedding.wedding_id, dry_run=run.dry_run)
            )
        return out + steps.rewarm(client, app_conn, wedding, run.settings, dry_run=run.dry_run)


PLAYBOOKS: dict[str, Playbook] = {
    p.name: p
    for p in (
        Playbook(
            "scale_up",
            disruptive=False,
            scope="platform",
            run=_scale_up,
            does="raise each (or the named) capacity target's floor by `step`",
            params={
                "target": "the one capacity target to raise (default: every target)",
                "step": "replicas added to the floor (default 2), never above the maximum",
            },
        ),
        Playbook(
            "flush_rewarm_cache",
            disruptive=True,
            scope="wedding",
            run=_flush_rewarm_cache,
            does="delete the wedding's cache keys (SCAN), re-warm its datasets and URLs",
            params={
                "key_patterns": "the wedding's cache keys, {wedding_id} templated "
                "(default: remediation.cache_key_patterns)",
            },
        ),
        Playbook(
            "cancel_runaway_queries",
            disruptive=True,
            scope="platform",
            run=_cancel_runaway_queries,
            does="pg_cancel_backend for client queries over `min_duration_s`, "
            "never for protected roles",
            params={"min_duration_s": "how long a query runs before it is cancelled (300)"},
        ),
        Playbook(
            "refresh_matviews",
            disruptive=False,
            scope="platform",
            run=_refresh_matviews,
            does="REFRESH MATERIALIZED VIEW (CONCURRENTLY where possible)",
            params={
                "views": "schema-qualified names (default: every materialized view in schema app)"
            },
        ),
        Playbook(
            "rerun_prewarm",
            disruptive=False,
            scope="wedding",
            run=_rerun_prewarm,
            does="pre-warm the alert's wedding again",
        ),
    )
}


def get_playbook(name: str) -> Playbook:
    """The playbook `name`; a name outside the table is a ValueError naming the known ones."""
    try:
        return PLAYBOOKS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown playbook {name!r} (known: {', '.join(PLAYBOOKS)})") from None


def roll_up(results: Sequence[StepResult], *, dry_run: bool) -> str:
    """One outcome for a playbook run: dry-run, failed if any step failed, skipped if every
    step was, else done."""
    if dry_run:
        return "dry-run"
    if any(r.outcome == "failed" for r in results):
        return "failed"
    if all(r.outcome == "skipped" for r in results):
        return "skipped"
    return "done"


def apply_playbook(
    conn: psycopg.Connection,
    alert: Alert,
    name: str,
    params: Mapping[str, Any],
    touched: Sequence[Wedding],
    *,
    plan_id: str,
    settings: Settings,
    services: ResolvedServices,
    now: datetime | None = None,
) -> list[StepResult]:
    """Run playbook `name` for `alert` with the rule's `params` and return its steps.

    Writes perf.actions (plan `plan_id`): each step as `remediation_<step kind>`, then the
    playbook's own row (`remediation_<playbook>`, target the alert's wedding or `platform`)
    with the steps rolled up. That row ending `done` starts the cooldown: the same playbook on
    the same target rests for remediation.cooldown, and a resting playbook writes only its own
    row, saying why (a step recorded under that key would be overwritten by it). With
    remediation.dry_run the steps say what they would do and change nothing.
    """
    playbook = get_playbook(name)
    guard = settings.remediation
    now = now or datetime.now(UTC)
    target = f"wedding:{alert.wedding_id}" if alert.wedding_id else "platform"
    resting = acted_since(conn, f"remediation_{name}", target, now - guard.cooldown)
    if resting:
        why = f"cooldown {guard.cooldown}"
        results = [StepResult(name, target, "skipped", detail=why)]
    else:
        results = playbook.run(
            PlaybookRun(
                playbook=name,
                alert=alert,
                params=params,
                touched=touched,
                conn=conn,
                settings=settings,
                services=services,
                dry_run=guard.dry_run,
            )
        )
        why = f"{len(results)} step(s)"
    summary = StepResult(name, target, roll_up(results, dry_run=guard.dry_run), detail=why)
    for step in ([] if resting else results) + [summary]:
        record_step(
            conn,
            plan_id,
            f"remediation_{step.kind}",
            step.target,
            outcome=step.outcome,
            reason="remediation",
            dry_run=guard.dry_run,
            before=step.before,
            after=step.after,
            wedding_ids=[w.wedding_id for w in touched],
            detail=step.detail,
        )
    return results
