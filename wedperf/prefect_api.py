"""The Prefect API seam: the one module of the core that imports Prefect.

Everything else in `wedperf` is plain Python that takes `conn` and `settings`; what it needs
from a Prefect server goes through here, so an upgrade of Prefect's client (or a test double)
has one place to look at:

- the configured API (`configured_api_url`, `server_version` for `wedperf doctor`);
- deployment runs and events for alert dispatch (`api_client`, `deployment_id`,
  `create_deployment_run`, `emit_events`, `Event`, and the errors dispatch tells apart:
  `ObjectNotFound`, `is_transient`);
- Secret blocks (`secret_value`), read once by the webhook receiver at start-up;
- the approval form a remediation run pauses on (`Approval`).

Flows and tasks (`flows/`, `tasks/`) use Prefect directly: that is their job. The boundary
test (tests/test_boundaries.py) fails when another core module imports Prefect.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import httpx
from prefect.client.orchestration import PrefectClient, get_client
from prefect.events import Event
from prefect.exceptions import ObjectNotFound, PrefectHTTPStatusError
from prefect.input import RunInput
from prefect.settings import PREFECT_API_AUTH_STRING, PREFECT_API_KEY, PREFECT_API_URL
from pydantic import Field

__all__ = [
    "Approval",
    "Event",
    "ObjectNotFound",
    "PrefectClient",
    "api_client",
    "configured_api_url",
    "create_deployment_run",
    "deployment_id",
    "emit_events",
    "is_transient",
    "secret_value",
    "server_version",
]


def configured_api_url() -> str | None:
    """PREFECT_API_URL, or None when flows would run against an ephemeral local server."""
    return PREFECT_API_URL.value() or None


def server_version() -> str:
    """The API version of the server at PREFECT_API_URL; raises RuntimeError if unhealthy."""
    with get_client(sync_client=True) as client:
        error = client.api_healthcheck()
        if error:
            raise RuntimeError(f"Prefect API at {configured_api_url()} is unhealthy: {error}")
        return client.api_version()


def api_client(api_url: str | None = None) -> PrefectClient:
    """An async client (enter it with `async with`) of PREFECT_API_URL, or of `api_url` with
    the configured credentials (tests point it at an address that refuses)."""
    if api_url is None:
        return get_client()
    return PrefectClient(
        api_url, auth_string=PREFECT_API_AUTH_STRING.value(), api_key=PREFECT_API_KEY.value()
    )


async def deployment_id(client: PrefectClient, name: str) -> uuid.UUID:
    """The id of deployment `name` (`<flow>/<deployment>`); raises ObjectNotFound."""
    return (await client.read_deployment_by_name(name)).id


async def create_deployment_run(
    client: PrefectClient,
    deployment: uuid.UUID,
    *,
    parameters: dict[str, Any],
    idempotency_key: str,
    name: str,
    tags: list[str],
) -> uuid.UUID:
    """A run of `deployment`; the server returns the existing run for a repeated
    (flow, idempotency key) instead of creating another. Raises ObjectNotFound when the
    deployment is gone."""
    run = await client.create_flow_run_from_deployment(
        deployment, parameters=parameters, idempotency_key=idempotency_key, name=name, tags=tags
    )
    return run.id


async def emit_events(client: PrefectClient, events: Sequence[Event]) -> None:
    """Send events in one request (POST /events); raises if the API did not take them."""
    response = await client.request(
        "POST", "/events", json=[e.model_dump(mode="json") for e in events]
    )
    response.raise_for_status()


def is_transient(exc: BaseException) -> bool:
    """Prefect unreachable or overloaded (try again soon) rather than refusing the request."""
    if isinstance(exc, httpx.TransportError | TimeoutError | OSError):
        return True
    if isinstance(exc, PrefectHTTPStatusError):
        return exc.response.status_code >= 500 or exc.response.status_code in (408, 429)
    return False


def secret_value(name: str) -> Any:
    """The value of the Secret block `name`; raises ValueError when there is none."""
    from prefect.blocks.system import Secret  # blocks load their registry: only when asked

    return Secret.load(name).get()


class Approval(RunInput):
    """The form a person answers in the Prefect UI to let a disruptive action run."""

    approve: bool = Field(default=False, description="run the action now, during the ceremony")
    note: str = Field(default="", description="why (kept in perf.actions)")
