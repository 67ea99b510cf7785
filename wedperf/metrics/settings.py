"""Collection settings (sections of wedperf.config.Settings: WEDPERF_PROMETHEUS__*,
WEDPERF_PROBES__*, WEDPERF_SQL_SOURCE__*)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator

from wedperf.metrics.clients import ClientKind


class PrometheusSettings(BaseModel):
    """Where Prometheus is and which latency histogram holds each operation's requests.

    wedperf reads histograms as event counts: per step, how many requests finished within
    each `le` bound (`increase` of the cumulative `_bucket` counters), so that good and total
    request counts, and quantiles of merged histograms, can be computed for any span. A
    quantile per step (`histogram_quantile`) is not read: it is not an event count, and a
    quantile of such values is no quantile of the requests.
    """

    url: str | None = Field(
        default=None, description="Prometheus base URL; unset disables the Prometheus source"
    )
    wedding_label: str = Field(
        default="wedding_id", description="series label that names the wedding"
    )
    step_seconds: int = 60
    scrape_interval_seconds: float = Field(
        default=60,
        gt=0,
        description="how often Prometheus scrapes the histograms (its scrape_interval; 60 s is "
        "Prometheus's default). Generated rules read rates over at least 4 scrape intervals: "
        "a shorter range holds one or two samples, and rate()/increase() then extrapolate or "
        "return nothing. `wedperf doctor` compares it with the targets' own interval",
    )
    timeout_seconds: float = 10.0
    bearer_token: SecretStr | None = None
    # Selector of each operation's `_bucket` series. The sandbox app exports
    # `wedapp_request_duration_seconds` with `operation` and `wedding_id` labels; a real
    # platform maps its own histograms here, e.g.
    # 'http_request_duration_seconds_bucket{route="/weddings/:id/guests"}'.
    histograms: dict[str, str] = Field(
        default_factory=lambda: {
            op: f'wedapp_request_duration_seconds_bucket{{operation="{op}"}}'
            for op in ("guest_list", "timeline_sync", "photo_upload", "vendor_notify")
        },
        description="operation -> PromQL selector of its latency histogram's _bucket series",
    )

    @model_validator(mode="before")
    @classmethod
    def _no_per_step_queries(cls, data: Any) -> Any:
        if isinstance(data, dict) and "queries" in data:
            raise ValueError(
                "prometheus.queries (a PromQL value per step, e.g. histogram_quantile) is no "
                "longer read: per-step quantiles are not request counts. Name each "
                "operation's histogram instead, e.g. prometheus.histograms.guest_list = "
                "'http_request_duration_seconds_bucket{route=\"/weddings/:id/guests\"}' "
                "(see docs/slo.md)"
            )
        return data

    @field_validator("histograms")
    @classmethod
    def _selectors(cls, value: dict[str, str]) -> dict[str, str]:
        for operation, selector in value.items():
            if not selector.strip():
                raise ValueError(f"prometheus.histograms.{operation} is empty")
            if "(" in selector:
                raise ValueError(
                    f"prometheus.histograms.{operation} must be a series selector such as "
                    f"'name_bucket{{label=\"value\"}}', not an expression: {selector!r}"
                )
        return value


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
