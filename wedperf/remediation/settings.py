"""Remediation settings (a section of wedperf.config.Settings: WEDPERF_REMEDIATION__*)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field


class RemediationSettings(BaseModel):
    """Remediation guardrails: approval during ceremonies, budget, cooldown, verification."""

    playbooks_file: Path | None = Field(
        default=None, description="rules choosing a playbook by alert labels (TOML)"
    )
    dry_run: bool = Field(default=False, description="record what would be done, do nothing")
    verify_delay: timedelta = Field(
        default=timedelta(seconds=60),
        description="the settle time: how long what a playbook did needs to take effect (a "
        "scale-up's new pods ready; 60 s: a warm image). No metric window starts before it; "
        "a check or the source is asked after it; a rule's verify_delay_s overrides it",
    )
    verify_confirm: timedelta = Field(
        default=timedelta(seconds=30),
        description="after the settle time, how long a metric rule may take to read clear on "
        "2 consecutive windows (unreadable or idle windows are retried within it); then not "
        "recovered, or the source is asked if no window could be judged; never less than the "
        "2 windows recovery needs. The wait is verify_delay + verify_confirm (90 s by "
        "default) plus the last window's two scrapes (10 s timeouts to connect and per read)",
    )
    verify_min_requests: int = Field(
        default=20,
        ge=1,
        description="requests a metric window needs to count: a thinner window is idle (not "
        "clear) and is read again",
    )
    cooldown: timedelta = Field(
        default=timedelta(minutes=10), description="the same playbook on the same target rests"
    )
    ceremony_before: timedelta = Field(
        default=timedelta(minutes=15), description="ceremony window opens this long before"
    )
    ceremony_after: timedelta = Field(
        default=timedelta(minutes=60), description="...and closes this long after the start"
    )
    ceremony_guard: Literal["approve", "defer"] = Field(
        default="approve",
        description="a disruptive action touching a ceremony: ask a person, or wait it out",
    )
    approval_timeout: timedelta = Field(
        default=timedelta(minutes=10), description="unanswered approval counts as rejected"
    )
    protected_roles: list[str] = Field(
        default_factory=lambda: ["postgres", "replicator", "rdsadmin"],
        description="database roles whose queries are never cancelled",
    )
    concurrency_limit: str = Field(
        default="wedperf-remediation",
        description="Prefect global concurrency limit: remediation actions running at once",
    )
    rate_limit: str = Field(
        default="wedperf-remediation-rate",
        description="Prefect global concurrency limit with slot decay: actions per minute",
    )
    cache_key_patterns: list[str] = Field(
        default_factory=lambda: [
            "sandbox:wedding:{wedding_id}:*",
            "wedperf:wedding:{wedding_id}:*",
        ],
        description="the app's cache keys of one wedding ({wedding_id} templated)",
    )
    deployment: str = "remediate-alert/remediate-alert"
