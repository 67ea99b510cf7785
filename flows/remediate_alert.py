"""Flow: remediate one alert from the inbox, within the wedding-day guardrails."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact
from prefect.concurrency.sync import concurrency, rate_limit
from prefect.deployments import run_deployment
from prefect.exceptions import FlowPauseTimeout
from prefect.flow_runs import pause_flow_run
from prefect.runtime import deployment as current_deployment

from tasks.remediation import apply_playbook
from wedperf.alerts.inbox import load_alert, set_remediation_state
from wedperf.alerts.model import identity
from wedperf.audit import record_step
from wedperf.db.connection import get_pool
from wedperf.prefect_api import Approval
from wedperf.remediation.playbooks import decide, playbook_kind
from wedperf.remediation.verify import MetricVerdict, judge_metric, metric_rule_of, verify
from wedperf.runtime import get_runtime


@flow(name="remediate-alert", log_prints=True)
def remediate_alert(alert_id: int) -> dict:
    """Remediate the alert `alert_id` of perf.alerts: choose a playbook by its labels, ask for
    approval (or defer) before a disruptive action during a ceremony, act within the budget,
    cooldown and dry-run settings, verify recovery after a delay, escalate if it did not."""
    logger = get_run_logger()
    runtime = get_runtime()
    settings = runtime.settings
    guard = settings.remediation
    plan_id = f"alert-{alert_id}"
    now = datetime.now(UTC)
    with runtime.pool.connection() as conn:
        alert = load_alert(conn, alert_id)
        if alert is None:
            raise ValueError(f"alert {alert_id} is not in perf.alerts")
        if alert.status == "resolved":
            set_remediation_state(conn, alert_id, "not_needed", "resolved before remediation began")
            return {"alert_id": alert_id, "state": "not_needed"}
        decision = decide(conn, alert, now, settings)
        if decision is None:
            set_remediation_state(conn, alert_id, "no_playbook", "no rule matches its labels")
            _escalate(alert_id, f"No playbook matches labels {alert.match_labels}.")
            return {"alert_id": alert_id, "state": "no_playbook"}
    rule, touched, conflicts = decision.rule, decision.touched, decision.conflicts
    logger.info(
        "alert %s -> playbook %s (%d weddings touched)", alert_id, rule.playbook, len(touched)
    )

    if conflicts:
        who = ", ".join(f"wedding {c.wedding_id} (ceremony {c.ceremony_local})" for c in conflicts)
        if guard.ceremony_guard == "defer":
            return _defer(alert, plan_id, rule.playbook, conflicts, who)
        refused = _approve(alert_id, plan_id, rule.playbook, who, touched)
        if refused is not None:
            return refused

    with runtime.pool.connection() as conn:
        set_remediation_state(conn, alert_id, "running", rule.playbook)
    # The budget: at most N remediations act at once, and at most M start per minute, across
    # every worker (Prefect global concurrency limits; missing limits do not block).
    with concurrency(guard.concurrency_limit, occupy=1, strict=False):
        rate_limit(guard.rate_limit, strict=False)
        steps = apply_playbook(alert, rule.playbook, rule.params, touched, plan_id)

    # What the playbook did is verified once it has taken effect: no metric window ending
    # before the delay (the settle time) counts, then the rule must read clear on consecutive
    # windows within remediation.verify_confirm; a check or the source is asked after the
    # delay. The metric is read before any connection is taken (none is held while waiting).
    delay = float(rule.params.get("verify_delay_s", guard.verify_delay.total_seconds()))
    confirm = guard.verify_confirm.total_seconds()
    metric_rule = metric_rule_of(alert)
    began = time.monotonic()
    verdict = None
    if metric_rule is not None:
        try:
            verdict = judge_metric(
                settings.probes.base_url,
                metric_rule,
                settle=delay,
                confirm=confirm,
                min_requests=guard.verify_min_requests,
            )
        except Exception as exc:  # the playbook has acted: the alert must still be decided
            verdict = MetricVerdict(None, f"the metric could not be judged ({exc!r}); ")
    else:
        time.sleep(delay)
    with (
        get_pool(runtime.services.app_database_url).connection() as app_conn,
        runtime.pool.connection() as conn,
    ):
        checked = verify(conn, app_conn, alert, settings, metric=verdict)
    ok, why, by = checked.recovered, checked.detail, checked.verified_by
    waited = time.monotonic() - began
    state = "recovered" if ok else "escalated"
    with runtime.pool.connection() as conn:
        set_remediation_state(conn, alert_id, state, f"verified by {by}: {why}")
    if not ok:
        bound = (
            f"allowed {delay:.0f} s to settle + at least {confirm:.0f} s to confirm"
            if metric_rule is not None
            else f"after the {delay:.0f} s delay"
        )
        _escalate(
            alert_id,
            f"Playbook `{rule.playbook}` ran ({len(steps)} steps) but was not verified "
            f"{waited:.0f} s after it ({bound}): {why}. A person needs to look.",
        )
    return {
        "alert_id": alert_id,
        "state": state,
        "playbook": rule.playbook,
        "steps": [s.__dict__ for s in steps],
        "verification": why,
        "verified_by": by,
    }


def _approve(alert_id: int, plan_id: str, playbook: str, who: str, touched) -> dict | None:
    """Pause for a person's answer in the Prefect UI and record it; None when approved, the
    run's result when rejected (or unanswered within remediation.approval_timeout)."""
    runtime = get_runtime()
    guard = runtime.settings.remediation
    with runtime.pool.connection() as conn:
        set_remediation_state(conn, alert_id, "awaiting_approval", who)
    description = (
        f"{playbook} for alert {alert_id} touches {who} during the ceremony. Approve to run it now."
    )
    try:
        answer = pause_flow_run(
            wait_for_input=Approval.with_initial_data(description=description, approve=False),
            timeout=int(guard.approval_timeout.total_seconds()),
            poll_interval=2,
        )
    except FlowPauseTimeout:
        answer = None
    approved = answer is not None and answer.approve
    if approved:
        kind, outcome, note = "remediation_approval", "done", f"approved: {answer.note}"
    else:  # the playbook's own row says it did not run, and why
        kind, outcome = playbook_kind(playbook), "skipped"
        note = "no answer in time" if answer is None else f"rejected: {answer.note}"
    with runtime.pool.connection() as conn:
        record_step(
            conn,
            plan_id,
            kind,
            who[:200],
            outcome=outcome,
            reason=note,
            dry_run=guard.dry_run,
            wedding_ids=[w.wedding_id for w in touched],
        )
        if approved:
            return None
        set_remediation_state(conn, alert_id, "rejected", note)
    return {"alert_id": alert_id, "state": "rejected", "playbook": playbook}


def _defer(alert, plan_id: str, playbook: str, conflicts, who: str) -> dict:
    runtime = get_runtime()
    settings = runtime.settings
    alert_id = alert.alert_id
    until = max(c.until for c in conflicts)
    if current_deployment.name:
        # Keyed by the alert episode, not its row number: a rebuilt perf database (or a
        # second one on the same Prefect server) restarts alert ids.
        run_deployment(
            settings.remediation.deployment,
            parameters={"alert_id": alert_id},
            scheduled_time=until,
            idempotency_key=(
                f"{settings.remediation.deployment}|{identity(alert)}|after-{until.isoformat()}"
            ),
            timeout=0,
            as_subflow=False,
            tags=["wedperf", "remediation", "deferred"],
        )
    with runtime.pool.connection() as conn:
        record_step(
            conn,
            plan_id,
            playbook_kind(playbook),
            who[:200],
            outcome="skipped",
            reason=f"deferred until {until:%H:%M} UTC",
            dry_run=settings.remediation.dry_run,
        )
        set_remediation_state(conn, alert_id, "deferred", f"until {until.isoformat()}: {who}")
    return {"alert_id": alert_id, "state": "deferred", "until": until.isoformat()}


def _escalate(alert_id: int, text: str) -> None:
    create_markdown_artifact(
        key=f"alert-{alert_id}-escalation",
        markdown=f"# Alert {alert_id} needs a person\n\n{text}",
        description="remediation did not resolve the alert",
    )
