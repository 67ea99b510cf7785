"""Client kinds end to end on real PostgreSQL: from a Prometheus label and a probe's client
profile into perf.samples, rolled up per client group, mobile p95 beside web in
`wedperf watch`, the mobile p95 SLO, and the sandbox's synthetic mobile client."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

import httpx
import numpy as np
import psycopg
import pytest
from typer.testing import CliRunner

from cli import app as cli
from wedperf.alerts.app import create_app as create_webhook_app
from wedperf.alerts.auth import Credentials
from wedperf.alerts.settings import WebhookSettings
from wedperf.calendar import AppDbCalendarSource, sync_calendar
from wedperf.calendar.model import Wedding
from wedperf.config import (
    ProbeSettings,
    ProbeTarget,
    PrometheusSettings,
    Settings,
    reset_settings_cache,
)
from wedperf.critical_path.round import run_round
from wedperf.metrics.clients import client_kind
from wedperf.metrics.collect import build_sources
from wedperf.metrics.histogram import from_events
from wedperf.metrics.model import LATENCY, CollectWindow, Sample
from wedperf.metrics.sources import ProbeSource, PrometheusSource
from wedperf.metrics.store import rollup_minutes, write_samples
from wedperf.mobile.client import drive_mobile_client
from wedperf.mobile.settings import DEFAULT_USER_AGENTS, RumSettings
from wedperf.sandbox.seed import seed_sandbox

T0 = datetime(2026, 10, 17, 20, 0, tzinfo=UTC)
WINDOW = CollectWindow(start=T0, end=T0 + timedelta(minutes=3))
SEED_NOW = datetime(2026, 10, 20, 12, 0, tzinfo=UTC)


def sample_clients(url: str, source: str) -> list[tuple[str, str | None, str]]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT split_part(series, '|le=', 1), wedding_id, client FROM perf.samples "
            "WHERE source = %s GROUP BY 1, 2, 3 ORDER BY 1",
            (source,),
        ).fetchall()


def test_client_kind_reads_common_spellings() -> None:
    assert [client_kind(v) for v in ("iOS", "iphone", "Android", "web", "tv", "", None)] == [
        "ios",
        "ios",
        "android",
        "web",
        "unknown",
        "unknown",
        "unknown",
    ]


def test_prometheus_client_label_reaches_perf_samples(migrated_database_url: str) -> None:
    t = WINDOW.start.timestamp()

    def handler(request: httpx.Request) -> httpx.Response:
        # The documented query_range answer to `sum by (le, wedding_id, client) (increase(...))`:
        # per client and bucket, requests within `le` in the step before each instant.
        def bucket(labels: dict, le: str, values: list) -> dict:
            return {"metric": {**labels, "le": le}, "values": values}

        ios, android = (
            {"client": "ios", "wedding_id": "42"},
            {"client": "android", "wedding_id": "42"},
        )
        return httpx.Response(
            200,
            json={
                "status": "success",
                "data": {
                    "resultType": "matrix",
                    "result": [
                        bucket(ios, "0.5", [[t + 60, "3"], [t + 120, "2"]]),
                        bucket(ios, "+Inf", [[t + 60, "4"], [t + 120, "2"]]),
                        bucket(android, "+Inf", [[t + 60, "1"]]),
                        bucket({"client": "web", "wedding_id": "42"}, "+Inf", [[t + 60, "1"]]),
                        bucket({"wedding_id": "42"}, "+Inf", [[t + 60, "2"]]),
                    ],
                },
            },
        )

    settings = PrometheusSettings(
        url="http://prometheus.test:9090",
        histograms={"guest_list": 'wedapp_request_duration_seconds_bucket{operation="guest_list"}'},
    )
    samples = PrometheusSource(
        settings, transport=httpx.MockTransport(handler), client_label="client"
    ).collect(WINDOW)
    with psycopg.connect(migrated_database_url) as conn:
        assert write_samples(conn, samples) == 7
        assert write_samples(conn, samples) == 0  # the natural key still dedupes
    assert sample_clients(migrated_database_url, "prometheus") == [
        ("client=android,wedding_id=42", "42", "android"),
        ("client=ios,wedding_id=42", "42", "ios"),
        ("client=web,wedding_id=42", "42", "web"),
        ("wedding_id=42", "42", "unknown"),
    ]


def test_prometheus_client_label_name_is_configurable() -> None:
    settings = Settings(
        prometheus=PrometheusSettings(url="http://prometheus.test:9090"),
        rum=RumSettings(client_label="platform"),
    )
    [prometheus] = [
        s for s in build_sources(settings, "postgresql://unused") if s.name == "prometheus"
    ]
    assert isinstance(prometheus, PrometheusSource) and prometheus.client_label == "platform"


def test_probe_client_profile_reaches_perf_samples(migrated_database_url: str) -> None:
    seen: dict[str, dict[str, str]] = {}

    def handler(request: httpx.Request) -> httpx.Response:
        seen[request.url.path] = dict(request.headers)
        return httpx.Response(200, json={"ok": True})

    wedding = Wedding("77", T0, T0 + timedelta(hours=6), "UTC", None, 100, "confirmed")
    settings = ProbeSettings(
        base_url="http://sandbox.test",
        targets=[
            ProbeTarget(
                name="guest-list-ios",
                operation="guest_list",
                url="{base_url}/ios/weddings/{wedding_id}/guests",
                per_wedding=True,
            ),
            ProbeTarget(
                name="guest-list-android",
                operation="guest_list",
                url="{base_url}/android/weddings/{wedding_id}/guests",
                per_wedding=True,
                client="android",  # declared on the target itself
            ),
            ProbeTarget(name="health", operation="platform", url="{base_url}/healthz"),
        ],
    )
    rum = RumSettings(probe_clients={"guest-list-ios": "ios"})  # named in the RUM settings
    source = ProbeSource(
        settings,
        transport=httpx.MockTransport(handler),
        clients=rum.probe_clients,
        user_agents=rum.user_agents,
    )
    window = CollectWindow(start=T0, end=T0 + timedelta(minutes=1), live_weddings=(wedding,))
    samples = source.collect(window)

    assert seen["/ios/weddings/77/guests"]["user-agent"] == DEFAULT_USER_AGENTS["ios"]
    assert seen["/ios/weddings/77/guests"]["x-wedperf-client"] == "ios"
    assert "Android" in seen["/android/weddings/77/guests"]["user-agent"]
    assert seen["/healthz"]["user-agent"] == "wedperf-probe"
    with psycopg.connect(migrated_database_url) as conn:
        assert write_samples(conn, samples) == 3
    assert sample_clients(migrated_database_url, "probe") == [
        ("guest-list-android:77", "77", "android"),
        ("guest-list-ios:77", "77", "ios"),
        ("health", None, "unknown"),
    ]


def test_probe_clients_come_from_the_rum_settings() -> None:
    settings = Settings(rum=RumSettings(probe_clients={"guest-list": "android"}))
    [probe] = [s for s in build_sources(settings, "postgresql://unused") if s.name == "probe"]
    assert isinstance(probe, ProbeSource)
    by_name = {t.name: probe.client_of(t) for t in settings.probes.targets}
    assert by_name["guest-list"] == "android" and by_name["timeline"] == "unknown"


def latency_samples(
    wedding_id: str, end: datetime, values: dict, *, source: str = "rum"
) -> list[Sample]:
    """{(operation, client): [seconds, ...]} as samples of `source` (RUM beacons by default)
    in the minutes before end."""
    samples = []
    for (operation, client), seconds in values.items():
        for i, value in enumerate(seconds):
            samples.append(
                Sample(
                    ts=end - timedelta(seconds=10 + 7 * i),
                    source=source,
                    metric=LATENCY,
                    operation=operation,
                    series=f"{source}:{client}/4g/5.2.0/Screen#{operation}-{i}",
                    wedding_id=wedding_id,
                    attributed_by="beacon" if source == "rum" else "url",
                    value=value,
                    client=client,
                )
            )
    return samples


# Server-side samples of the same minutes: probes without a client profile, and web probes.
SERVER_SIDE = {
    ("guest_list", "unknown"): [0.05, 0.07, 0.06],
    ("guest_list", "web"): [0.3],
}


def test_rollups_per_client_group(migrated_database_url: str) -> None:
    end = T0 + timedelta(minutes=1)
    values = {
        ("guest_list", "ios"): [0.9, 1.1, 1.4],
        ("guest_list", "android"): [1.2, 2.0],
        ("guest_list", "web"): [0.1, 0.2, 0.15],
        ("guest_list", "unknown"): [0.05],
    }
    with psycopg.connect(migrated_database_url) as conn:
        write_samples(conn, latency_samples("9", end, values))
        write_samples(conn, latency_samples("9", end, SERVER_SIDE, source="probe"))
        rollup_minutes(conn, T0, end, before=timedelta(hours=3), after=timedelta(0))
        rollup_minutes(conn, T0, end, before=timedelta(hours=3), after=timedelta(0))  # idempotent
        rows = conn.execute(
            "SELECT client, events, bucket_le, bucket_events FROM perf.rollups_minute "
            "WHERE wedding_id = '9' AND operation = 'guest_list' ORDER BY client"
        ).fetchall()
    web = values[("guest_list", "web")] + SERVER_SIDE[("guest_list", "web")]
    expected = {
        # `all` keeps its meaning from before RUM: the server-side collectors, no beacons.
        "all": [v for vs in SERVER_SIDE.values() for v in vs],
        # the client groups count beacons and server-side samples of their kind.
        "android": values[("guest_list", "android")],
        "ios": values[("guest_list", "ios")],
        "mobile": values[("guest_list", "ios")] + values[("guest_list", "android")],
        "web": web,
    }
    assert [r[0] for r in rows] == sorted(expected)
    for client, events, bounds, counts in rows:
        assert events == len(expected[client])
        # The rollup holds the group's events as a histogram (no stored percentile): exactly
        # the events bucketed, so any quantile of any span is read from merged rows.
        assert counts == list(from_events(expected[client], bounds).counts)


# --- the critical path and `wedperf watch` on a seeded sandbox -------------------------


@pytest.fixture(scope="module")
def sandbox_url(make_database: Callable[[], str]) -> str:
    url = make_database()
    with psycopg.connect(url) as conn:
        seed_sandbox(conn, weddings=30, days=10, seed=5, start=date(2026, 10, 12), now=SEED_NOW)
        sync_calendar(conn, AppDbCalendarSource(url), now=SEED_NOW)
    return url


def a_wedding(url: str) -> Wedding:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT wedding_id, starts_at, ends_at, timezone, venue, guest_count, status "
            "FROM perf.weddings WHERE status = 'completed' ORDER BY starts_at LIMIT 1"
        ).fetchone()
    return Wedding(*row)


MOBILE_DAY = {
    ("guest_list", "ios"): [0.9, 1.1, 1.4, 2.6],
    ("guest_list", "android"): [1.2, 2.0, 3.1],
    ("guest_list", "web"): [0.1, 0.2, 0.15, 0.12],
    ("timeline_sync", "android"): [0.5, 0.6],
    ("timeline_sync", "web"): [0.08, 0.09],
    ("photo_upload", "ios"): [6.0, 7.5],
}


def p95_ms(values: list[float]) -> str:
    return f"{np.percentile(values, 95) * 1000:.0f} ms (n={len(values)})"


def test_mobile_p95_slo_and_watch_view(
    sandbox_url: str, redis_url: str, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = a_wedding(sandbox_url)
    at = w.starts_at + timedelta(minutes=60)
    with psycopg.connect(sandbox_url) as conn:
        conn.execute("DELETE FROM perf.samples WHERE wedding_id = %s", (w.wedding_id,))
        write_samples(conn, latency_samples(w.wedding_id, at, MOBILE_DAY))
        write_samples(conn, latency_samples(w.wedding_id, at, SERVER_SIDE, source="probe"))
        result = run_round(conn, conn, [w], at, Settings(), record=False)

    checks = result.results.set_index("check_name")
    mobile = MOBILE_DAY[("guest_list", "ios")] + MOBILE_DAY[("guest_list", "android")]
    assert checks.at["mobile_p95_guest_list", "value"] == pytest.approx(np.percentile(mobile, 95))
    assert checks.at["mobile_p95_guest_list", "status"] == "breach"  # >= 2 s
    assert checks.at["mobile_p95_timeline_sync", "status"] == "ok"
    assert checks.at["mobile_p95_photo_upload", "status"] == "ok"  # 7.4 s < 10 s on a phone
    assert np.isnan(checks.at["mobile_p95_vendor_notify", "value"])  # nothing measured: ok
    web = MOBILE_DAY[("guest_list", "web")] + SERVER_SIDE[("guest_list", "web")]
    web_detail = f"web p95 {np.percentile(web, 95) * 1000:.0f} ms (5 samples)"
    assert web_detail in checks.at["mobile_p95_guest_list", "detail"]
    # The server-side check judges the server-side collectors only: the phones' 3 s (network
    # included) must not breach it, or guests on venue 3G would trigger a cache flush.
    server = [v for vs in SERVER_SIDE.values() for v in vs]
    assert checks.at["latency_guest_list", "value"] == pytest.approx(np.percentile(server, 95))
    assert checks.at["latency_guest_list", "status"] == "ok"
    assert np.isnan(checks.at["latency_timeline_sync", "value"])  # only beacons: not measured

    monkeypatch.setenv("WEDPERF_DATABASE_URL", sandbox_url)
    monkeypatch.setenv("WEDPERF_REDIS_URL", redis_url)
    monkeypatch.setenv("WEDPERF_DATA_DIR", str(tmp_path / "data"))
    reset_settings_cache()
    try:
        output = CliRunner().invoke(
            cli, ["watch", "--wedding", w.wedding_id, "--at", at.isoformat()]
        )
    finally:
        reset_settings_cache()
    assert output.exit_code == 2, output.output  # the mobile guest list breaches
    assert "mobile_p95_guest_list" in output.output
    lines = output.output.splitlines()
    header = next(line for line in lines if line.startswith("operation") and "mobile p95" in line)
    columns = re.split(r"\s{2,}", header.strip())
    assert columns == ["operation", "web p95", "mobile p95", "ios p95", "android p95", "all p95"]
    rows = {line.split()[0]: line for line in lines[lines.index(header) + 1 :] if line.strip()}
    guest = rows["guest_list"]
    expected = [
        p95_ms(web),
        p95_ms(mobile),
        p95_ms(MOBILE_DAY[("guest_list", "ios")]),
        p95_ms(MOBILE_DAY[("guest_list", "android")]),
        p95_ms(server),  # all: the server-side collectors, like the latency_* checks
    ]
    positions = [guest.index(cell) for cell in expected]
    assert positions == sorted(positions)  # in column order: web, mobile, ios, android, all
    assert p95_ms(MOBILE_DAY[("timeline_sync", "android")]) in rows["timeline_sync"]
    assert p95_ms(MOBILE_DAY[("timeline_sync", "web")]) in rows["timeline_sync"]
    assert rows["timeline_sync"].split()[-1] == "—"  # beacons only: nothing server-side
    assert "web p95" not in rows["photo_upload"] and rows["photo_upload"].split()[1] == "—"
    assert rows["vendor_notify"].split()[1:] == ["—"] * 5


# --- the sandbox's synthetic mobile client ---------------------------------------------


def test_synthetic_mobile_client_posts_beacons_that_land_as_mobile_samples(
    platform: dict,
) -> None:
    with psycopg.connect(platform["url"]) as conn:  # beacons may name known weddings only
        sync_calendar(conn, AppDbCalendarSource(platform["url"]), now=platform["now"])
    token = "mobile-client-rum-token-0123456789abcdef"
    config = WebhookSettings(
        token="mobile-test-alert-token-0123456789abcdef", dispatch_inline=False
    )
    webhook = create_webhook_app(
        platform["url"], config, Credentials.from_settings(config), rum=RumSettings(token=token)
    )
    summary = drive_mobile_client(
        platform["base_url"],
        "http://receiver/rum",
        token,
        platform["live"],
        requests=30,
        concurrency=3,
        seed=3,
        batch_size=8,
        simulate_network=False,
        rum_transport=httpx.ASGITransport(app=webhook),
    )

    assert summary.rum_errors == []
    assert summary.beacons_sent == summary.requests - summary.errors > 0
    assert summary.beacons_stored == summary.beacons_sent
    assert summary.beacons_unknown_wedding == 0
    with psycopg.connect(platform["url"]) as conn:
        rows = conn.execute(
            "SELECT client, split_part(series, '/', 2), value, wedding_id::bigint "
            "FROM perf.samples WHERE source = 'rum'"
        ).fetchall()
    assert len(rows) == summary.beacons_stored
    assert {r[0] for r in rows} == {"ios", "android"}
    assert {r[1] for r in rows} <= {"wifi", "4g", "3g"}
    assert {r[3] for r in rows} <= set(platform["live"])
    # What the device saw includes the network: at least one round trip of its profile.
    rtt = {"wifi": 0.040, "4g": 0.150, "3g": 0.300}
    assert all(value >= rtt[network] for _, network, value, _ in rows)


def test_synthetic_mobile_client_counts_beacons_dropped_for_an_unknown_wedding() -> None:
    """Before the calendar sync knows a wedding, its beacons are dropped, and said so."""

    def sandbox(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"guests": []})

    def rum(request: httpx.Request) -> httpx.Response:
        count = len(json.loads(request.content)["beacons"])
        answer = {"received": count, "stored": 0, "duplicates": 0, "unknown_wedding": count}
        return httpx.Response(200, json=answer)

    summary = drive_mobile_client(
        "http://sandbox.test",
        "http://receiver/rum",
        "token",
        [5],
        requests=4,
        seed=1,
        simulate_network=False,
        sandbox_transport=httpx.MockTransport(sandbox),
        rum_transport=httpx.MockTransport(rum),
    )
    assert summary.beacons_sent > 0
    assert summary.beacons_unknown_wedding == summary.beacons_sent
    assert f"{summary.beacons_sent} dropped (unknown wedding)" in summary.lines()[0]
