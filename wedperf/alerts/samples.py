"""Notification samples in the senders' documented formats (tests, benchmarks, README).

`DOCUMENTED_ALERTMANAGER` follows the Prometheus Alertmanager webhook_config body
(version 4); `DOCUMENTED_GRAFANA` is the example body of Grafana's webhook contact point
documentation. The builders make many distinct alerts of the same shapes.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx

ZERO = "0001-01-01T00:00:00Z"

DOCUMENTED_ALERTMANAGER: dict[str, Any] = {
    "version": "4",
    "groupKey": '{}/{severity="page"}:{alertname="GuestListLatencyHigh"}',
    "truncatedAlerts": 0,
    "status": "firing",
    "receiver": "wedperf",
    "groupLabels": {"alertname": "GuestListLatencyHigh"},
    "commonLabels": {"alertname": "GuestListLatencyHigh", "severity": "page"},
    "commonAnnotations": {"runbook_url": "https://runbooks.example/guest-list"},
    "externalURL": "http://alertmanager.monitoring:9093",
    "alerts": [
        {
            "status": "firing",
            "labels": {
                "alertname": "GuestListLatencyHigh",
                "severity": "page",
                "service": "guest-api",
                "wedding_id": "4211",
            },
            "annotations": {
                "summary": "guest list p95 above 1 s",
                "runbook_url": "https://runbooks.example/guest-list",
            },
            "startsAt": "2026-10-17T13:58:30.512345678Z",
            "endsAt": ZERO,
            "generatorURL": "http://prometheus.monitoring:9090/graph?g0.expr=guest_list_p95",
            "fingerprint": "3a5b0c1d2e3f4a5b",
        },
        {
            "status": "firing",
            "labels": {
                "alertname": "GuestListLatencyHigh",
                "severity": "page",
                "service": "guest-api",
                "wedding_id": "4212",
            },
            "annotations": {"summary": "guest list p95 above 1 s"},
            "startsAt": "2026-10-17T14:01:00Z",
            "endsAt": ZERO,
            "generatorURL": "http://prometheus.monitoring:9090/graph?g0.expr=guest_list_p95",
            "fingerprint": "9f8e7d6c5b4a3920",
        },
    ],
}

DOCUMENTED_GRAFANA: dict[str, Any] = {
    "receiver": "My Super Webhook",
    "status": "firing",
    "orgId": 1,
    "alerts": [
        {
            "status": "firing",
            "labels": {"alertname": "High memory usage", "team": "blue", "zone": "us-1"},
            "annotations": {
                "description": "The system has high memory usage",
                "runbook_url": "https://myrunbook.com/runbook/1234",
                "summary": "This alert was triggered for zone us-1",
            },
            "startsAt": "2021-10-12T09:51:03.157076+02:00",
            "endsAt": ZERO,
            "generatorURL": "https://play.grafana.org/alerting/1afz29v7z/edit",
            "fingerprint": "c6eadffa33fcdf37",
            "silenceURL": "https://play.grafana.org/alerting/silence/new?alertmanager=grafana"
            "&matchers=alertname%3DT2%2Cteam%3Dblue%2Czone%3Dus-1",
            "dashboardURL": "",
            "panelURL": "",
            "values": {"B": 44.23943737541908, "C": 1},
            "valueString": "[ var='B' labels={} value=44.23943737541908 ], "
            "[ var='C' labels={} value=1 ]",
        },
        {
            "status": "firing",
            "labels": {"alertname": "High CPU usage", "team": "blue", "zone": "eu-1"},
            "annotations": {
                "description": "The system has high CPU usage",
                "runbook_url": "https://myrunbook.com/runbook/1234",
                "summary": "This alert was triggered for zone eu-1",
            },
            "startsAt": "2021-10-12T09:56:03.157076+02:00",
            "endsAt": ZERO,
            "generatorURL": "https://play.grafana.org/alerting/d1rdpdv7k/edit",
            "fingerprint": "bc97ff14869b13e3",
            "silenceURL": "https://play.grafana.org/alerting/silence/new?alertmanager=grafana"
            "&matchers=alertname%3DT1%2Cteam%3Dblue%2Czone%3Deu-1",
            "dashboardURL": "",
            "panelURL": "",
            "values": {"B": 33.88221581980021, "C": 1},
            "valueString": "[ var='B' labels={} value=33.88221581980021 ], "
            "[ var='C' labels={} value=1 ]",
        },
    ],
    "groupLabels": {},
    "commonLabels": {"team": "blue"},
    "commonAnnotations": {},
    "externalURL": "https://play.grafana.org/",
    "version": "1",
    "groupKey": "{}:{}",
    "truncatedAlerts": 0,
    "title": "[FIRING:2]  (blue)",
    "state": "alerting",
    "message": "**Firing**\n\nLabels:\n - alertname = T2\n - team = blue\n - zone = us-1\n",
}


def alertmanager_alert(
    n: int,
    *,
    status: str = "firing",
    starts_at: str = "2026-10-17T14:00:00Z",
    ends_at: str = ZERO,
    alertname: str = "GuestListLatencyHigh",
) -> dict[str, Any]:
    """Alert number `n` (fingerprint from n) in Alertmanager's shape."""
    return {
        "status": status,
        "labels": {
            "alertname": alertname,
            "severity": "page",
            "service": "guest-api",
            "wedding_id": str(4000 + n),
        },
        "annotations": {"summary": f"guest list p95 above 1 s for wedding {4000 + n}"},
        "startsAt": starts_at,
        "endsAt": ends_at,
        "generatorURL": "http://prometheus.monitoring:9090/graph?g0.expr=guest_list_p95",
        "fingerprint": f"{n:016x}",
    }


def alertmanager_notification(alerts: list[dict[str, Any]]) -> dict[str, Any]:
    """A version 4 notification carrying `alerts` (status: firing if any is firing)."""
    status = "firing" if any(a["status"] == "firing" for a in alerts) else "resolved"
    return {**DOCUMENTED_ALERTMANAGER, "status": status, "alerts": alerts}


@contextlib.asynccontextmanager
async def in_process_client(app: Any, headers: dict[str, str]) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client calling `app` in-process, with the app's lifespan running
    (httpx.ASGITransport sends no lifespan events)."""
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://receiver", headers=headers
        ) as client,
    ):
        yield client
