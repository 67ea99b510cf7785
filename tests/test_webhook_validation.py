"""Poison alerts against the receiver and the inbox on real PostgreSQL: every field is
validated before the transaction, so a 4xx never commits, a 503 only means "try again",
and one bad notification in a group commit fails alone."""

from __future__ import annotations

import asyncio
import json
import secrets
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import psycopg
import pytest

from wedperf.alerts.app import create_app
from wedperf.alerts.auth import Credentials
from wedperf.alerts.inbox import InboxRejected, InboxWriter, open_pool, store_alerts
from wedperf.alerts.model import Alert
from wedperf.alerts.samples import alertmanager_alert, alertmanager_notification, in_process_client
from wedperf.alerts.settings import WebhookSettings
from wedperf.mobile.settings import RumSettings

TOKEN = "validation-test-token-0123456789abcdef"
AUTH = {"authorization": f"Bearer {TOKEN}"}
PATH = "/alerts/alertmanager"


@pytest.fixture(scope="module")
def inbox_url(make_database: Callable[[], str]) -> str:
    return make_database()


@pytest.fixture
def db(inbox_url: str) -> Iterator[str]:
    with psycopg.connect(inbox_url, autocommit=True) as conn:
        conn.execute("TRUNCATE perf.alerts")
    yield inbox_url


def stored(url: str) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT count(*) FROM perf.alerts").fetchone()[0]


def receiver(url: str):
    # One in-process client sends everything: no per-client limit in the way here.
    config = WebhookSettings(
        token=TOKEN, dispatch_inline=False, max_in_flight=512, max_in_flight_per_client=512
    )
    return create_app(url, config, Credentials.from_settings(config), rum=RumSettings())


def with_alert(**changes: Any) -> dict:
    return alertmanager_notification([{**alertmanager_alert(1), **changes}])


def labelled(**labels: str) -> dict:
    alert = alertmanager_alert(1)
    return alertmanager_notification([{**alert, "labels": {**alert["labels"], **labels}}])


POISON = {
    "year-10000-in-utc": with_alert(startsAt="9999-12-31T23:59:59-14:00"),
    "ends-in-year-10000": with_alert(
        status="resolved", startsAt="2026-10-17T14:00:00Z", endsAt="9999-12-31T23:00:00-14:00"
    ),
    "integer-startsAt": with_alert(startsAt=1_790_000_000),
    "endsAt-0": with_alert(status="resolved", endsAt=0),
    "zero-time-startsAt": with_alert(startsAt="0001-01-01T00:00:00Z"),
    "8000-char-wedding_id": labelled(wedding_id=secrets.token_urlsafe(6000)),
    "129-char-wedding_id": labelled(wedding_id="w" * 129),
    "label-value-over-4096": labelled(service="s" * 4097),
    "129-labels": labelled(**{f"l{n}": "v" for n in range(129)}),
    "nul-in-unknown-field": with_alert(note={"deep": ["ok", "a\x00b"]}),
}


@pytest.mark.parametrize("body", POISON.values(), ids=POISON.keys())
def test_a_poison_alert_gets_4xx_and_stores_nothing(db: str, body: dict) -> None:
    async def run() -> httpx.Response:
        async with in_process_client(receiver(db), AUTH) as client:
            return await client.post(PATH, json=body)

    response = asyncio.run(run())

    assert response.status_code == 422, response.text
    assert response.json()["problems"], response.text  # says which field
    assert stored(db) == 0


def test_a_poison_alert_does_not_affect_concurrent_senders(db: str) -> None:
    """The 8,000-character wedding_id and the year-10000 start among 200 good notifications
    sent at once: each poison one gets 422, every good one 200, and only those are stored."""
    good = [alertmanager_notification([alertmanager_alert(100 + n)]) for n in range(200)]
    poison = [POISON["8000-char-wedding_id"], POISON["year-10000-in-utc"]]
    bodies = good[:100] + poison + good[100:]

    async def run() -> list[httpx.Response]:
        async with in_process_client(receiver(db), AUTH) as client:
            return list(await asyncio.gather(*(client.post(PATH, json=b) for b in bodies)))

    responses = asyncio.run(run())

    statuses = [r.status_code for r in responses]
    assert statuses[100:102] == [422, 422]
    assert Counter(statuses[:100] + statuses[102:]) == {200: 200}
    assert stored(db) == 200


def incoming(n: int, **changes: Any) -> Alert:
    """An inbox row built directly, past the receiver's validation (what a bug upstream of
    the database, or an older receiver, could hand it)."""
    base = Alert(
        source="alertmanager",
        fingerprint=f"{n:016x}",
        starts_at=datetime(2026, 10, 17, 14, 0, tzinfo=UTC),
        status="firing",
        ends_at=None,
        alertname="GuestListLatencyHigh",
        severity="page",
        wedding_id=str(4000 + n),
        labels={"alertname": "GuestListLatencyHigh"},
        annotations={},
        receiver="wedperf",
        group_key=None,
        external_url=None,
        generator_url=None,
        payload={},
    )
    return Alert(**{**base.__dict__, **changes})


def test_a_row_that_cannot_be_read_back_is_not_committed(db: str) -> None:
    """PostgreSQL stores 9999-12-31T23:59:59-14:00 (year 10000 in UTC) but Python cannot read
    it back: the refusal must come before the commit, not after."""
    minus_14 = timezone(timedelta(hours=-14))
    poison = incoming(1, starts_at=datetime(9999, 12, 31, 23, 59, 59, tzinfo=minus_14))

    async def run() -> None:
        pool = open_pool(db, size=1)
        await pool.open()
        try:
            await store_alerts(pool, [poison], grace=timedelta(0), timeout=5)
        finally:
            await pool.close()

    with pytest.raises(InboxRejected):
        asyncio.run(run())
    assert stored(db) == 0


def test_one_bad_notification_in_a_group_commit_fails_alone(db: str) -> None:
    """A notification PostgreSQL refuses (an index row over its size limit) shares a
    statement with others: it alone is refused (422, not 503), the others are stored."""
    bad = [incoming(10_000, wedding_id=secrets.token_urlsafe(6000))]  # 8,000 chars, random
    notifications = [[incoming(n)] for n in range(60)]
    notifications.insert(30, bad)

    async def run() -> list[Any]:
        pool = open_pool(db, size=2)
        await pool.open()
        writer = InboxWriter(pool, grace=timedelta(0), timeout=5, writers=1)
        await writer.start()
        try:
            return list(
                await asyncio.gather(
                    *(writer.store(n) for n in notifications), return_exceptions=True
                )
            )
        finally:
            await writer.stop()
            await pool.close()

    results = asyncio.run(run())

    assert isinstance(results[30], InboxRejected), results[30]
    assert "index row" in str(results[30])
    assert all(isinstance(r, list) and len(r) == 1 for i, r in enumerate(results) if i != 30)
    assert stored(db) == 60


def test_only_a_database_that_may_recover_is_503(db: str) -> None:
    """A value the database refuses is 422; a statement cancelled by the receiver's 5 s
    statement timeout is 503 (retry). Both through the receiver, the database made to
    refuse or stall."""
    body = json.dumps(alertmanager_notification([alertmanager_alert(7)])).encode()
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute(
            "ALTER TABLE perf.alerts ADD CONSTRAINT test_refuse_7 "
            "CHECK (fingerprint <> '0000000000000007')"
        )
    try:

        async def run() -> httpx.Response:
            async with in_process_client(receiver(db), AUTH) as client:
                return await client.post(
                    PATH, content=body, headers={"content-type": "application/json"}
                )

        refused = asyncio.run(run())
        with psycopg.connect(db, autocommit=True) as conn:
            conn.execute("ALTER TABLE perf.alerts DROP CONSTRAINT test_refuse_7")
            conn.execute(
                "CREATE FUNCTION perf.test_slow() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN PERFORM pg_sleep(5.5); RETURN NEW; END $$"  # over the 5 s timeout
            )
            conn.execute(
                "CREATE TRIGGER test_slow BEFORE INSERT ON perf.alerts "
                "FOR EACH ROW EXECUTE FUNCTION perf.test_slow()"
            )
        timed_out = asyncio.run(run())
    finally:
        with psycopg.connect(db, autocommit=True) as conn:
            conn.execute("ALTER TABLE perf.alerts DROP CONSTRAINT IF EXISTS test_refuse_7")
            conn.execute("DROP TRIGGER IF EXISTS test_slow ON perf.alerts")
            conn.execute("DROP FUNCTION IF EXISTS perf.test_slow()")

    assert refused.status_code == 422, refused.text
    assert timed_out.status_code == 503, timed_out.text
    assert timed_out.headers["retry-after"]
    assert stored(db) == 0
