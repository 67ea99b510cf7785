"""The remediation task: run one playbook's steps and record each in perf.actions."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import redis
from prefect import task
from prefect.cache_policies import NONE

from wedperf.actions.audit import ActionRecord, record_action
from wedperf.calendar.model import Wedding
from wedperf.db.connection import get_pool
from wedperf.remediation import steps
from wedperf.remediation.state import AlertForRemediation, in_cooldown
from wedperf.runtime import get_runtime


# No retries: a half-done remediation is re-decided by a new run, not blindly repeated.
@task(name="apply-playbook", task_run_name="{playbook}", cache_policy=NONE)
def apply_playbook(
    alert: AlertForRemediation,
    playbook: str,
    params: dict[str, Any],
    touched: Sequence[Wedding],
    plan_id: str,
) -> list[steps.StepResult]:
    runtime = get_runtime()
    settings = runtime.settings
    dry_run = settings.remediation.dry_run
    scope = f"wedding:{alert.wedding_id}" if alert.wedding_id else "platform"
    summary_kind = f"remediation_{playbook}"
    with runtime.pool.connection() as conn:
        if in_cooldown(conn, summary_kind, scope, datetime.now(UTC), settings.remediation.cooldown):
            # The playbook's own summary row (same plan, kind and scope) says why: recording a
            # separate step under that key would be overwritten by the summary.
            why = f"cooldown {settings.remediation.cooldown}"
            result = [steps.StepResult(playbook, scope, "skipped", detail=why)]
        else:
            result = _run(conn, alert, playbook, params, touched, dry_run)
            why = f"{len(result)} step(s)"
            for r in result:
                _record(conn, plan_id, f"remediation_{r.kind}", r, touched, dry_run)
        outcome = (
            "dry-run"
            if dry_run
            else (
                "failed"
                if any(r.outcome == "failed" for r in result)
                else "skipped"
                if all(r.outcome == "skipped" for r in result)
                else "done"
            )
        )
        _record(
            conn,
            plan_id,
            summary_kind,
            steps.StepResult(playbook, scope, outcome, detail=why),
            touched,
            dry_run,
        )
    return result


def _run(conn, alert, playbook, params, touched, dry_run) -> list[steps.StepResult]:
    runtime = get_runtime()
    settings = runtime.settings
    if playbook == "scale_up":
        return steps.scale_up(conn, settings, params, dry_run=dry_run)
    with get_pool(runtime.services.app_database_url).connection() as app_conn:
        if playbook == "cancel_runaway_queries":
            app_conn.autocommit = True
            try:
                return steps.cancel_runaway_queries(
                    app_conn,
                    min_duration_s=float(params.get("min_duration_s", 300)),
                    protected_roles=settings.remediation.protected_roles,
                    dry_run=dry_run,
                )
            finally:
                app_conn.autocommit = False
        if playbook == "refresh_matviews":
            return steps.refresh_matviews(app_conn, params.get("views"), dry_run=dry_run)
        wedding = next((w for w in touched if w.wedding_id == alert.wedding_id), None)
        if wedding is None:
            return [
                steps.StepResult(
                    playbook, "wedding", "skipped", detail="the alert names no known wedding"
                )
            ]
        client = redis.Redis.from_url(runtime.services.redis_url, socket_timeout=10)
        try:
            out = []
            if playbook == "flush_rewarm_cache":
                out.append(
                    steps.flush_cache(
                        client,
                        settings.remediation.cache_key_patterns,
                        wedding.wedding_id,
                        dry_run=dry_run,
                    )
                )
            out += steps.rewarm(client, app_conn, wedding, settings, dry_run=dry_run)
            return out
        finally:
            client.close()


def _record(conn, plan_id, kind, r: steps.StepResult, touched, dry_run) -> None:
    record_action(
        conn,
        ActionRecord(
            plan_id=plan_id,
            kind=kind,
            target=r.target,
            reason="remediation",
            dry_run=dry_run,
            outcome=r.outcome,
            before=r.before,
            after=r.after,
            wedding_ids=[w.wedding_id for w in touched],
            detail=r.detail,
        ),
    )
