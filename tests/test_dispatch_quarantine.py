"""The pending sweep isolates a row whose dispatch fails for a reason of its own (here: its
event cannot be built), against real PostgreSQL and a fake Prefect client that records."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

import psycopg
import pytest

from wedperf.alerts import dispatch, pending
from wedperf.alerts.model import Alert
from wedperf.alerts.settings import WebhookSettings


class RecordingDispatcher:
    """Stands in for RemediationDispatcher: every run is created, every event taken."""

    def __init__(self) -> None:
        self.runs: dict[int, uuid.UUID] = {}
        self.events: list[Any] = []
        self.known_deployment_id = uuid.uuid4()

    async def deployment_id(self) -> uuid.UUID:
        return self.known_deployment_id

    async def create_run(self, alert: Alert) -> uuid.UUID:
        return self.runs.setdefault(alert.alert_id, uuid.uuid4())

    async def emit(self, events: list[Any]) -> None:
        self.events.extend(events)


def test_a_row_whose_dispatch_raises_is_quarantined_alone(
    make_database: Callable[[], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url = make_database()
    with psycopg.connect(url) as conn:
        ids = [
            conn.execute(
                "INSERT INTO perf.alerts (source, fingerprint, starts_at, status, alertname) "
                "VALUES ('generic', %s, now(), 'firing', %s) RETURNING alert_id",
                (f"fp-{n}", "Poison" if n == 2 else "Fine"),
            ).fetchone()[0]
            for n in range(5)
        ]
    real_event = dispatch.alert_event

    def event(alert: Alert, kind: str, **kwargs: Any) -> Any:
        if alert.alertname == "Poison":
            raise ValueError("this alert's labels make no valid event")
        return real_event(alert, kind, **kwargs)

    monkeypatch.setattr(dispatch, "alert_event", event)
    fake = RecordingDispatcher()

    async def sweep() -> Any:
        settings = WebhookSettings(token="t" * 32)
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            batch, unreadable = await pending._claim(conn, "claim_pending", settings, 100)
            assert unreadable == []
            return await pending._dispatch_isolating(conn, fake, batch, settings)  # type: ignore[arg-type]

    outcome = asyncio.run(sweep())

    assert outcome.quarantined == 1 and outcome.created == 4
    with psycopg.connect(url) as conn:
        states = dict(
            conn.execute(
                "SELECT alert_id, dispatch_state FROM perf.alerts WHERE source = 'generic'"
            ).fetchall()
        )
        reason = conn.execute(
            "SELECT quarantine_reason FROM perf.alerts WHERE alert_id = %s", (ids[2],)
        ).fetchone()[0]
        raised = conn.execute(
            "SELECT count(*) FROM perf.alerts WHERE alertname = 'AlertQuarantined' "
            "AND labels ->> 'quarantined_alert_id' = %s",
            (str(ids[2]),),
        ).fetchone()[0]
    assert states == {i: ("quarantined" if i == ids[2] else "dispatched") for i in ids}
    assert "ValueError: this alert's labels make no valid event" in reason
    assert raised == 1
