"""POST /rum on the webhook service, in-process (httpx.ASGITransport) against real
PostgreSQL: beacons stored as samples once, malformed batches 422, oversize 413, 401."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest

from wedperf.alerts.app import create_app
from wedperf.alerts.auth import Credentials, sign
from wedperf.alerts.samples import in_process_client
from wedperf.alerts.settings import WebhookSettings
from wedperf.mobile.settings import RumSettings

TOKEN = "rum-test-token-0123456789"
AUTH = {"authorization": f"Bearer {TOKEN}"}
NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture(scope="module")
def rum_db(make_database: Callable[[], str]) -> str:
    return make_database()


@pytest.fixture
def db(rum_db: str) -> Iterator[str]:
    with psycopg.connect(rum_db, autocommit=True) as conn:
        conn.execute("DELETE FROM perf.samples WHERE source = 'rum'")
    yield rum_db


def beacon(**overrides: Any) -> dict[str, Any]:
    base = {
        "beacon_id": "0f8e2a7c5b3d4e1f9a6b",
        "screen": "GuestList",
        "operation": "guest_list",
        "duration_ms": 840.5,
        "network": "4g",
        "app_version": "5.2.0",
        "client": "ios",
        "wedding_id": "4211",
        "ts": (NOW - timedelta(minutes=3)).isoformat(),
    }
    return base | overrides


def batch() -> dict[str, Any]:
    return {
        "beacons": [
            beacon(),
            beacon(
                beacon_id="a1b2c3d4e5f60718",
                client="android",
                network="3g",
                duration_ms=1900,
                app_version="5.2.1",
                ts=(NOW - timedelta(minutes=2)).isoformat(),
            ),
            beacon(
                beacon_id=None,
                screen="Timeline",
                operation="timeline_sync",
                client="web",
                network="wifi",
                duration_ms=120,
                wedding_id=4211,  # a number is read as the id's text
            ),
        ]
    }


def post(
    url: str,
    bodies: list[Any],
    *,
    headers: dict[str, str] = AUTH,
    rum: RumSettings | None = None,
) -> list[httpx.Response]:
    """POST each body (JSON value or raw bytes) to /rum through a fresh in-process service."""
    config = WebhookSettings(token=TOKEN, dispatch_inline=False)
    app = create_app(url, config, Credentials.from_settings(config), rum=rum or RumSettings())

    async def run() -> list[httpx.Response]:
        async with in_process_client(app, headers) as client:
            out = []
            for body in bodies:
                if isinstance(body, bytes):
                    out.append(await client.post("/rum", content=body))
                else:
                    out.append(await client.post("/rum", json=body))
            return out

    return asyncio.run(run())


def rum_rows(url: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT operation, client, wedding_id, attributed_by, value, series "
            "FROM perf.samples WHERE source = 'rum' ORDER BY value"
        ).fetchall()


def test_valid_batch_is_stored_once(db: str) -> None:
    first, again = post(db, [batch(), batch()])

    assert first.status_code == 200, first.text
    assert first.json() == {"received": 3, "stored": 3, "duplicates": 0}
    assert again.status_code == 200
    assert again.json() == {"received": 3, "stored": 0, "duplicates": 3}
    rows = rum_rows(db)
    assert [(r[0], r[1], r[2], r[3]) for r in rows] == [
        ("timeline_sync", "web", "4211", "beacon"),
        ("guest_list", "ios", "4211", "beacon"),
        ("guest_list", "android", "4211", "beacon"),
    ]
    assert [r[4] for r in rows] == pytest.approx([0.12, 0.8405, 1.9])  # seconds
    assert rows[1][5] == "ios/4g/5.2.0/GuestList#0f8e2a7c5b3d4e1f9a6b"
    assert rows[0][5].startswith("web/wifi/5.2.0/Timeline#h")  # no beacon_id: content digest


def test_two_devices_at_the_same_instant_are_two_samples(db: str) -> None:
    same = {"beacons": [beacon(beacon_id="device-one-0001"), beacon(beacon_id="device-two-0002")]}
    [response] = post(db, [same])
    assert response.json()["stored"] == 2


def test_beacon_without_wedding_is_platform_wide(db: str) -> None:
    [response] = post(db, [{"beacons": [beacon(wedding_id=None)]}])
    assert response.status_code == 200
    assert [(r[2], r[3]) for r in rum_rows(db)] == [(None, "window")]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"", "empty body"),
        (b"{not json", "invalid RUM batch"),
        ({"beacons": []}, "beacons: List should have at least 1 item"),
        ({"beacons": [beacon(duration_ms=-5)]}, "beacons.0.duration_ms"),
        ({"beacons": [beacon(client="blackberry")]}, "beacons.0.client"),
        ({"beacons": [beacon(network="carrier-pigeon")]}, "beacons.0.network"),
        ({"beacons": [beacon(ts="2026-10-17T14:02:11")]}, "beacons.0.ts"),  # no offset
        ({"beacons": [beacon(wedding_id="anna.smith@example.com")]}, "beacons.0.wedding_id"),
        ({"beacons": [{k: v for k, v in beacon().items() if k != "operation"}]}, "operation"),
        ({"beacons": [beacon(), beacon(operation="checkout")]}, "beacons.1.operation"),
        ({"beacons": [beacon(duration_ms=9_000_000)]}, "beacons.0.duration_ms"),
        (
            {"beacons": [beacon(ts=(NOW - timedelta(days=30)).isoformat())]},
            "beacons.0.ts: older than 2 day(s)",
        ),
        (
            {"beacons": [beacon(ts=(NOW + timedelta(hours=1)).isoformat())]},
            "beacons.0.ts: more than 5 minute(s) ahead",
        ),
    ],
)
def test_malformed_batch_is_422_naming_the_problem(db: str, body: Any, expected: str) -> None:
    [response] = post(db, [body])
    assert response.status_code == 422, response.text
    answer = response.json()
    assert expected in " | ".join([answer["error"], *answer.get("problems", [])])
    assert rum_rows(db) == []  # nothing of a refused batch is stored


def test_too_many_beacons_is_422(db: str) -> None:
    rum = RumSettings(max_beacons_per_batch=2)
    [response] = post(db, [batch()], rum=rum)
    assert response.status_code == 422
    assert "3 beacons in one batch; at most 2" in response.json()["problems"][0]


def test_oversize_body_is_413(db: str) -> None:
    rum = RumSettings(max_body_bytes=2048)
    big = {"beacons": [beacon(beacon_id=f"beacon-{i:08d}") for i in range(40)]}
    assert len(json.dumps(big)) > 2048
    [response] = post(db, [big], rum=rum)
    assert response.status_code == 413
    assert "larger than 2048 bytes" in response.json()["error"]
    assert rum_rows(db) == []


@pytest.mark.parametrize(
    "headers",
    [{}, {"authorization": "Bearer wrong-token"}, {"authorization": "Token abc"}],
    ids=["none", "wrong-token", "unknown-scheme"],
)
def test_unauthenticated_is_401(db: str, headers: dict[str, str]) -> None:
    [response] = post(db, [batch()], headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert rum_rows(db) == []


def test_signed_body_is_accepted_and_a_bad_signature_is_401(db: str) -> None:
    body = json.dumps(batch()).encode()
    good = {"x-wedperf-signature": sign(TOKEN, body), "content-type": "application/json"}
    [ok] = post(db, [body], headers=good)
    assert ok.status_code == 200 and ok.json()["stored"] == 3
    bad = {"x-wedperf-signature": sign("other", body), "content-type": "application/json"}
    [refused] = post(db, [body], headers=bad)
    assert refused.status_code == 401


def test_openapi_documents_the_rum_route(db: str) -> None:
    config = WebhookSettings(token=TOKEN, dispatch_inline=False)
    app = create_app(db, config, Credentials.from_settings(config), rum=RumSettings())
    operation = app.openapi()["paths"]["/rum"]["post"]
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    beacon_schema = schema["properties"]["beacons"]["items"]
    assert {"screen", "operation", "duration_ms", "client", "ts"} <= set(beacon_schema["required"])
    assert {"401", "413", "422"} <= set(operation["responses"])
