"""Property-based fuzzing of the receiver over its published OpenAPI: with the database up,
no request body, valid per the schema or not, gets a 5xx; a 200 means the alerts are stored.

Bodies are drawn by hypothesis from the request schemas the running server publishes at
/openapi.json (`schema_strategy` covers the JSON Schema that pydantic emits for them), then
mutated, plus arbitrary JSON.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wedperf.alerts.app import create_app
from wedperf.alerts.auth import Credentials
from wedperf.alerts.settings import WebhookSettings
from wedperf.serving import serve_in_thread

TOKEN = "fuzz-token-0123456789abcdefghijklmnop"
PATHS = ("/alerts/alertmanager", "/alerts/grafana", "/alerts/generic")


@pytest.fixture(scope="module")
def served(make_database: Callable[[], str]) -> Iterator[tuple[httpx.Client, str, dict]]:
    url = make_database()
    config = WebhookSettings(
        token=TOKEN, dispatch_inline=False, max_body_bytes=65_536, expose_docs=True
    )
    app = create_app(url, config, Credentials.from_settings(config))
    with (
        serve_in_thread(app) as base_url,
        httpx.Client(
            base_url=base_url,
            headers={"authorization": f"Bearer {TOKEN}", "content-type": "application/json"},
            timeout=10,
        ) as client,
    ):
        spec = client.get("/openapi.json").json()
        yield client, url, spec


def body_schema(spec: dict, path: str) -> dict[str, Any]:
    """The published request-body schema of `path`."""
    return spec["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]


def schema_strategy(schema: dict[str, Any], spec: dict) -> st.SearchStrategy[Any]:
    """Values valid for `schema` (the subset of JSON Schema pydantic emits here)."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return st.deferred(lambda: schema_strategy(spec["components"]["schemas"][name], spec))
    if "anyOf" in schema:
        return st.one_of(*(schema_strategy(s, spec) for s in schema["anyOf"]))
    if "const" in schema:
        return st.just(schema["const"])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kind = schema.get("type")
    if kind == "object":
        return _object(schema, spec)
    if kind == "array":
        return st.lists(schema_strategy(schema.get("items", {}), spec), max_size=4)
    if kind == "string":
        if schema.get("format") == "date-time":
            return rfc3339
        return st.text(
            min_size=schema.get("minLength", 0), max_size=min(schema.get("maxLength", 40), 40)
        )
    if kind == "integer":
        return st.integers(min_value=schema.get("minimum"), max_value=10**12)
    if kind == "number":
        return st.floats(allow_nan=False, allow_infinity=False)
    if kind == "boolean":
        return st.booleans()
    if kind == "null":
        return st.none()
    return json_values


def _object(schema: dict[str, Any], spec: dict) -> st.SearchStrategy[dict]:
    properties = schema.get("properties", {})
    required = set(schema.get("required", []))
    extra = schema.get("additionalProperties")
    fixed = st.fixed_dictionaries(
        {k: schema_strategy(v, spec) for k, v in properties.items() if k in required},
        optional={k: schema_strategy(v, spec) for k, v in properties.items() if k not in required},
    )
    if isinstance(extra, dict):
        keys = st.text(max_size=schema.get("propertyNames", {}).get("maxLength", 20))
        more = st.dictionaries(keys, schema_strategy(extra, spec), max_size=4)
        return st.tuples(more, fixed).map(lambda parts: parts[0] | parts[1])
    return fixed


# RFC 3339 instants ("format": "date-time"): UTC offsets in whole minutes, inside the range
# the receiver accepts (UTC years 1970-9999; instants outside it are refused with 422).
rfc3339 = st.builds(
    lambda moment, minutes: moment.replace(tzinfo=timezone(timedelta(minutes=minutes))).isoformat(),
    st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1)),
    st.integers(-12 * 60, 14 * 60),
)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


def mutated(valid: st.SearchStrategy[dict]) -> st.SearchStrategy[Any]:
    """A valid body with one field (top level or in the first alert) replaced by any JSON."""

    def mutate(args: tuple[dict, int, Any]) -> dict:
        body, index, value = args
        target = body
        if body.get("alerts") and index % 2:
            target = body["alerts"][0]
        keys = sorted(target)
        if keys:
            target[keys[index % len(keys)]] = value
        return body

    return st.tuples(valid, st.integers(0, 50), json_values).map(mutate)


@pytest.mark.parametrize("path", PATHS)
def test_no_server_error_for_any_body(served: tuple[httpx.Client, str, dict], path: str) -> None:
    client, url, spec = served
    valid = schema_strategy(body_schema(spec, path), spec)
    bodies = st.one_of(valid, valid, mutated(valid), json_values)
    statuses: list[int] = []

    @settings(
        max_examples=120,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(body=bodies)
    def check(body: Any) -> None:
        response = client.post(path, content=json.dumps(body, allow_nan=False))
        assert response.status_code < 500, (response.status_code, response.text, body)
        assert response.status_code in (200, 413, 422), response.text
        statuses.append(response.status_code)
        if response.status_code == 200:
            ids = response.json()["alert_ids"]
            with psycopg.connect(url) as conn:
                stored = conn.execute(
                    "SELECT count(*) FROM perf.alerts WHERE alert_id = ANY(%s)", (ids,)
                ).fetchone()[0]
            assert stored == len(ids) == response.json()["stored"]

    check()
    assert statuses.count(200) >= 5, "the fuzz should reach the database, not only the parser"
