"""The Prometheus source against a real Prometheus scraping the sandbox app.

Needs the `prometheus` binary (Debian package `prometheus`; `.ci/run` installs it). Skipped
with the reason where it is absent.
"""

from __future__ import annotations

import math
import shutil
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
import psycopg
import pytest

from wedperf.config import PrometheusSettings
from wedperf.metrics.model import LATENCY_BUCKET, CollectWindow
from wedperf.metrics.sources import PrometheusSource
from wedperf.sandbox.app import create_app
from wedperf.sandbox.load import drive_load
from wedperf.sandbox.seed import seed_sandbox
from wedperf.serving import free_port, serve_in_thread

PROMETHEUS = shutil.which("prometheus")
pytestmark = pytest.mark.skipif(
    PROMETHEUS is None, reason="prometheus binary not on PATH (apt-get install prometheus)"
)


@pytest.fixture
def scraped_sandbox(
    migrated_database_url: str, redis_url: str, tmp_path: Path
) -> Iterator[tuple[str, str]]:
    with psycopg.connect(migrated_database_url) as conn:
        seed_sandbox(conn, weddings=20, days=10, seed=4, start=date.today(), now=datetime.now(UTC))
    with serve_in_thread(create_app(migrated_database_url, redis_url)) as app_url:
        port = free_port()
        config = tmp_path / "prometheus.yml"
        config.write_text(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
            "scrape_configs:\n  - job_name: wedapp\n    static_configs:\n"
            f"      - targets: ['{app_url.removeprefix('http://')}']\n"
        )
        process = subprocess.Popen(
            [
                PROMETHEUS,
                f"--config.file={config}",
                f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        prometheus_url = f"http://127.0.0.1:{port}"
        try:
            _wait_ready(prometheus_url)
            yield app_url, prometheus_url
        finally:
            process.terminate()
            process.wait(timeout=20)


def _wait_ready(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/-/ready", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"Prometheus at {url} did not become ready")


def _series_count(url: str, promql: str) -> int:
    body = httpx.get(f"{url}/api/v1/query", params={"query": promql}, timeout=5).json()
    return len(body["data"]["result"])


def test_per_wedding_latency_from_a_real_prometheus(scraped_sandbox: tuple[str, str]) -> None:
    app_url, prometheus_url = scraped_sandbox
    weddings = [1, 2, 3]
    # A counter's first scraped value is Prometheus's baseline (what came before it is not an
    # increase), so the series are created and scraped first, then the counted load runs.
    drive_load(app_url, weddings, requests=60, concurrency=4, seed=99)
    deadline = time.monotonic() + 20
    guest_series = 'wedapp_request_duration_seconds_count{operation="guest_list"}'
    while _series_count(prometheus_url, guest_series) < len(weddings):
        assert time.monotonic() < deadline, "Prometheus never scraped the sandbox app"
        time.sleep(0.5)
    time.sleep(2)
    began = datetime.now(UTC)
    sent = 0
    for round_no in range(6):  # over several scrapes, so each step has points
        summary = drive_load(app_url, weddings, requests=30, concurrency=4, seed=round_no)
        sent += summary.operations["guest_list"].count if "guest_list" in summary.operations else 0
        time.sleep(1)
    time.sleep(7)  # longer than a step: the last step of load is whole inside the window

    # Steps of several scrapes each: increase() over a step with only two scrapes (late
    # under a loaded machine) misses whole steps and undercounts the requests.
    settings = PrometheusSettings(url=prometheus_url, step_seconds=6)
    window = CollectWindow(start=began, end=datetime.now(UTC) + timedelta(seconds=2))
    samples = PrometheusSource(settings).collect(window)

    guest_list = [s for s in samples if s.operation == "guest_list"]
    assert guest_list, f"no guest_list samples among {len(samples)}"
    assert {s.wedding_id for s in guest_list} <= {str(w) for w in weddings}
    assert {s.attributed_by for s in guest_list} == {"label"}
    assert {s.metric for s in samples} == {LATENCY_BUCKET}
    assert all(s.value >= 0 and s.le is not None for s in samples)
    assert all(window.start <= s.ts < window.end for s in samples)
    # The +Inf buckets count the requests: increase() extrapolates to the edges of each step,
    # so the sum is close to, not exactly, what was sent.
    counted = sum(s.value for s in guest_list if s.le == math.inf)
    assert 0.5 * sent <= counted <= 1.5 * sent, (counted, sent)
