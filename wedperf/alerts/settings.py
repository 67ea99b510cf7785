"""Webhook receiver settings (a section of wedperf.config.Settings: WEDPERF_WEBHOOK__*)."""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, Field, SecretStr, model_validator


class WebhookSettings(BaseModel):
    """How the alert webhook receiver authenticates, limits and dispatches.

    Credentials (at least one is required unless `allow_unauthenticated` is set for a
    development run), each at least 32 bytes: `token` (also read from `WEDPERF_WEBHOOK_TOKEN`),
    or the Prefect Secret block named by `token_secret_block`; `hmac_secret`, a key of its own,
    turns on signed requests (`X-Wedperf-Signature`) for generic senders. Unset, signatures
    are refused without reading the body.
    """

    token: SecretStr | None = Field(
        default=None,
        description="bearer token (or basic-auth password) senders must present; never logged",
    )
    token_secret_block: str | None = Field(
        default=None, description="name of a Prefect Secret block holding the token"
    )
    basic_username: str | None = Field(
        default=None,
        description="basic-auth user name required with the token as password; unset = any",
    )
    hmac_secret: SecretStr | None = Field(
        default=None,
        description="key of signed requests (X-Wedperf-Signature over method, path, "
        "timestamp, nonce and body digest); unset = signed requests refused; never the token",
    )
    hmac_window: timedelta = Field(
        default=timedelta(minutes=5),
        description="a signed request's timestamp may be this far from the receiver's clock; "
        "its nonce is remembered this long after it, so a replay is refused either way",
    )
    allow_unauthenticated: bool = Field(
        default=False,
        description="development only: accept requests without credentials",
    )
    max_body_bytes: int = Field(default=1_048_576, ge=1024, description="larger bodies get 413")
    max_alerts_per_request: int = Field(
        default=1000, ge=1, description="more alerts in one notification get 422"
    )
    max_in_flight: int = Field(
        default=256,
        ge=1,
        description="authenticated requests handled at once; beyond it 503 + Retry-After "
        "(credentials are checked from the headers before a request takes one)",
    )
    max_in_flight_per_client: int = Field(
        default=64,
        ge=1,
        description="of those, at most this many from one client address (behind a proxy "
        "that uvicorn trusts, the X-Forwarded-For address); beyond it 503 + Retry-After",
    )
    body_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        description="an admitted request's whole body must arrive within this; else 408 and "
        "the connection is closed (a trickled body cannot hold a slot)",
    )
    expose_docs: bool = Field(default=False, description="serve /docs and /openapi.json (off: 404)")
    db_pool_size: int = Field(default=8, ge=1, description="receiver's PostgreSQL connections")
    db_timeout_seconds: float = Field(
        default=2.0, gt=0, description="wait for a connection this long, then answer 503"
    )
    remediation_deployment: str = Field(
        default="remediate-alert/remediate-alert",
        description="deployment that remediation runs are created on (flow/deployment)",
    )
    dispatch_inline: bool = Field(
        default=True,
        description="the receiver creates remediation runs right after storing an alert; "
        "otherwise only the dispatch-pending-alerts flow does",
    )
    dispatch_concurrency: int = Field(
        default=1,
        ge=1,
        description="run creations in flight; 1 suits a SQLite-backed Prefect server (writes "
        "serialise, concurrency only adds lock waits), raise it for a PostgreSQL-backed one",
    )
    dispatch_queue_size: int = Field(
        default=10_000, ge=1, description="alerts queued for inline dispatch; overflow waits"
    )
    dispatch_timeout_seconds: float = Field(
        default=10.0, gt=0, description="one run creation or event batch gives up after this"
    )
    inline_grace: timedelta = Field(
        default=timedelta(seconds=30),
        description="the pending dispatcher leaves a new webhook alert to the receiver this long",
    )
    dispatch_lease: timedelta = Field(
        default=timedelta(minutes=2),
        description="a claimed pending alert is not claimed again until this long after "
        "the claim, by the sweep or by a receiver's inline dispatch (a refused one not before "
        "its backoff ends either); longer than inline_grace, so a claimed alert is never "
        "taken for a fresh one",
    )
    dispatch_max_attempts: int = Field(
        default=20,
        ge=1,
        description="after this many rejected attempts an alert is marked failed "
        "(an unreachable Prefect API never fails an alert: it stays pending)",
    )

    @model_validator(mode="after")
    def _lease_outlasts_grace(self) -> WebhookSettings:
        # A receiver tells a fresh alert (no attempt yet, due exactly at its arrival + grace)
        # from a claimed one (due at its claim + lease) by when it is due (queries/alerts.sql,
        # claim_inline). With a lease no longer than the grace a claim could land on arrival
        # + grace and a repeat would claim the alert again.
        if self.dispatch_lease <= self.inline_grace:
            raise ValueError(
                f"dispatch_lease ({self.dispatch_lease}) must be longer than inline_grace "
                f"({self.inline_grace})"
            )
        return self
