"""Collection settings (sections of wedperf.config.Settings: WEDPERF_PROMETHEUS__*,
WEDPERF_PROBES__*, WEDPERF_SQL_SOURCE__*)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, SecretStr

from wedperf.metrics.clients import ClientKind


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


class SqlSourceSettings(BaseModel):
    enabled: bool = True
    timeout_seconds: float = 10.0
