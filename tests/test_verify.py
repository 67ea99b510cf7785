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
from wedperf.remediation.verify import (
    MetricRule,
    judge_metric,
    metric_rule_of,
    quantile_of,
    rule_for,
    verify,
)
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
        self.requests = 20  # guest-list requests recorded per scrape
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
            for n in range(self.requests):
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


def check(url: str, alert, *, settle: float = 0.0, confirm: float = 1.0):
    """As the remediation flow does: the metric judged first, then the verdict decided."""
    settings = get_settings()
    rule = metric_rule_of(alert, (RULE,))
    metric = None if rule is None else judge_metric(
        settings.probes.base_url, rule, settle=settle, confirm=confirm,
        min_requests=settings.remediation.verify_min_requests,
    )  # fmt: skip
    with psycopg.connect(url) as conn:
        return verify(conn, conn, alert, settings, metric=metric, rules=(RULE,))


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


def test_an_unreadable_or_idle_metric_falls_back_to_the_source_after_the_bound(
    migrated_database_url: str, fake_app: FakeApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Idle windows and an unreachable endpoint are read again until settle + confirm has
    passed; only then is the source asked (not at once, before the action took effect)."""
    fake_app.histogram.labels("guest_list", "0").observe(0.01)  # the series exists...
    fake_app.latency_s = None  # ...but no requests in the window: nothing to judge by
    alert = insert_alert(migrated_database_url, {"service": "sandbox"})
    began = time.monotonic()
    idle = check(migrated_database_url, alert, settle=0.4, confirm=0.6)
    assert 1.0 <= time.monotonic() - began < 1.0 + 2.0  # at the bound, not before
    assert (idle.recovered, idle.verified_by) == (False, "source")
    assert idle.detail.startswith("no requests in the")

    monkeypatch.setenv("WEDPERF_PROBES__BASE_URL", "http://127.0.0.1:1")
    reset_settings_cache()
    alert = insert_alert(migrated_database_url, {"service": "sandbox"}, status="resolved")
    began = time.monotonic()
    down = check(migrated_database_url, alert, settle=0.4, confirm=0.6)
    assert 1.0 <= time.monotonic() - began < 1.0 + 2.0  # at the bound, not before
    assert (down.recovered, down.verified_by) == (True, "source")
    assert down.detail.startswith("metric unavailable")


def test_a_thin_window_is_idle_not_clear(
    migrated_database_url: str, fake_app: FakeApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One fast request a window is not a recovery: below remediation.verify_min_requests
    the window is idle, and when every window is, the source decides."""
    monkeypatch.setenv("WEDPERF_REMEDIATION__VERIFY_MIN_REQUESTS", "20")
    reset_settings_cache()
    fake_app.requests = 1
    alert = insert_alert(migrated_database_url, {"service": "sandbox"})
    thin = check(migrated_database_url, alert, confirm=0.8)
    assert (thin.recovered, thin.verified_by) == (False, "source")
    assert thin.detail.startswith("1 requests in the 0.2 s window (idle: fewer than 20)")


def test_quantile_interpolates_within_the_bucket_like_prometheus() -> None:
    before = {0.1: 10.0, 0.5: 10.0, 1.0: 10.0, math.inf: 10.0}
    after = {0.1: 60.0, 0.5: 100.0, 1.0: 110.0, math.inf: 110.0}  # 100 new: 50, 40, 10
    reading = quantile_of(before, after, 0.95)
    assert reading.requests == 100
    assert reading.value_s == pytest.approx(0.5 + 0.5 * 0.5)  # rank 95: halfway into (0.5, 1]
    assert quantile_of(after, after, 0.95).value_s is None


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


class Timeline:
    """`FakeApp.latency_s` by the time since the test began: `(until_s, latency)` spans, the
    last one for ever after (None: no requests)."""

    def __init__(self, fake: FakeApp, spans: list[tuple[float, float | None]]) -> None:
        self.fake, self.spans, self.began = fake, spans, time.monotonic()
        self.metrics = fake.metrics
        fake.metrics = self  # type: ignore[method-assign]

    async def __call__(self, request) -> Response:
        t = time.monotonic() - self.began
        self.fake.latency_s = next(
            (lat for until, lat in self.spans if t < until), self.spans[-1][1]
        )
        return await self.metrics(request)


def test_a_metric_is_verified_once_the_action_has_taken_effect(
    migrated_database_url: str, scripted_app: FakeApp
) -> None:
    """The new replicas serve only after a while (a pod start): 2 s until then. After the
    settle time the rule reads clear on consecutive windows: recovered, not escalated."""
    Timeline(scripted_app, [(0.3, 2.0), (math.inf, 0.02)])
    alert = insert_alert(migrated_database_url, {"service": "sandbox"})
    began = time.monotonic()
    result = check(migrated_database_url, alert, settle=0.5, confirm=1.0)
    assert (result.recovered, result.verified_by) == (True, "metric")
    assert "2 windows in a row" in result.detail and "no longer true" in result.detail
    # No window starts before the settle time: two whole windows after it.
    assert time.monotonic() - began >= 0.5 + 2 * RULE.window_s


def test_clear_windows_before_the_settle_time_do_not_count(
    migrated_database_url: str, scripted_app: FakeApp
) -> None:
    """Clear by luck just after the action (old replicas between bursts), firing once it
    has settled: windows ending before the settle time are not a recovery."""
    Timeline(scripted_app, [(0.6, 0.02), (math.inf, 2.0)])
    alert = insert_alert(migrated_database_url, {"service": "sandbox"}, status="resolved")
    began = time.monotonic()
    result = check(migrated_database_url, alert, settle=0.8, confirm=0.6)
    assert (result.recovered, result.verified_by) == (False, "metric")
    assert "still true" in result.detail and "(allowed 1 s: 1 s to settle + 1 s" in result.detail
    assert time.monotonic() - began >= 0.8 + 0.6 - RULE.window_s


def test_one_clear_window_is_not_a_recovery(
    migrated_database_url: str, scripted_app: FakeApp
) -> None:
    """bad, clear, bad, ... after the settle time: a single clear window is not a recovery
    (the source resolving on it does not make it one)."""
    Timeline(scripted_app, [(0.2, 2.0), (0.4, 0.02), (math.inf, 2.0)])
    alert = insert_alert(migrated_database_url, {"service": "sandbox"}, status="resolved")
    result = check(migrated_database_url, alert, confirm=1.0)
    assert (result.recovered, result.verified_by) == (False, "metric")
    assert "still true" in result.detail


def test_idle_windows_are_retried_until_the_metric_reads_clear(
    migrated_database_url: str, scripted_app: FakeApp
) -> None:
    """No traffic for a while after the action, then clear: read again, recovered by the
    metric (not handed to the source at the first idle window)."""
    scripted_app.histogram.labels("guest_list", "0").observe(0.01)
    Timeline(scripted_app, [(0.5, None), (math.inf, 0.02)])
    alert = insert_alert(migrated_database_url, {"service": "sandbox"})
    result = check(migrated_database_url, alert, confirm=1.5)
    assert (result.recovered, result.verified_by) == (True, "metric")


def test_a_metric_still_firing_when_the_bound_ends_is_not_recovered(
    migrated_database_url: str, scripted_app: FakeApp
) -> None:
    Timeline(scripted_app, [(math.inf, 2.0)])
    alert = insert_alert(migrated_database_url, {"service": "sandbox"})
    began = time.monotonic()
    result = check(migrated_database_url, alert, settle=0.4, confirm=0.6)
    assert (result.recovered, result.verified_by) == (False, "metric")
    assert 1.0 - RULE.window_s <= time.monotonic() - began < 1.0 + 2.0


def test_a_body_that_is_not_prometheus_text_is_unavailable_not_a_crash(
    migrated_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A proxy's 200 error page where /metrics should be: the window is unreadable (read
    again until the bound, then the source decides), not an exception that would leave the
    alert undecided after the playbook acted."""

    async def html(request) -> Response:
        return Response("<html><body>502 Bad Gateway</body></html>", media_type="text/html")

    with serve_in_thread(Starlette(routes=[Route("/metrics", html)])) as base_url:
        monkeypatch.setenv("WEDPERF_PROBES__BASE_URL", base_url)
        reset_settings_cache()
        alert = insert_alert(migrated_database_url, {"service": "sandbox"}, status="resolved")
        result = check(migrated_database_url, alert, settle=0.2, confirm=0.4)
    reset_settings_cache()
    assert (result.recovered, result.verified_by) == (True, "source")
    assert result.detail.startswith("metric unavailable") and "not Prometheus text" in result.detail


def test_a_confirm_span_shorter_than_the_windows_still_lets_a_clear_rule_recover(
    migrated_database_url: str, fake_app: FakeApp
) -> None:
    """verify_confirm below the two windows recovery needs is stretched to them: a rule that
    reads clear recovers by the metric instead of being escalated for want of time."""
    alert = insert_alert(migrated_database_url, {"service": "sandbox"})
    result = check(migrated_database_url, alert, settle=0.3, confirm=0.05)
    assert (result.recovered, result.verified_by) == (True, "metric")
