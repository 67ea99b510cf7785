"""POST /rum on the webhook service, in-process (httpx.ASGITransport) against real
PostgreSQL: beacons stored as samples once and rolled up (late ones too), beacons naming an
unknown wedding dropped, malformed batches (an unconfigured screen) 422, oversize 413, 401,
overload 503."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest

from wedperf.alerts.app import create_app
from wedperf.alerts.auth import Credentials, WebhookConfigError, signed_headers
from wedperf.alerts.samples import in_process_client
from wedperf.alerts.settings import WebhookSettings
from wedperf.mobile import routes
from wedperf.mobile.settings import RumSettings
from wedperf.mobile.storage import StoredBatch, minute_spans

TOKEN = "rum-test-token-0123456789-abcdefghijk"  # /rum's own
ALERT_TOKEN = "alert-test-token-0123456789-abcdefgh"  # the alert routes'
AUTH = {"authorization": f"Bearer {TOKEN}"}
NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture(scope="module")
def rum_db(make_database: Callable[[], str]) -> str:
    url = make_database()
    with psycopg.connect(url) as conn:  # the wedding the beacons name, live now
        conn.execute(
            "INSERT INTO perf.weddings (wedding_id, source, starts_at, ends_at, timezone, "
            "guest_count, status) VALUES ('4211', 'test', %s, %s, 'UTC', 120, 'confirmed')",
            (NOW - timedelta(hours=2), NOW + timedelta(hours=4)),
        )
    return url


@pytest.fixture
def db(rum_db: str) -> Iterator[str]:
    with psycopg.connect(rum_db, autocommit=True) as conn:
        conn.execute("DELETE FROM perf.samples WHERE source = 'rum'")
        conn.execute("DELETE FROM perf.rollups_minute")
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
    config = WebhookSettings(token=ALERT_TOKEN, dispatch_inline=False)
    app = create_app(url, config, Credentials.from_settings(config), rum=rum or rum_settings())

    async def run() -> list[httpx.Response]:
        async with in_process_client(app, headers) as client:
            out = []
            for body in bodies:
                if isinstance(body, bytes):
                    out.append(
                        await client.post(
                            "/rum", content=body, headers={"content-type": "application/json"}
                        )
                    )
                else:
                    out.append(await client.post("/rum", json=body))
            return out

    return asyncio.run(run())


def rum_settings(**overrides: Any) -> RumSettings:
    return RumSettings(token=TOKEN, **overrides)


def rum_rows(url: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT operation, client, wedding_id, attributed_by, value, series "
            "FROM perf.samples WHERE source = 'rum' ORDER BY value"
        ).fetchall()


def test_valid_batch_is_stored_once(db: str) -> None:
    first, again = post(db, [batch(), batch()])

    assert first.status_code == 200, first.text
    assert first.json() == {"received": 3, "stored": 3, "duplicates": 0, "unknown_wedding": 0}
    assert again.status_code == 200
    assert again.json() == {"received": 3, "stored": 0, "duplicates": 3, "unknown_wedding": 0}
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
        ({"beacons": [beacon(screen="+15551234567")]}, "beacons.0.screen"),
        ({"beacons": [beacon(), beacon(screen="Jane.Smith")]}, "beacons.1.screen"),
        ({"beacons": [beacon(screen="guestlist")]}, "beacons.0.screen: not a configured"),
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
    rum = rum_settings(max_beacons_per_batch=2)
    [response] = post(db, [batch()], rum=rum)
    assert response.status_code == 422
    assert "3 beacons in one batch; at most 2" in response.json()["problems"][0]


def test_oversize_body_is_413(db: str) -> None:
    rum = rum_settings(max_body_bytes=2048)
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


def test_a_signature_is_not_a_rum_credential(db: str) -> None:
    """/rum takes its own bearer token only: signed requests and basic auth are refused."""
    body = json.dumps(batch()).encode()
    import base64

    basic = base64.b64encode(f"app:{TOKEN}".encode()).decode()
    signed = {**signed_headers(TOKEN, "POST", "/rum", body), "content-type": "application/json"}
    responses = post(db, [body, body], headers=signed) + post(
        db, [body], headers={"authorization": f"Basic {basic}", "content-type": "application/json"}
    )
    assert [r.status_code for r in responses] == [401, 401, 401]
    assert rum_rows(db) == []


def test_openapi_documents_the_rum_route(db: str) -> None:
    config = WebhookSettings(token=ALERT_TOKEN, dispatch_inline=False)
    app = create_app(
        db, config, Credentials.from_settings(config), rum=rum_settings(screens=["Seating"])
    )
    operation = app.openapi()["paths"]["/rum"]["post"]
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    beacon_schema = schema["properties"]["beacons"]["items"]
    assert {"screen", "operation", "duration_ms", "client", "ts"} <= set(beacon_schema["required"])
    assert beacon_schema["properties"]["screen"]["enum"] == ["Seating"]
    assert "guest_list" in beacon_schema["properties"]["operation"]["enum"]
    assert schema["properties"]["beacons"]["maxItems"] == 500
    assert "2 day(s) ago" in operation["description"]  # the ts range the receiver accepts
    assert {"401", "408", "413", "415", "422"} <= set(operation["responses"])
    assert operation["security"] == [{"rum": []}]


def rollups(url: str) -> dict[tuple[datetime, str | None, str], int]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT minute, wedding_id, client, events FROM perf.rollups_minute "
            "WHERE operation = 'guest_list'"
        ).fetchall()
    return {(minute, wedding, client): n for minute, wedding, client, n in rows}


def test_a_late_beacon_is_rolled_up_by_the_rum_route(db: str) -> None:
    # An hour old: long out of the collection window that rolls up the recent minutes.
    minute = (NOW - timedelta(hours=1)).replace(second=0)
    late, platform_wide = minute + timedelta(seconds=10), minute + timedelta(seconds=20)
    body = {
        "beacons": [
            beacon(ts=late.isoformat()),
            beacon(beacon_id="android-late-0002", client="android", ts=late.isoformat()),
            beacon(beacon_id="platform-wide-0003", wedding_id=None, ts=platform_wide.isoformat()),
        ]
    }
    [response] = post(db, [body])
    assert response.status_code == 200, response.text

    got = rollups(db)
    # wedding 4211: its two beacons plus the platform-wide (ios) one: 4211 is live then.
    assert got[(minute, "4211", "ios")] == 2
    assert got[(minute, "4211", "android")] == 1
    assert got[(minute, "4211", "mobile")] == 3
    assert got[(minute, None, "mobile")] == 3  # the platform row
    # `all` is the server-side collectors only: beacons never make an `all` row.
    assert not [key for key in got if key[2] == "all"]
    assert {key[0] for key in got} == {minute}  # only the minute the beacons fall in


def test_minute_spans_cover_each_beacon_minute_without_the_hours_between() -> None:
    t = datetime(2026, 10, 17, 14, 2, 11, tzinfo=UTC)
    spans = minute_spans([t, t + timedelta(minutes=3), t - timedelta(hours=5)])
    minute = t.replace(second=0)
    assert spans == [
        (minute - timedelta(hours=5), minute - timedelta(hours=5) + timedelta(minutes=1)),
        (minute, minute + timedelta(minutes=4)),
    ]


def test_beacons_naming_an_unknown_wedding_are_dropped_and_counted(db: str) -> None:
    body = {
        "beacons": [
            beacon(wedding_id="JaneSmith"),
            beacon(beacon_id="valid-beacon-0002"),
            beacon(beacon_id="phone-number-0003", wedding_id=5551234567),
        ]
    }
    [response] = post(db, [body])

    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer == {
        "received": 3,
        "stored": 1,
        "duplicates": 0,
        "unknown_wedding": 2,
        "problems": [
            "beacons.0.wedding_id: no such wedding; beacon dropped",
            "beacons.2.wedding_id: no such wedding; beacon dropped",
        ],
    }
    assert "JaneSmith" not in response.text and "5551234567" not in response.text
    assert [(r[2], r[5].rsplit("#", 1)[1]) for r in rum_rows(db)] == [("4211", "valid-beacon-0002")]
    with psycopg.connect(db) as conn:
        stored = conn.execute("SELECT count(*) FROM perf.samples WHERE source = 'rum'").fetchone()
        assert stored[0] == 1  # nothing of the dropped beacons, in any column
        leaked = conn.execute(
            "SELECT count(*) FROM perf.samples WHERE wedding_id IN ('JaneSmith', '5551234567') "
            "OR series LIKE '%%phone-number%%'"
        ).fetchone()
        assert leaked[0] == 0


def test_screens_are_configurable(db: str) -> None:
    rum = rum_settings(screens=["Seating"])
    [refused, accepted] = post(
        db, [{"beacons": [beacon()]}, {"beacons": [beacon(screen="Seating")]}], rum=rum
    )
    assert refused.status_code == 422
    assert refused.json()["problems"] == ["beacons.0.screen: not a configured screen (Seating)"]
    assert accepted.status_code == 200 and accepted.json()["stored"] == 1


def test_over_max_in_flight_is_503_with_retry_after(
    db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    entered, release = threading.Event(), threading.Event()

    def slow_store(pool: Any, beacons: Any, **_: Any) -> StoredBatch:
        entered.set()
        release.wait(10)
        return StoredBatch(stored=len(beacons), unknown_wedding=[])

    monkeypatch.setattr(routes, "store_beacons", slow_store)
    config = WebhookSettings(token=ALERT_TOKEN, dispatch_inline=False)
    app = create_app(
        db, config, Credentials.from_settings(config), rum=rum_settings(max_in_flight=1)
    )

    async def run() -> tuple[httpx.Response, httpx.Response, httpx.Response]:
        async with in_process_client(app, AUTH) as client:
            first = asyncio.create_task(client.post("/rum", json=batch()))
            assert await asyncio.to_thread(entered.wait, 10)
            try:
                second = await client.post("/rum", json=batch())
            finally:
                release.set()
            done = await first
            after = await client.post("/rum", json=batch())  # admitted again once it is done
            return done, second, after

    first, second, after = asyncio.run(run())
    assert first.status_code == 200
    assert second.status_code == 503
    assert second.headers["retry-after"] == "1"
    assert "overloaded" in second.json()["error"]
    assert after.status_code == 200


def test_rum_takes_only_its_own_token_and_alerts_refuse_it(db: str) -> None:
    """/rum takes its own token and not the alert webhook's; the RUM token (the one shipped
    to phones) is refused on the alert routes."""
    (accepted,) = post(db, [batch()])
    (alert_token_on_rum,) = post(db, [batch()], headers={"authorization": f"Bearer {ALERT_TOKEN}"})
    assert accepted.status_code == 200, accepted.text
    assert alert_token_on_rum.status_code == 401

    config = WebhookSettings(token=ALERT_TOKEN, dispatch_inline=False)
    app = create_app(db, config, Credentials.from_settings(config), rum=rum_settings())

    async def alert_with_phone_token() -> httpx.Response:
        async with in_process_client(app, AUTH) as client:
            return await client.post("/alerts/generic", json={"alerts": []})

    assert asyncio.run(alert_with_phone_token()).status_code == 401


def test_rum_is_off_without_a_token_of_its_own(db: str) -> None:
    config = WebhookSettings(token=ALERT_TOKEN, dispatch_inline=False)
    app = create_app(db, config, Credentials.from_settings(config), rum=RumSettings())

    async def run() -> httpx.Response:
        headers = {"authorization": f"Bearer {ALERT_TOKEN}"}
        async with in_process_client(app, headers) as client:
            return await client.post("/rum", json=batch())

    response = asyncio.run(run())
    assert response.status_code in (404, 405)
    assert rum_rows(db) == []


@pytest.mark.parametrize(
    ("token", "expected"),
    [("short-rum-token", "at least 32"), (ALERT_TOKEN, "must differ")],
    ids=["short", "the-alert-token"],
)
def test_a_weak_rum_token_is_refused_at_start(db: str, token: str, expected: str) -> None:
    config = WebhookSettings(token=ALERT_TOKEN, dispatch_inline=False)
    with pytest.raises(WebhookConfigError, match=expected) as caught:
        create_app(db, config, Credentials.from_settings(config), rum=RumSettings(token=token))
    assert token not in str(caught.value)
