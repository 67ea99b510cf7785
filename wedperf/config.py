"""Settings: the only module that reads the environment.

Values come, highest priority first, from keyword arguments, ``WEDPERF_*`` environment
variables (nested fields with ``__``, e.g. ``WEDPERF_PROMETHEUS__URL``), the TOML file named
by ``WEDPERF_CONFIG_FILE``, and the defaults of each section model (defined beside the code
it configures, e.g. `wedperf.capacity.settings`). The defaults describe the sandbox
platform, so ``wedperf demo`` runs with nothing configured.
"""

from __future__ import annotations

import os
from datetime import timedelta
from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from wedperf.advisor.settings import AdvisorSettings
from wedperf.alerts.settings import WebhookSettings
from wedperf.calendar.settings import ActiveGuestSettings
from wedperf.capacity.settings import CapacityTarget, OpsSettings
from wedperf.critical_path.settings import CriticalPathSettings, SloOverride
from wedperf.evidence.settings import EvidenceSettings
from wedperf.forecast.settings import ForecastSettings
from wedperf.metrics.settings import (
    ProbeSettings,
    ProbeTarget,
    PrometheusSettings,
    SqlSourceSettings,
)
from wedperf.mobile.settings import RumSettings
from wedperf.prewarm.settings import PrewarmSettings
from wedperf.remediation.settings import RemediationSettings
from wedperf.slo.settings import SloSettings

# Section models live with the code they configure; they are re-exported here so
# `from wedperf.config import CapacityTarget` keeps working.
__all__ = [
    "AdvisorSettings",
    "CapacityTarget",
    "CriticalPathSettings",
    "EvidenceSettings",
    "ForecastSettings",
    "OpsSettings",
    "PrewarmSettings",
    "PrometheusSettings",
    "ProbeSettings",
    "ProbeTarget",
    "RemediationSettings",
    "RumSettings",
    "Settings",
    "SloOverride",
    "SloSettings",
    "SqlSourceSettings",
    "WebhookSettings",
    "get_settings",
    "reset_settings_cache",
]


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
    active_guests: ActiveGuestSettings = Field(default_factory=ActiveGuestSettings)
    prometheus: PrometheusSettings = Field(default_factory=PrometheusSettings)
    probes: ProbeSettings = Field(default_factory=ProbeSettings)
    sql_source: SqlSourceSettings = Field(default_factory=SqlSourceSettings)
    forecast: ForecastSettings = Field(default_factory=ForecastSettings)
    critical_path: CriticalPathSettings = Field(default_factory=CriticalPathSettings)
    slo: SloSettings = Field(default_factory=SloSettings)
    webhook: WebhookSettings = Field(default_factory=WebhookSettings)
    ops: OpsSettings = Field(default_factory=OpsSettings)
    prewarm: PrewarmSettings = Field(default_factory=PrewarmSettings)
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
    collect_shard_size: int = Field(
        default=500,
        ge=1,
        description="weddings per collection shard: a round probes the per-wedding targets of "
        "its live weddings in flow runs of collect_shard_deployment, one per this many "
        "weddings. 500 weddings are 1,000 requests with the two default per-wedding targets, "
        "seconds at probes.concurrency 8, well inside the one-minute dense interval",
    )
    collect_shard_deployment: str = Field(
        default="collect-metrics-shard/collect-metrics-shard",
        description="deployment a collection round's shards run on; unregistered, or no "
        "worker polling its work queue, the shards run in the round's own process",
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
