"""schemathesis over the receiver's published OpenAPI, on a loopback server with real
PostgreSQL: with alert/RUM credentials and without any, no request gets a 5xx and every
answer conforms to the document (status codes, content types, response schemas)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import checks as sc

from wedperf.alerts.app import create_app
from wedperf.alerts.auth import Credentials
from wedperf.alerts.settings import WebhookSettings
from wedperf.mobile.settings import RumSettings
from wedperf.serving import serve_in_thread

TOKEN = "schemathesis-alert-token-0123456789abcdef"
RUM_TOKEN = "schemathesis-rum-token-0123456789abcdefgh"
MAX_EXAMPLES = 30  # per operation and credential set: bounded, CPU is shared


@pytest.fixture(scope="module")
def served(make_database: Callable[[], str]) -> Iterator[tuple[str, dict]]:
    config = WebhookSettings(
        token=TOKEN, dispatch_inline=False, max_body_bytes=65_536, expose_docs=True
    )
    app = create_app(
        make_database(), config, Credentials.from_settings(config), rum=RumSettings(token=RUM_TOKEN)
    )
    with serve_in_thread(app) as base_url:
        spec = httpx.get(f"{base_url}/openapi.json", timeout=10).json()
        yield base_url, spec


def token_for(path: str) -> str:
    return RUM_TOKEN if path == "/rum" else TOKEN


def fuzz(operation, base_url: str, headers: dict, statuses: dict[str, set[int]]) -> None:
    """Up to MAX_EXAMPLES generated requests (valid and invalid) to one operation."""

    @given(case=operation.as_strategy())
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case) -> None:
        response = case.call_and_validate(
            base_url=base_url,
            headers=headers,
            checks=[
                sc.not_a_server_error,
                sc.status_code_conformance,
                sc.content_type_conformance,
                sc.response_schema_conformance,
                sc.response_headers_conformance,
            ],
        )
        statuses.setdefault(operation.path, set()).add(response.status_code)

    run()


@pytest.mark.parametrize("with_credentials", [True, False], ids=["credentials", "anonymous"])
def test_published_api_holds(served: tuple[str, dict], with_credentials: bool) -> None:
    base_url, spec = served
    schema = schemathesis.openapi.from_dict(spec)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.path for op in operations} >= {"/alerts/alertmanager", "/rum", "/healthz"}
    statuses: dict[str, set[int]] = {}
    for operation in operations:
        headers = (
            {"authorization": f"Bearer {token_for(operation.path)}"} if with_credentials else {}
        )

        fuzz(operation, base_url, headers, statuses)
    if with_credentials:  # valid bodies were stored, not all refused
        assert 200 in statuses["/alerts/alertmanager"] and 200 in statuses["/alerts/generic"]
        # /rum also bounds `ts` to a window around now (max age, clock skew), which a
        # static schema cannot say: generated beacons are refused with the documented 422.
        assert statuses["/rum"] <= {200, 422}
    else:
        assert statuses["/alerts/generic"] == {401} and statuses["/rum"] == {401}


def test_document_declares_what_the_receiver_enforces(served: tuple[str, dict]) -> None:
    _, spec = served
    alert = spec["components"]["schemas"]["AlertmanagerAlert"]["properties"]["startsAt"]
    assert alert["formatMinimum"] == "1970-01-01T00:00:00Z"
    assert alert["formatExclusiveMaximum"] == "10000-01-01T00:00:00Z"
    for path in ("/alerts/alertmanager", "/rum"):
        post = spec["paths"][path]["post"]
        assert list(post["requestBody"]["content"]) == ["application/json"]
        assert {"401", "413", "415", "422", "503"} <= set(post["responses"])
    rum = spec["paths"]["/rum"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    screen = rum["properties"]["beacons"]["items"]["properties"]["screen"]
    assert screen["enum"] == sorted(RumSettings(token=RUM_TOKEN).screens)
