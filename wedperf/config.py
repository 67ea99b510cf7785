"""Settings: the only module that reads the environment.

Values come, highest priority first, from keyword arguments, ``WEDPERF_*`` environment
variables (nested fields with ``__``, e.g. ``WEDPERF_PROMETHEUS__URL``), the TOML file named
by ``WEDPERF_CONFIG_FILE``, and the defaults below. The defaults describe the sandbox
platform, so ``wedperf demo`` runs with nothing configured.
"""

from __future__ import annotations

import os
from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from wedperf.advisor.settings import AdvisorSettings
from wedperf.alerts.settings import WebhookSettings
from wedperf.evidence.settings import EvidenceSettings
from wedperf.forecast.settings import ForecastSettings
from wedperf.metrics.clients import ClientKind
from wedperf.mobile.settings import RumSettings


class PrometheusSettings(BaseModel):
    """Where Prometheus is and which PromQL gives each operation's latency."""

    url: str | None = Field(
        default=None, description="Prometheus base URL; unset disables the Prometheus source"
    )
    wedding_label: str = Field(
        default="wedding_id", description="series label that names the wedding"
    )
    step_seconds: int = 60
    timeout_seconds: float = 10.0
    bearer_token: SecretStr | None = None
    # PromQL per operation. The sandbox app exports `wedapp_request_duration_seconds`
    # with `operation` and `wedding_id` labels; a real platform maps its own metrics here.
    queries: dict[str, str] = Field(
        default_factory=lambda: {
            op: (
                "histogram_quantile(0.95, sum by (le, wedding_id) ("
                f'rate(wedapp_request_duration_seconds_bucket{{operation="{op}"}}[1m])))'
            )
            for op in ("guest_list", "timeline_sync", "photo_upload", "vendor_notify")
        }
    )


class ProbeTarget(BaseModel):
    """One HTTP endpoint timed by the probe source."""

    name: str
    operation: str
    url: str = Field(description="absolute URL; may contain {wedding_id} and {base_url}")
    method: Literal["GET", "HEAD", "POST"] = "GET"
    per_wedding: bool = Field(default=False, description="probe once per wedding in its day window")
    client: ClientKind = Field(
        default="unknown",
        description="client profile: ios/android/web send that app's User-Agent and tag samples",
    )


class ProbeSettings(BaseModel):
    base_url: str = Field(
        default="http://127.0.0.1:8765", description="substituted for {base_url} in targets"
    )
    timeout_seconds: float = 5.0
    concurrency: int = 8
    max_weddings: int = Field(
        default=50, description="per-wedding targets probe at most this many live weddings a round"
    )
    targets: list[ProbeTarget] = Field(
        default_factory=lambda: [
            ProbeTarget(
                name="guest-list",
                operation="guest_list",
                url="{base_url}/weddings/{wedding_id}/guests",
                per_wedding=True,
            ),
            ProbeTarget(
                name="timeline",
                operation="timeline_sync",
                url="{base_url}/weddings/{wedding_id}/timeline",
                per_wedding=True,
            ),
            ProbeTarget(name="health", operation="platform", url="{base_url}/healthz"),
        ]
    )


class SloOverride(BaseModel):
    """Replacement thresholds for one check (either or both)."""

    warn: float | None = None
    breach: float | None = None


class CriticalPathSettings(BaseModel):
    """Wedding-day watch: cadence, models, and SLO overrides.

    SLO thresholds resolve as: the check's built-in default (wedperf.critical_path.slo), then
    `slo[check]`, then `tiers[<tier>][check]`, then `weddings[<wedding_id>][check]`. A wedding's
    tier comes from its guest count (`tier_bounds`: the first tier whose upper bound exceeds
    the count).
    """

    interval: timedelta = Field(
        default=timedelta(minutes=5), description="evaluation cadence inside day windows"
    )
    latency_lookback: timedelta = Field(
        default=timedelta(minutes=15), description="operation p95 over this much recent history"
    )
    ack_deadline: timedelta = Field(
        default=timedelta(minutes=20),
        description="a vendor notification unacknowledged this long after sending is overdue",
    )
    ceremony_grace: timedelta = Field(
        default=timedelta(minutes=10), description="when 'missing at ceremony' is measured"
    )
    expected_checkin_share: float = Field(
        default=0.9, description="share of invited guests expected to check in"
    )
    # Arrival curve: triangular over minutes relative to the ceremony (wedding-facts.md:
    # "guest check-ins cluster in the hour before the ceremony").
    arrival_minutes: tuple[float, float, float] = (-60.0, -15.0, 5.0)
    tier_bounds: dict[str, int] = Field(
        default_factory=lambda: {"intimate": 50, "standard": 200, "grand": 1_000_000}
    )
    slo: dict[str, SloOverride] = Field(default_factory=dict)
    tiers: dict[str, dict[str, SloOverride]] = Field(default_factory=dict)
    weddings: dict[str, dict[str, SloOverride]] = Field(default_factory=dict)
    batch_size: int = Field(default=250, description="weddings evaluated per task")


class CapacityTarget(BaseModel):
    """Something whose capacity floor wedperf raises ahead of weddings."""

    name: str
    kind: Literal["sandbox", "kubernetes-hpa", "kubernetes-scale", "http"] = "sandbox"
    url: str | None = Field(
        default=None,
        description="sandbox app base URL, Kubernetes API server, or the HTTP endpoint",
    )
    namespace: str = "default"
    resource: str | None = Field(default=None, description="HPA or Deployment name")
    token: SecretStr | None = Field(default=None, description="bearer token (never logged)")
    token_file: str | None = Field(
        default=None, description="e.g. the service-account token of an in-cluster worker"
    )
    ca_file: str | None = None
    kubeconfig: str | None = Field(default=None, description="kubeconfig with token auth")
    min_replicas: int = 1
    max_replicas: int = 20
    per_replica_rps: float = Field(
        default=50.0, description="requests/s one replica serves within the latency SLO"
    )
    serves: list[str] = Field(
        default_factory=list,
        description="timezone prefixes of the weddings this target serves (empty: all)",
    )
    forecast_series: str | None = Field(
        default=None,
        description="perf.forecasts series (hourly request counts) sizing this target's floor; "
        "unset or without a fit covering the slot: the calendar estimate",
    )


class OpsSettings(BaseModel):
    """Acting ahead of weddings: the plan, the capacity policy and pre-warm."""

    horizon: timedelta = Field(default=timedelta(days=7), description="how far ahead to plan")
    prewarm_lead: timedelta = Field(
        default=timedelta(minutes=30), description="pre-warm this long before the day window"
    )
    floor_buffer: timedelta = Field(
        default=timedelta(minutes=10),
        description="raise the floor this long before the day window (pod start + margin)",
    )
    restore_delay: timedelta = Field(
        default=timedelta(minutes=15), description="restore this long after the day window"
    )
    slot: timedelta = Field(
        default=timedelta(minutes=30), description="runs are grouped into slots this long"
    )
    mode: Literal["act", "dry-run", "forecast-only"] = Field(
        default="act",
        description="act; dry-run (read targets, record what would change); forecast-only "
        "(record the plan, touch nothing)",
    )
    quantile: Literal[80, 95] = Field(
        default=95, description="upper bound of the forecast interval the floor is sized on"
    )
    headroom: float = Field(default=0.2, description="extra capacity on top of the forecast")
    requests_per_guest_per_s: float = Field(
        default=0.05,
        description="fallback load model when no forecast exists: peak requests/s per guest",
    )
    cooldown: timedelta = Field(
        default=timedelta(minutes=15), description="no lowering within this long of a change"
    )
    targets: list[CapacityTarget] = Field(
        default_factory=lambda: [CapacityTarget(name="sandbox")],
        description="a sandbox target without a url uses probes.base_url (the sandbox app)",
    )
    prewarm_urls: list[str] = Field(
        default_factory=lambda: [
            "{base_url}/weddings/{wedding_id}/guests",
            "{base_url}/weddings/{wedding_id}/timeline",
        ],
        description="HTTP warm-up requests per wedding ({base_url} = probes.base_url)",
    )
    prewarm_key_template: str = Field(
        default="wedperf:wedding:{wedding_id}:{dataset}",
        description="Redis key of a wedding's dataset (guest_list, timeline, vendors, seating)",
    )
    prewarm_relations: list[str] = Field(
        default_factory=lambda: ["app.guests", "app.timeline_items", "app.vendors", "app.seating"],
        description="app relations to pg_prewarm and ANALYZE before a wedding day",
    )
    prewarm_deployment: str = "prewarm-weddings/prewarm-weddings"
    floor_deployment: str = "capacity-floor/capacity-floor"


class RemediationSettings(BaseModel):
    """Remediation guardrails: approval during ceremonies, budget, cooldown, verification."""

    playbooks_file: Path | None = Field(
        default=None, description="rules choosing a playbook by alert labels (TOML)"
    )
    dry_run: bool = Field(default=False, description="record what would be done, do nothing")
    verify_delay: timedelta = Field(
        default=timedelta(seconds=60), description="wait this long before re-reading the metric"
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


class SqlSourceSettings(BaseModel):
    enabled: bool = True
    timeout_seconds: float = 10.0


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="WEDPERF_",
        env_nested_delimiter="__",
        extra="ignore",
    )

    database_url: str | None = Field(
        default=None,
        description="wedperf's PostgreSQL; unset starts an embedded PostgreSQL in data_dir",
    )
    app_database_url: str | None = Field(
        default=None,
        description="the app's PostgreSQL (read through the wedperf_src views); "
        "unset means the same database as database_url",
    )
    redis_url: str | None = Field(
        default=None, description="the app's Redis cache; unset starts an embedded Redis"
    )
    data_dir: Path = Field(
        default_factory=lambda: Path.home() / ".wedperf",
        description="home of embedded services and local state",
    )
    source_schema: str = Field(default="wedperf_src", description="schema of the app-DB views")
    ical_url: str | None = Field(
        default=None, description="optional iCalendar feed (path or URL) of weddings"
    )
    day_window_before: timedelta = Field(
        default=timedelta(hours=3), description="day window opens this long before the ceremony"
    )
    day_window_after: timedelta = Field(
        default=timedelta(0), description="day window closes this long after the reception ends"
    )
    collect_lookback: timedelta = Field(
        default=timedelta(minutes=5),
        description="each collection re-reads this much history; the natural key dedupes",
    )
    dense_collect_interval: timedelta = Field(
        default=timedelta(minutes=1), description="collection cadence inside day windows"
    )
    collect_plan_horizon: timedelta = Field(
        default=timedelta(hours=3),
        description="how far ahead dense collection runs are materialised as scheduled runs",
    )
    sample_partition_days_ahead: int = 7
    prometheus: PrometheusSettings = Field(default_factory=PrometheusSettings)
    probes: ProbeSettings = Field(default_factory=ProbeSettings)
    sql_source: SqlSourceSettings = Field(default_factory=SqlSourceSettings)
    forecast: ForecastSettings = Field(default_factory=ForecastSettings)
    critical_path: CriticalPathSettings = Field(default_factory=CriticalPathSettings)
    webhook: WebhookSettings = Field(default_factory=WebhookSettings)
    ops: OpsSettings = Field(default_factory=OpsSettings)
    remediation: RemediationSettings = Field(default_factory=RemediationSettings)
    rum: RumSettings = Field(default_factory=RumSettings)
    advisor: AdvisorSettings = Field(default_factory=AdvisorSettings)
    evidence: EvidenceSettings = Field(default_factory=EvidenceSettings)
    watch_deployment: str = Field(
        default="watch-wedding-day/watch-wedding-day-live",
        description="deployment that calendar-planned critical-path watch runs are created on",
    )
    collect_deployment: str = Field(
        default="collect-metrics/collect-metrics-live",
        description="deployment that calendar-planned dense collection runs are created on",
    )

    webhook_token: SecretStr | None = Field(
        default=None,
        description="alert webhook bearer token (WEDPERF_WEBHOOK_TOKEN); "
        "WEDPERF_WEBHOOK__TOKEN wins",
        exclude=True,
    )

    @model_validator(mode="after")
    def _webhook_token(self) -> Settings:
        # The documented name is WEDPERF_WEBHOOK_TOKEN; the nested setting lives in
        # the webhook section like every other receiver setting.
        if self.webhook_token is not None and self.webhook.token is None:
            self.webhook.token = self.webhook_token
        return self

    @field_validator("source_schema")
    @classmethod
    def _plain_identifier(cls, value: str) -> str:
        if not value.replace("_", "").isalnum():
            raise ValueError(f"source_schema must be a plain identifier, got {value!r}")
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = os.environ.get("WEDPERF_CONFIG_FILE")
        if config_file:
            path = Path(config_file)
            if not path.is_file():
                raise FileNotFoundError(f"WEDPERF_CONFIG_FILE={config_file} does not exist")
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        return tuple(sources)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read once."""
    return Settings()


def reset_settings_cache() -> None:
    """Forget cached settings (tests change the environment between cases)."""
    get_settings.cache_clear()
