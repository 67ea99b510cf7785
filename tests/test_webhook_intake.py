"""Attacks on the webhook service's intake, on loopback against a real uvicorn (and
in-process for the signature checks): slow unauthenticated connections, one client holding
every slot, trickled bodies, abandoned requests, forged and replayed signatures. Each test
is the attack, bounded in connections and seconds.

Attackers connect from 127.0.0.2, the legitimate sender from 127.0.0.1 (both loopback), so
the per-client limit tells them apart as it would two hosts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest

from wedperf.alerts.app import create_app
from wedperf.alerts.auth import Credentials
from wedperf.alerts.samples import alertmanager_alert, alertmanager_notification, in_process_client
from wedperf.alerts.settings import WebhookSettings
from wedperf.mobile.settings import RumSettings
from wedperf.serving import serve_in_thread

ALERT_TOKEN = "alert-token-for-intake-tests-0123456789"
RUM_TOKEN = "rum-token-for-intake-tests-0123456789ab"
HMAC_KEY = "hmac-key-for-intake-tests-0123456789abcd"
AUTH = {"authorization": f"Bearer {ALERT_TOKEN}"}
RUM_AUTH = {"authorization": f"Bearer {RUM_TOKEN}"}
ATTACKER, OTHER_ATTACKER, SENDER = "127.0.0.2", "127.0.0.3", "127.0.0.1"
# The acceptance figure is 300 connections for 30 s; the suite holds them for a few seconds
# (set WEDPERF_TEST_SLOWLORIS_SECONDS=30 to measure the full figure).
HOLD_SECONDS = float(os.environ.get("WEDPERF_TEST_SLOWLORIS_SECONDS", "4"))
NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture(scope="module")
def intake_db(make_database: Callable[[], str]) -> str:
    url = make_database()
    with psycopg.connect(url) as conn:  # the wedding the beacons name, live now
        conn.execute(
            "INSERT INTO perf.weddings (wedding_id, source, starts_at, ends_at, timezone, "
            "guest_count, status) VALUES ('4211', 'test', %s, %s, 'UTC', 120, 'confirmed')",
            (NOW - timedelta(hours=2), NOW + timedelta(hours=6)),
        )
    return url


@pytest.fixture
def db(intake_db: str) -> Iterator[str]:
    with psycopg.connect(intake_db, autocommit=True) as conn:
        conn.execute("TRUNCATE perf.alerts")
        conn.execute("DELETE FROM perf.samples WHERE source = 'rum'")
    yield intake_db


def settings(**overrides: Any) -> WebhookSettings:
    return WebhookSettings(token=ALERT_TOKEN, dispatch_inline=False, **overrides)


@contextlib.contextmanager
def served(
    url: str, config: WebhookSettings, rum: RumSettings | None = None
) -> Iterator[tuple[str, int]]:
    app = create_app(
        url, config, Credentials.from_settings(config), rum=rum or RumSettings(token=RUM_TOKEN)
    )
    with serve_in_thread(app) as base_url:
        yield base_url, int(base_url.rsplit(":", 1)[1])


@dataclass
class Slow:
    """What one slow connection got: the status the server answered (None: none yet) and
    whether the server closed the connection."""

    status: int | None = None
    closed: bool = False


async def hold_slow(
    port: int,
    path: str,
    headers: dict[str, str],
    stop: asyncio.Event,
    *,
    local: str = ATTACKER,
    length: int = 500_000,
    every: float = 0.5,
) -> Slow:
    """Declare a `length`-byte body and trickle it a byte every `every` s until `stop`."""
    out = Slow()
    reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(local, 0))
    head = [
        f"POST {path} HTTP/1.1",
        "Host: receiver",
        "Content-Type: application/json",
        f"Content-Length: {length}",
        *(f"{name}: {value}" for name, value in headers.items()),
    ]
    writer.write(("\r\n".join(head) + "\r\n\r\n").encode())

    async def listen() -> None:
        try:
            line = await reader.readline()
            if line:
                out.status = int(line.split()[1])
            while await reader.read(65_536):
                pass
        except ConnectionResetError:
            # Closed with our trickled bytes unread, the kernel answers with a reset rather
            # than an orderly close: closed all the same.
            pass
        out.closed = True

    listening = asyncio.create_task(listen())
    try:
        while not stop.is_set() and not out.closed:
            try:
                writer.write(b" ")
                await writer.drain()
            except OSError:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every)
    finally:
        listening.cancel()
        with contextlib.suppress(asyncio.CancelledError, OSError):
            await listening
        writer.close()
    return out


@contextlib.asynccontextmanager
async def sender(base_url: str) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.AsyncHTTPTransport(local_address=SENDER)
    async with httpx.AsyncClient(base_url=base_url, transport=transport, timeout=10) as client:
        yield client


async def send_for(
    client: httpx.AsyncClient,
    seconds: float,
    path: str,
    body: Callable[[int], dict],
    headers: dict[str, str],
) -> list[tuple[int, float]]:
    """POST body(0), body(1), ... one after another for `seconds`; (status, latency) each."""
    results, n = [], 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        began = time.perf_counter()
        response = await client.post(path, json=body(n), headers=headers)
        results.append((response.status_code, time.perf_counter() - began))
        n += 1
        await asyncio.sleep(0.05)
    return results


def p99(latencies: list[float]) -> float:
    ordered = sorted(latencies)
    return ordered[max(0, math.ceil(0.99 * len(ordered)) - 1)]


def alert_body(n: int) -> dict:
    return alertmanager_notification([alertmanager_alert(10_000 + n)])


def beacon_body(n: int) -> dict:
    return {
        "beacons": [
            {
                "beacon_id": f"legit-beacon-{n:08d}",
                "screen": "GuestList",
                "operation": "guest_list",
                "duration_ms": 800 + n,
                "network": "4g",
                "app_version": "5.2.0",
                "client": "ios",
                "wedding_id": "4211",
                "ts": (datetime.now(UTC) - timedelta(minutes=1)).isoformat(),
            }
        ]
    }


UNAUTHENTICATED = (
    [{"X-Wedperf-Signature": "sha256=" + "0" * 64}] * 300  # forced a body read before
    + [{"Authorization": "Bearer not-the-token"}] * 20
    + [{}] * 20
)


def count_rows(url: str, sql: str) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute(sql).fetchone()[0]


def test_slow_unauthenticated_connections_do_not_lock_out_alerts(db: str) -> None:
    with served(db, settings()) as (base_url, port):

        async def attack() -> tuple[list[tuple[int, float]], list[Slow], httpx.Response]:
            stop = asyncio.Event()
            holders = [
                asyncio.create_task(hold_slow(port, "/alerts/alertmanager", h, stop))
                for h in UNAUTHENTICATED
            ]
            await asyncio.sleep(1.0)  # all open, headers sent, trickling
            async with sender(base_url) as client:
                sent = await send_for(
                    client, HOLD_SECONDS, "/alerts/alertmanager", alert_body, AUTH
                )
                health = await client.get("/healthz")
            stop.set()
            return sent, list(await asyncio.gather(*holders)), health

        sent, slow, health = asyncio.run(attack())

    latencies = [latency for _, latency in sent]
    print(
        f"\nalerts under {len(slow)} slow unauthenticated connections for {HOLD_SECONDS:g} s: "
        f"{len(sent)} sent, p99 {p99(latencies) * 1000:.0f} ms, max {max(latencies) * 1000:.0f} ms"
    )
    assert Counter(status for status, _ in sent) == {200: len(sent)}
    assert len(sent) >= 10 and p99(latencies) < 1.0
    assert count_rows(db, "SELECT count(*) FROM perf.alerts") == len(sent)
    assert Counter(s.status for s in slow) == {401: len(UNAUTHENTICATED)}  # from the headers
    assert all(s.closed for s in slow)  # and the connection closed: nothing left to trickle
    assert health.status_code == 200
    assert health.json()["alerts"]["counters"]["unauthorized"] == len(UNAUTHENTICATED)


def test_slow_connections_do_not_lock_out_rum(db: str) -> None:
    """300 unauthenticated slow batches, and 64 more carrying the RUM token (it ships in every
    app, so an attacker has it) from one address: beacons from elsewhere still get in."""
    with served(db, settings()) as (base_url, port):

        async def attack() -> tuple[list[tuple[int, float]], list[Slow]]:
            stop = asyncio.Event()
            attackers = UNAUTHENTICATED + [RUM_AUTH] * 64
            holders = [  # under /rum's 256 KiB limit, so a declared length is no reason to refuse
                asyncio.create_task(hold_slow(port, "/rum", h, stop, length=200_000))
                for h in attackers
            ]
            await asyncio.sleep(1.0)
            async with sender(base_url) as client:
                sent = await send_for(client, HOLD_SECONDS, "/rum", beacon_body, RUM_AUTH)
            stop.set()
            return sent, list(await asyncio.gather(*holders))

        sent, slow = asyncio.run(attack())

    latencies = [latency for _, latency in sent]
    print(
        f"\nbeacons under {len(slow)} slow connections for {HOLD_SECONDS:g} s: {len(sent)} "
        f"sent, p99 {p99(latencies) * 1000:.0f} ms, max {max(latencies) * 1000:.0f} ms"
    )
    assert Counter(status for status, _ in sent) == {200: len(sent)}
    assert len(sent) >= 10 and p99(latencies) < 1.0
    stored = count_rows(db, "SELECT count(*) FROM perf.samples WHERE source = 'rum'")
    assert stored == len(sent)
    statuses = Counter(s.status for s in slow)
    assert statuses[401] == len(UNAUTHENTICATED)
    # Admitted, then held (or timed out, if held longer than the body deadline).
    assert statuses[None] + statuses[408] == RumSettings().max_in_flight_per_client
    assert statuses[503] == 64 - RumSettings().max_in_flight_per_client


def test_one_client_cannot_take_every_slot(db: str) -> None:
    config = settings(max_in_flight=8, max_in_flight_per_client=3, body_timeout_seconds=30)
    with served(db, config) as (base_url, port):

        async def attack() -> tuple[list[Slow], list[tuple[int, float]], dict]:
            stop = asyncio.Event()
            holders = [
                asyncio.create_task(hold_slow(port, "/alerts/generic", AUTH, stop))
                for _ in range(6)
            ]
            await asyncio.sleep(1.0)
            async with sender(base_url) as client:
                sent = await send_for(client, 1.0, "/alerts/alertmanager", alert_body, AUTH)
                health = (await client.get("/healthz")).json()
            stop.set()
            return list(await asyncio.gather(*holders)), sent, health

        slow, sent, health = asyncio.run(attack())

    assert Counter(s.status for s in slow) == {None: 3, 503: 3}
    assert {status for status, _ in sent} == {200}
    assert health["alerts"]["in_flight"] == 3
    assert health["alerts"]["counters"]["client_limited"] == 3


def test_a_trickled_body_gets_408_and_frees_its_slot(db: str) -> None:
    config = settings(body_timeout_seconds=1)
    with served(db, config) as (base_url, port):

        async def attack() -> tuple[Slow, float, dict]:
            stop = asyncio.Event()
            began = time.monotonic()
            holder = asyncio.create_task(hold_slow(port, "/alerts/alertmanager", AUTH, stop))
            done, _ = await asyncio.wait([holder], timeout=5)
            took = time.monotonic() - began
            stop.set()
            slow = await holder
            async with sender(base_url) as client:
                health = (await client.get("/healthz")).json()
            return slow, took, health

        slow, took, health = asyncio.run(attack())

    assert slow.status == 408 and slow.closed
    assert took < 3
    assert health["alerts"]["in_flight"] == 0
    assert health["alerts"]["counters"]["body_timeouts"] == 1


def test_healthz_reports_saturation(db: str) -> None:
    config = settings(max_in_flight=2, max_in_flight_per_client=2, body_timeout_seconds=30)
    with served(db, config) as (base_url, port):

        async def attack() -> tuple[httpx.Response, httpx.Response, httpx.Response]:
            stop = asyncio.Event()
            holders = [
                asyncio.create_task(hold_slow(port, "/alerts/generic", AUTH, stop))
                for _ in range(2)
            ]
            await asyncio.sleep(1.0)
            async with sender(base_url) as client:
                saturated = await client.get("/healthz")
                refused = await client.post(
                    "/alerts/alertmanager", json=alert_body(1), headers=AUTH
                )
                stop.set()
                await asyncio.gather(*holders)
                for _ in range(50):  # the server sees the connections close
                    recovered = await client.get("/healthz")
                    if recovered.status_code == 200:
                        break
                    await asyncio.sleep(0.1)
            return saturated, refused, recovered

        saturated, refused, recovered = asyncio.run(attack())

    assert saturated.status_code == 503
    assert saturated.json()["status"] == "saturated"
    assert saturated.json()["alerts"] | {"counters": None} == {
        "in_flight": 2,
        "max_in_flight": 2,
        "saturated": True,
        "counters": None,
    }
    assert refused.status_code == 503 and refused.headers["retry-after"] == "1"
    assert recovered.status_code == 200 and recovered.json()["status"] == "ok"


@pytest.mark.parametrize(
    ("path", "headers", "section"),
    [("/alerts/alertmanager", AUTH, "alerts"), ("/rum", RUM_AUTH, "rum")],
    ids=["alerts", "rum"],
)
def test_a_client_disconnect_is_counted_not_a_traceback(
    db: str, path: str, headers: dict[str, str], section: str
) -> None:
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Keep(level=logging.ERROR)
    loggers = [logging.getLogger(name) for name in ("", "uvicorn", "uvicorn.error")]
    for logger in loggers:
        logger.addHandler(handler)
    try:
        with served(db, settings()) as (base_url, port):

            async def leave() -> dict:
                reader, writer = await asyncio.open_connection(
                    "127.0.0.1", port, local_addr=(ATTACKER, 0)
                )
                head = (
                    f"POST {path} HTTP/1.1\r\nHost: receiver\r\nContent-Type: application/json"
                    f"\r\nContent-Length: 1000\r\nAuthorization: {headers['authorization']}\r\n\r\n"
                )
                writer.write(head.encode() + b'{"alerts": [')
                await writer.drain()
                await asyncio.sleep(0.3)
                writer.close()
                async with sender(base_url) as client:
                    for _ in range(50):
                        health = (await client.get("/healthz")).json()
                        if health[section]["counters"]["client_disconnects"]:
                            break
                        await asyncio.sleep(0.1)
                return health

            health = asyncio.run(leave())
    finally:
        for logger in loggers:
            logger.removeHandler(handler)

    assert health[section]["counters"]["client_disconnects"] == 1
    assert health[section]["in_flight"] == 0
    assert [r.getMessage() for r in records] == []


# --- signed requests (in-process) ------------------------------------------------------------


def post_in_process(
    url: str, config: WebhookSettings, requests: list[tuple[str, bytes, dict[str, str]]]
) -> list[httpx.Response]:
    app = create_app(url, config, Credentials.from_settings(config), rum=RumSettings())

    async def run() -> list[httpx.Response]:
        async with in_process_client(app, {}) as client:
            return [
                await client.post(
                    path, content=body, headers={"content-type": "application/json", **headers}
                )
                for path, body, headers in requests
            ]

    return asyncio.run(run())


def test_a_signature_header_is_refused_unread_when_signing_is_off(db: str) -> None:
    """Without an HMAC key of its own configured, a signature forces no body read."""
    read = []

    async def body() -> AsyncIterator[bytes]:
        read.append(True)
        yield b"{}"

    app = create_app(db, settings(), Credentials.from_settings(settings()), rum=RumSettings())

    async def run() -> httpx.Response:
        async with in_process_client(app, {}) as client:
            return await client.post(
                "/alerts/generic",
                content=body(),
                headers={
                    "content-type": "application/json",
                    "x-wedperf-signature": "sha256=" + "0" * 64,
                },
            )

    response = asyncio.run(run())
    assert response.status_code == 401
    assert "not enabled" in response.json()["error"]
    assert read == []


def test_signed_requests_are_used_once_on_their_own_path_within_the_window(db: str) -> None:
    """The issue's replay: a signed firing replayed after its resolution (same path, or the
    Grafana route) must not reopen the alert; nor may an old or altered signed request."""
    import json

    from wedperf.alerts.auth import signed_headers

    config = settings(hmac_secret=HMAC_KEY)
    firing = json.dumps(alert_body(1)).encode()
    resolved = json.dumps(
        alertmanager_notification(
            [alertmanager_alert(10_001, status="resolved", ends_at="2026-10-17T14:30:00Z")]
        )
    ).encode()
    path = "/alerts/alertmanager"
    fired = signed_headers(HMAC_KEY, "POST", path, firing)
    old = signed_headers(HMAC_KEY, "POST", path, firing, timestamp=int(time.time()) - 600)
    altered = signed_headers(HMAC_KEY, "POST", path, b'{"version": "4"}')
    with_token_as_key = signed_headers(ALERT_TOKEN, "POST", path, firing)
    import hashlib
    import hmac

    body_only = "sha256=" + hmac.new(HMAC_KEY.encode(), firing, hashlib.sha256).hexdigest()
    cases = [
        (path, firing, fired, 200),
        (path, resolved, signed_headers(HMAC_KEY, "POST", path, resolved), 200),
        (path, firing, fired, 401),  # replayed: nonce used
        ("/alerts/grafana", firing, fired, 401),  # another path: signature does not match
        (path, firing, old, 401),  # older than the window
        (path, firing, altered, 401),  # body is not the one signed
        (path, firing, with_token_as_key, 401),  # the token is not the signing key
        (path, firing, {"x-wedperf-signature": body_only}, 401),  # body-only signature
    ]

    responses = post_in_process(db, config, [(p, b, h) for p, b, h, _ in cases])

    assert [r.status_code for r in responses] == [status for *_, status in cases]
    assert "nonce was used" in responses[2].json()["error"]
    assert "invalid signature" in responses[3].json()["error"]
    assert "replay window" in responses[4].json()["error"]
    assert "does not match" in responses[5].json()["error"]
    with psycopg.connect(db) as conn:
        rows = conn.execute("SELECT status, dispatch_state FROM perf.alerts").fetchall()
        nonces = conn.execute("SELECT count(*) FROM perf.webhook_nonces").fetchone()[0]
    assert rows == [("resolved", "skipped")]  # the replay did not reopen it
    assert nonces >= 2
