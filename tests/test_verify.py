"""Recovery verification of webhook alerts: the rule's metric read again from a real
Prometheus endpoint over HTTP, and the source's resolve only when there is no metric."""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from prometheus_client import CollectorRegistry, Histogram, generate_latest
from psycopg.types.json import Jsonb
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route

from wedperf.alerts.inbox import load_alert
from wedperf.config import get_settings, reset_settings_cache
from wedperf.remediation.verify import MetricRule, quantile_of, rule_for, verify
from wedperf.sandbox.telemetry import LATENCY_BUCKETS
from wedperf.serving import serve_in_thread

RULE = MetricRule(
    match={"alertname": "HighRequestLatency", "service": "sandbox"},
    threshold_s=0.5,
    window_s=0.2,
)


class FakeApp:
    """A metrics endpoint whose guest-list latency is `latency_s`: every scrape first records
    20 requests at that latency (and 20 fast timeline requests the rule must ignore)."""

    def __init__(self) -> None:
        self.latency_s: float | None = 0.02
        self.registry = CollectorRegistry()
        self.histogram = Histogram(
            "wedapp_request_duration_seconds",
            "latency",
            ("operation", "wedding_id"),
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )

    async def metrics(self, request) -> Response:
        if self.latency_s is not None:
            for n in range(20):
                self.histogram.labels("guest_list", str(n % 3)).observe(self.latency_s)
                self.histogram.labels("timeline_sync", "1").observe(0.001)
        return Response(generate_latest(self.registry), media_type="text/plain")


@pytest.fixture
def fake_app(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeApp]:
    fake = FakeApp()
    app = Starlette(routes=[Route("/metrics", fake.metrics)])
    with serve_in_thread(app) as base_url:
        monkeypatch.setenv("WEDPERF_PROBES__BASE_URL", base_url)
        reset_settings_cache()
        yield fake
    reset_settings_cache()


def insert_alert(url: str, labels: dict, status: str = "firing"):
    with psycopg.connect(url) as conn:
        alert_id = conn.execute(
            "INSERT INTO perf.alerts (source, fingerprint, starts_at, ends_at, status, "
            "alertname, labels) VALUES ('alertmanager', %s, now() - interval '5 minutes', "
            "CASE WHEN %s = 'resolved' THEN now() END, %s, 'HighRequestLatency', %s) "
            "RETURNING alert_id",
            (uuid.uuid4().hex, status, status, Jsonb(labels)),
        ).fetchone()[0]
        return load_alert(conn, alert_id)


def check(url: str, alert):
    with psycopg.connect(url) as conn:
        return verify(conn, conn, alert, get_settings(), rules=(RULE,))


def test_a_metric_that_recovered_is_verified_by_the_metric(
    migrated_database_url: str, fake_app: FakeApp
) -> None:
    """Still firing at its source, but the metric is back under the threshold: recovered."""
    alert = insert_alert(migrated_database_url, {"service": "sandbox"})
    result = check(migrated_database_url, alert)
    assert (result.recovered, result.verified_by) == (True, "metric")
    assert "p95 " in result.detail and "no longer true" in result.detail


def test_a_metric_that_did_not_recover_is_not_recovered(
    migrated_database_url: str, fake_app: FakeApp
) -> None:
    """Guest lists still take 2 s: not recovered, even though the source says resolved."""
    fake_app.latency_s = 2.0
    alert = insert_alert(migrated_database_url, {"service": "sandbox"}, status="resolved")
    result = check(migrated_database_url, alert)
    assert (result.recovered, result.verified_by) == (False, "metric")
    assert "still true" in result.detail


def test_without_a_metric_only_the_source_is_trusted(
    migrated_database_url: str, fake_app: FakeApp
) -> None:
    """No rule for the alert: its status at the source decides, and the answer says so."""
    fake_app.latency_s = 2.0  # would fail a metric check; it is not consulted
    other = {"service": "checkout"}
    assert rule_for(insert_alert(migrated_database_url, other), (RULE,)) is None
    resolved = check(migrated_database_url, insert_alert(migrated_database_url, other, "resolved"))
    assert (resolved.recovered, resolved.verified_by) == (True, "source")
    firing = check(migrated_database_url, insert_alert(migrated_database_url, other))
    assert (firing.recovered, firing.verified_by) == (False, "source")


def test_an_unreadable_or_idle_metric_falls_back_to_the_source(
    migrated_database_url: str, fake_app: FakeApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_app.histogram.labels("guest_list", "0").observe(0.01)  # the series exists...
    fake_app.latency_s = None  # ...but no requests in the window: nothing to judge by
    idle = check(migrated_database_url, insert_alert(migrated_database_url, {"service": "sandbox"}))
    assert (idle.recovered, idle.verified_by) == (False, "source")
    assert idle.detail.startswith("no requests in the")

    monkeypatch.setenv("WEDPERF_PROBES__BASE_URL", "http://127.0.0.1:1")
    reset_settings_cache()
    alert = insert_alert(migrated_database_url, {"service": "sandbox"}, status="resolved")
    down = check(migrated_database_url, alert)
    assert (down.recovered, down.verified_by) == (True, "source")
    assert down.detail.startswith("metric unavailable")


def test_quantile_interpolates_within_the_bucket_like_prometheus() -> None:
    before = {0.1: 10.0, 0.5: 10.0, 1.0: 10.0, math.inf: 10.0}
    after = {0.1: 60.0, 0.5: 100.0, 1.0: 110.0, math.inf: 110.0}  # 100 new: 50, 40, 10
    reading = quantile_of(before, after, 0.95)
    assert reading.requests == 100
    assert reading.value_s == pytest.approx(0.5 + 0.5 * 0.5)  # rank 95: halfway into (0.5, 1]
    assert quantile_of(after, after, 0.95).value_s is None


def check_within(url: str, alert, within: float):
    with psycopg.connect(url) as conn:
        return verify(conn, conn, alert, get_settings(), within=within, rules=(RULE,))


class Recovering:
    """`FakeApp.latency_s` scrape by scrape: each window's value is the latency at its
    second scrape (the observations between the two)."""

    def __init__(self, fake: FakeApp, windows: list[float]) -> None:
        self.fake, self.windows, self.scrapes = fake, windows, 0
        self.metrics = fake.metrics
        fake.metrics = self  # type: ignore[method-assign]

    async def __call__(self, request) -> Response:
        window = min(self.scrapes // 2, len(self.windows) - 1)
        self.fake.latency_s = self.windows[window]
        self.scrapes += 1
        return await self.metrics(request)


@pytest.fixture
def scripted_app(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeApp]:
    """A FakeApp whose /metrics route calls `fake.metrics` at request time (so a test can
    script it scrape by scrape)."""
    fake = FakeApp()

    async def metrics(request) -> Response:
        return await fake.metrics(request)

    with serve_in_thread(Starlette(routes=[Route("/metrics", metrics)])) as base_url:
        monkeypatch.setenv("WEDPERF_PROBES__BASE_URL", base_url)
        reset_settings_cache()
        yield fake
    reset_settings_cache()


def test_a_metric_is_verified_once_the_action_has_taken_effect(
    migrated_database_url: str, scripted_app: FakeApp
) -> None:
    """The new replicas serve only after a while (a pod start): the first windows still read
    2 s. Read window after window within the delay, the rule clears and stays clear: the
    action is verified then, not escalated for a window read before it took effect."""
    Recovering(scripted_app, [2.0, 2.0, 2.0, 0.02])
    alert = insert_alert(migrated_database_url, {"service": "sandbox"})
    result = check_within(migrated_database_url, alert, within=5.0)
    assert (result.recovered, result.verified_by) == (True, "metric")
    assert "2 windows in a row" in result.detail and "no longer true" in result.detail


def test_one_clear_window_is_not_a_recovery(
    migrated_database_url: str, scripted_app: FakeApp
) -> None:
    """A single window that reads clear by chance, then 2 s again until the delay has
    passed: not recovered (the source resolving on that window does not make it one)."""
    script = Recovering(scripted_app, [2.0, 0.02, 2.0])
    alert = insert_alert(migrated_database_url, {"service": "sandbox"}, status="resolved")
    result = check_within(migrated_database_url, alert, within=1.0)
    assert (result.recovered, result.verified_by) == (False, "metric")
    assert "still true" in result.detail and "(allowed 1 s)" in result.detail
    assert script.scrapes >= 2 * 3  # read on past the clear window, not stopped by it


def test_a_metric_still_firing_when_the_delay_ends_is_not_recovered(
    migrated_database_url: str, scripted_app: FakeApp
) -> None:
    Recovering(scripted_app, [2.0])
    alert = insert_alert(migrated_database_url, {"service": "sandbox"})
    began = time.monotonic()
    result = check_within(migrated_database_url, alert, within=1.0)
    assert (result.recovered, result.verified_by) == (False, "metric")
    assert 1.0 <= time.monotonic() - began < 1.0 + 3 * RULE.window_s + 2.0
