"""The alert webhook receiver in-process (httpx.ASGITransport) against real PostgreSQL:
documented payloads stored, repeats recognised, resolution, auth, limits and errors."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import psycopg
import pytest

from wedperf.alerts.app import create_app
from wedperf.alerts.auth import Credentials, WebhookConfigError, signed_headers
from wedperf.alerts.samples import (
    DOCUMENTED_ALERTMANAGER,
    DOCUMENTED_GRAFANA,
    alertmanager_alert,
    alertmanager_notification,
    in_process_client,
)
from wedperf.alerts.settings import WebhookSettings
from wedperf.db.migrate import migrate
from wedperf.serving import free_port

TOKEN = "test-token-0123456789-abcdefghijklmnop"
HMAC_KEY = "test-signing-key-0123456789-abcdefghijk"
JSON = {"content-type": "application/json"}
AUTH = {"authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def inbox_url(make_database: Callable[[], str]) -> str:
    return make_database()


@pytest.fixture
def db(inbox_url: str) -> Iterator[str]:
    with psycopg.connect(inbox_url, autocommit=True) as conn:
        conn.execute("TRUNCATE perf.alerts")
    yield inbox_url


def settings(**overrides: Any) -> WebhookSettings:
    return WebhookSettings(token=TOKEN, dispatch_inline=False, **overrides)


def post_all(
    url: str,
    requests: list[tuple[str, Any]],
    *,
    headers: dict[str, str] = AUTH,
    config: WebhookSettings | None = None,
) -> list[httpx.Response]:
    """POST each (path, json-or-bytes) in order through a fresh in-process receiver."""
    config = config or settings()
    app = create_app(url, config, Credentials.from_settings(config))

    async def run() -> list[httpx.Response]:
        async with in_process_client(app, headers) as client:
            out = []
            for path, body in requests:
                if isinstance(body, bytes):
                    out.append(await client.post(path, content=body, headers=JSON))
                else:
                    out.append(await client.post(path, json=body))
            return out

    return asyncio.run(run())


def rows(url: str, where: str = "TRUE", params: tuple = ()) -> list[dict[str, Any]]:
    with psycopg.connect(url, row_factory=psycopg.rows.dict_row) as conn:
        return conn.execute(
            f"SELECT * FROM perf.alerts WHERE {where} ORDER BY alert_id",  # noqa: S608
            params,
        ).fetchall()


def test_documented_alertmanager_notification_is_stored(db: str) -> None:
    [response] = post_all(db, [("/alerts/alertmanager", DOCUMENTED_ALERTMANAGER)])

    assert response.status_code == 200
    assert response.json() | {"alert_ids": None} == {
        "stored": 2,
        "new": 2,
        "repeats": 0,
        "resolved": 0,
        "alert_ids": None,
    }
    stored = rows(db)
    assert [r["fingerprint"] for r in stored] == ["3a5b0c1d2e3f4a5b", "9f8e7d6c5b4a3920"]
    first = stored[0]
    assert first["source"] == "alertmanager"
    assert first["status"] == "firing" and first["ends_at"] is None
    assert first["starts_at"].isoformat() == "2026-10-17T13:58:30.512345+00:00"  # ns truncated
    assert first["alertname"] == "GuestListLatencyHigh"
    assert first["severity"] == "page" and first["wedding_id"] == "4211"
    assert first["labels"]["service"] == "guest-api"
    assert first["annotations"]["summary"] == "guest list p95 above 1 s"
    assert first["receiver"] == "wedperf"
    assert first["group_key"] == DOCUMENTED_ALERTMANAGER["groupKey"]
    assert first["external_url"] == "http://alertmanager.monitoring:9093"
    assert first["generator_url"].startswith("http://prometheus.monitoring:9090/graph")
    assert first["payload"]["fingerprint"] == "3a5b0c1d2e3f4a5b"
    assert first["dispatch_state"] == "pending" and first["flow_run_id"] is None


def test_documented_grafana_notification_is_stored(db: str) -> None:
    [response] = post_all(db, [("/alerts/grafana", DOCUMENTED_GRAFANA)])

    assert response.status_code == 200, response.text
    stored = rows(db)
    assert {r["source"] for r in stored} == {"grafana"}
    assert {r["alertname"] for r in stored} == {"High memory usage", "High CPU usage"}
    memory = next(r for r in stored if r["alertname"] == "High memory usage")
    assert memory["fingerprint"] == "c6eadffa33fcdf37"
    assert memory["starts_at"].isoformat() == "2021-10-12T07:51:03.157076+00:00"
    assert memory["payload"]["values"] == {"B": 44.23943737541908, "C": 1}
    assert memory["payload"]["silenceURL"].startswith("https://play.grafana.org/alerting/silence")
    assert memory["receiver"] == "My Super Webhook"


def test_repeats_resolution_and_new_episodes(db: str) -> None:
    firing = alertmanager_notification([alertmanager_alert(1), alertmanager_alert(2)])
    resolved = alertmanager_notification(
        [alertmanager_alert(1, status="resolved", ends_at="2026-10-17T14:20:00Z")]
    )
    refire = alertmanager_notification([alertmanager_alert(2, starts_at="2026-10-17T15:00:00Z")])

    responses = post_all(
        db,
        [
            ("/alerts/alertmanager", firing),
            ("/alerts/alertmanager", firing),  # Alertmanager's repeat_interval / a retry
            ("/alerts/alertmanager", resolved),
            ("/alerts/alertmanager", firing),  # a late firing copy must not reopen alert 1
            ("/alerts/alertmanager", refire),  # alert 2 again, from a new start
        ],
    )

    assert [r.status_code for r in responses] == [200] * 5
    assert [(r.json()["new"], r.json()["repeats"]) for r in responses] == [
        (2, 0),
        (0, 2),
        (0, 1),
        (0, 2),
        (1, 0),
    ]
    one = rows(db, "fingerprint = %s", (f"{1:016x}",))
    assert len(one) == 1
    assert one[0]["status"] == "resolved"
    assert one[0]["ends_at"].isoformat() == "2026-10-17T14:20:00+00:00"
    assert one[0]["dispatch_state"] == "skipped"  # recovered before any remediation
    assert one[0]["repeats"] == 3
    two = rows(db, "fingerprint = %s", (f"{2:016x}",))
    assert [(r["status"], r["starts_at"].hour) for r in two] == [("resolved", 14), ("firing", 15)]
    assert two[0]["ends_at"] == two[1]["starts_at"]  # the missed resolution, inferred


def test_generic_alerts_derive_fingerprints(db: str) -> None:
    alert = {
        "name": "CheckinQueueBacklog",
        "labels": {"wedding_id": "77", "severity": "critical"},
        "annotations": {"summary": "check-in queue over 200"},
        "starts_at": "2026-10-17T15:00:00+02:00",
    }
    responses = post_all(
        db,
        [
            ("/alerts/generic", {"alerts": [alert]}),
            ("/alerts/generic", {"alerts": [alert]}),
            ("/alerts/generic", {"alerts": [{**alert, "labels": {"wedding_id": "78"}}]}),
        ],
    )

    assert [r.json()["new"] for r in responses] == [1, 0, 1]
    stored = rows(db)
    assert len(stored) == 2
    assert stored[0]["source"] == "generic"
    assert stored[0]["alertname"] == "CheckinQueueBacklog"
    assert stored[0]["labels"] == {
        "alertname": "CheckinQueueBacklog",
        "wedding_id": "77",
        "severity": "critical",
    }
    assert stored[0]["severity"] == "critical" and stored[0]["wedding_id"] == "77"
    assert len(stored[0]["fingerprint"]) == 16
    assert stored[0]["fingerprint"] != stored[1]["fingerprint"]


@pytest.mark.parametrize(
    ("path", "body", "expected"),
    [
        ("/alerts/alertmanager", b"{not json", "Invalid JSON"),
        ("/alerts/alertmanager", b"", "empty body"),
        ("/alerts/alertmanager", {**DOCUMENTED_ALERTMANAGER, "version": "3"}, "version"),
        (
            "/alerts/alertmanager",
            alertmanager_notification([alertmanager_alert(1, starts_at="2026-10-17T14:00:00")]),
            "alerts.0.startsAt",
        ),
        (
            "/alerts/alertmanager",
            alertmanager_notification([{**alertmanager_alert(1), "labels": {"a": "x\x00y"}}]),
            "NUL",
        ),
        ("/alerts/grafana", {"status": "firing", "alerts": []}, "receiver: Field required"),
        ("/alerts/generic", {"alerts": [{"name": "X"}]}, "alerts.0.starts_at: Field required"),
        (
            "/alerts/generic",
            {"alerts": [{"name": "X", "starts_at": "1969-12-31T00:00:00Z"}]},
            "after 1970",
        ),
    ],
    ids=["bad-json", "empty", "version", "naive-time", "nul", "grafana-receiver", "generic", "old"],
)
def test_malformed_input_gets_422_saying_what_is_wrong(
    db: str, path: str, body: Any, expected: str
) -> None:
    [response] = post_all(db, [(path, body)])

    assert response.status_code == 422
    assert expected in json.dumps(response.json())
    assert rows(db) == []


def test_too_many_alerts_in_one_notification(db: str) -> None:
    many = alertmanager_notification([alertmanager_alert(n) for n in range(6)])
    [response] = post_all(
        db, [("/alerts/alertmanager", many)], config=settings(max_alerts_per_request=5)
    )

    assert response.status_code == 422
    assert "at most 5" in response.json()["error"]


def test_oversize_body_gets_413(db: str) -> None:
    config = settings(max_body_bytes=4096)
    big = alertmanager_notification([alertmanager_alert(n) for n in range(40)])
    app = create_app(db, config, Credentials.from_settings(config))

    async def run() -> tuple[httpx.Response, httpx.Response]:
        async with in_process_client(app, AUTH) as client:
            declared = await client.post("/alerts/alertmanager", json=big)

            async def chunks():  # no Content-Length: the limit applies while reading
                payload = json.dumps(big).encode()
                for i in range(0, len(payload), 1000):
                    yield payload[i : i + 1000]

            streamed = await client.post("/alerts/alertmanager", content=chunks(), headers=JSON)
            return declared, streamed

    declared, streamed = asyncio.run(run())
    assert declared.status_code == 413 and streamed.status_code == 413
    assert "4096 bytes" in declared.json()["error"]
    assert rows(db) == []


def test_credentials_are_required_and_checked(db: str) -> None:
    body = json.dumps(alertmanager_notification([alertmanager_alert(1)])).encode()
    basic = base64.b64encode(f"alertmanager:{TOKEN}".encode()).decode()
    wrong_basic = base64.b64encode(b"alertmanager:nope").decode()
    path = "/alerts/alertmanager"
    cases = [
        ({}, 401),
        ({"authorization": "Bearer wrong"}, 401),
        ({"authorization": f"Basic {wrong_basic}"}, 401),
        ({"authorization": "Token abc"}, 401),
        ({"authorization": TOKEN}, 401),  # no scheme: the value must not be echoed
        ({"x-wedperf-signature": "sha256=" + "0" * 64}, 401),
        (signed_headers("another key", "POST", path, body), 401),
        (signed_headers(TOKEN, "POST", path, body), 401),  # the token is not the HMAC key
        ({"authorization": f"Basic {basic}"}, 200),
        (signed_headers(HMAC_KEY, "POST", path, body), 200),
        (AUTH, 200),
    ]
    config = settings(hmac_secret=HMAC_KEY)
    app = create_app(db, config, Credentials.from_settings(config))

    async def run() -> list[httpx.Response]:
        async with in_process_client(app, {}) as client:
            return [
                await client.post(
                    "/alerts/alertmanager",
                    content=body,
                    headers={"content-type": "application/json", **headers},
                )
                for headers, _ in cases
            ]

    responses = asyncio.run(run())
    assert [r.status_code for r in responses] == [status for _, status in cases]
    unauthorised = responses[0]
    assert "Bearer" in unauthorised.headers["www-authenticate"]
    assert "missing credentials" in unauthorised.json()["error"]
    assert all(TOKEN not in r.text and TOKEN[:8] not in r.text for r in responses)
    assert len(rows(db)) == 1


def test_basic_username_and_separate_hmac_secret(db: str) -> None:
    config = settings(basic_username="alertmanager", hmac_secret=HMAC_KEY)
    body = json.dumps(alertmanager_notification([alertmanager_alert(1)])).encode()
    ok_user = base64.b64encode(f"alertmanager:{TOKEN}".encode()).decode()
    bad_user = base64.b64encode(f"grafana:{TOKEN}".encode()).decode()
    responses = (
        post_all(
            db,
            [("/alerts/alertmanager", body)] * 1,
            headers={"authorization": f"Basic {bad_user}"},
            config=config,
        )
        + post_all(
            db,
            [("/alerts/alertmanager", body)],
            headers={"authorization": f"Basic {ok_user}"},
            config=config,
        )
        + post_all(
            db,
            [("/alerts/alertmanager", body)],
            headers=signed_headers(HMAC_KEY, "POST", "/alerts/alertmanager", body),
            config=config,
        )
        + post_all(
            db,
            [("/alerts/alertmanager", body)],
            headers=signed_headers(TOKEN, "POST", "/alerts/alertmanager", body),
            config=config,
        )
    )
    assert [r.status_code for r in responses] == [401, 200, 200, 401]


def test_refuses_to_start_without_a_credential() -> None:
    with pytest.raises(WebhookConfigError, match="no webhook credential configured"):
        Credentials.from_settings(WebhookSettings())
    dev = Credentials.from_settings(WebhookSettings(allow_unauthenticated=True))
    assert dev.allow_unauthenticated and dev.token is None
    from_block = Credentials.from_settings(
        WebhookSettings(token_secret_block="webhook-token"), load_secret=lambda name: TOKEN
    )
    assert from_block.token == TOKEN.encode()
    assert TOKEN not in repr(from_block)


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        (WebhookSettings(token="short-token-0123456789"), "token .* is 22 bytes; at least 32"),
        (WebhookSettings(hmac_secret="short-key"), "HMAC_SECRET is 9 bytes; at least 32"),
        (WebhookSettings(token=TOKEN, hmac_secret=TOKEN), "must not be the webhook token"),
    ],
    ids=["short-token", "short-hmac-key", "hmac-key-is-the-token"],
)
def test_weak_credentials_are_refused_at_start(config: WebhookSettings, expected: str) -> None:
    with pytest.raises(WebhookConfigError, match=expected) as caught:
        Credentials.from_settings(config)
    assert "short-token-0123456789" not in str(caught.value)
    assert TOKEN not in str(caught.value)


def test_development_run_accepts_without_credentials(db: str) -> None:
    config = WebhookSettings(allow_unauthenticated=True, dispatch_inline=False)
    [response] = post_all(
        db, [("/alerts/alertmanager", DOCUMENTED_ALERTMANAGER)], headers={}, config=config
    )
    assert response.status_code == 200


def test_database_refusing_connections_gives_503() -> None:
    url = f"postgresql://postgres@127.0.0.1:{free_port()}/nowhere"
    config = settings(db_timeout_seconds=0.5)
    [response] = post_all(url, [("/alerts/alertmanager", DOCUMENTED_ALERTMANAGER)], config=config)

    assert response.status_code == 503
    assert response.headers["retry-after"]
    assert "not stored" in response.json()["error"]


def test_database_lost_while_serving_gives_503() -> None:
    from conftest import create_database, drop_database

    url = create_database()
    try:
        with psycopg.connect(url) as conn:
            migrate(conn)
        config = settings(db_timeout_seconds=0.5)
        app = create_app(url, config, Credentials.from_settings(config))

        async def run() -> tuple[httpx.Response, httpx.Response]:
            async with in_process_client(app, AUTH) as client:
                before = await client.post("/alerts/alertmanager", json=DOCUMENTED_ALERTMANAGER)
                drop_database(url)  # terminates the receiver's connections, and stays gone
                after = await client.post("/alerts/grafana", json=DOCUMENTED_GRAFANA)
                return before, after

        before, after = asyncio.run(run())
    finally:
        drop_database(url)
    assert before.status_code == 200
    assert after.status_code == 503
    assert "not stored" in after.json()["error"]


def test_overload_gives_503(db: str) -> None:
    config = settings(max_in_flight=1)
    app = create_app(db, config, Credentials.from_settings(config))

    async def run() -> httpx.Response:
        async with in_process_client(app, AUTH) as client:
            app.state.receiver.gate.in_flight = 1  # one request already being handled
            return await client.post("/alerts/alertmanager", json=DOCUMENTED_ALERTMANAGER)

    response = asyncio.run(run())
    assert response.status_code == 503 and response.headers["retry-after"] == "1"
    assert rows(db) == []


def test_openapi_is_published_only_when_enabled(db: str) -> None:
    async def get(config: WebhookSettings) -> tuple[httpx.Response, httpx.Response, httpx.Response]:
        app = create_app(db, config, Credentials.from_settings(config))
        async with in_process_client(app, {}) as client:
            return (
                await client.get("/openapi.json"),
                await client.get("/docs"),
                await client.get("/healthz"),
            )

    spec, docs, health = asyncio.run(get(settings(expose_docs=True)))
    hidden_spec, hidden_docs, _ = asyncio.run(get(settings()))

    assert hidden_spec.status_code == 404 and hidden_docs.status_code == 404
    paths = spec.json()["paths"]
    assert {"/alerts/alertmanager", "/alerts/grafana", "/alerts/generic"} <= set(paths)
    operation = paths["/alerts/alertmanager"]["post"]
    schema_ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    assert schema_ref.endswith("/AlertmanagerNotification")
    assert {"401", "408", "413", "415", "422", "503"} <= set(operation["responses"])
    assert "AlertmanagerAlert" in spec.json()["components"]["schemas"]
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
    assert health.json()["status"] == "ok"
    assert health.json()["alerts"]["in_flight"] == 0


def test_any_content_type_but_json_is_415(db: str) -> None:
    body = json.dumps(DOCUMENTED_ALERTMANAGER).encode()
    app = create_app(db, settings(), Credentials.from_settings(settings()))

    async def run() -> list[httpx.Response]:
        async with in_process_client(app, AUTH) as client:
            return [
                await client.post("/alerts/alertmanager", content=body, headers=headers)
                for headers in (
                    {},
                    {"content-type": "text/plain"},
                    {"content-type": "application/x-www-form-urlencoded"},
                    {"content-type": "application/json; charset=utf-8"},
                )
            ]

    responses = asyncio.run(run())
    assert [r.status_code for r in responses] == [415, 415, 415, 200]
    assert len(rows(db)) == 2


def test_serve_refuses_to_start_without_a_credential(
    db: str, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from cli import app as cli
    from wedperf.config import reset_settings_cache

    monkeypatch.setenv("WEDPERF_DATABASE_URL", db)
    monkeypatch.setenv("WEDPERF_REDIS_URL", redis_url)
    for name in ("WEDPERF_WEBHOOK_TOKEN", "WEDPERF_WEBHOOK__TOKEN", "WEDPERF_WEBHOOK__HMAC_SECRET"):
        monkeypatch.delenv(name, raising=False)
    reset_settings_cache()
    try:
        result = CliRunner().invoke(cli, ["webhook", "serve", "--port", str(free_port())])
    finally:
        reset_settings_cache()

    assert result.exit_code == 1
    assert "no webhook credential configured" in result.output
    assert "--insecure-dev" in result.output


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"WEDPERF_WEBHOOK_TOKEN": "only-twenty-bytes-ab"}, "is 20 bytes; at least 32"),
        (
            {"WEDPERF_WEBHOOK_TOKEN": TOKEN, "WEDPERF_RUM__TOKEN": "short-rum"},
            "WEDPERF_RUM__TOKEN is 9 bytes; at least 32",
        ),
    ],
    ids=["webhook-token", "rum-token"],
)
def test_serve_refuses_a_short_token_with_a_clear_error(
    db: str, redis_url: str, monkeypatch: pytest.MonkeyPatch, env: dict, expected: str
) -> None:
    from typer.testing import CliRunner

    from cli import app as cli
    from wedperf.config import reset_settings_cache

    monkeypatch.setenv("WEDPERF_DATABASE_URL", db)
    monkeypatch.setenv("WEDPERF_REDIS_URL", redis_url)
    for name in ("WEDPERF_WEBHOOK__TOKEN", "WEDPERF_WEBHOOK__HMAC_SECRET", "WEDPERF_RUM__TOKEN"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    reset_settings_cache()
    try:
        result = CliRunner().invoke(cli, ["webhook", "serve", "--port", str(free_port())])
    finally:
        reset_settings_cache()

    assert result.exit_code == 1
    assert expected in result.output
    assert all(value not in result.output for value in env.values())


def test_token_from_the_documented_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    from wedperf.config import Settings

    monkeypatch.setenv("WEDPERF_WEBHOOK_TOKEN", TOKEN)
    monkeypatch.delenv("WEDPERF_WEBHOOK__TOKEN", raising=False)

    webhook = Settings().webhook
    assert webhook.token is not None and webhook.token.get_secret_value() == TOKEN
    assert Credentials.from_settings(webhook).token == TOKEN.encode()
