"""Dispatch benchmark: latency from an alert's POST to its remediation flow run created.

Serves the receiver (uvicorn, `serve_in_thread`) over a scratch database with inline
dispatch on, against a local Prefect server (`PREFECT_API_URL` if set, else a temporary
one on SQLite, as the tests use; its start-up is not timed) with the `remediate-alert`
deployment registered. Posts one Alertmanager notification per alert at a steady rate, then
reads each run's creation time from the API: latency = run.created - time the POST began
(one machine, one clock).

    uv run python bench/dispatch.py [--alerts 120] [--rate 4]

Last line: {"p50_ms": ..., "p95_ms": ..., "alerts": N, "dispatched_inline": N, ...}
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx
import psycopg

from bench._common import progress, report, scratch_database
from wedperf.alerts.app import create_app
from wedperf.alerts.auth import Credentials
from wedperf.alerts.samples import alertmanager_alert, alertmanager_notification
from wedperf.alerts.settings import WebhookSettings
from wedperf.serving import serve_in_thread

TOKEN = "bench-token-not-a-secret-0123456789abcdef"


def prefect_server() -> contextlib.AbstractContextManager:
    if os.environ.get("PREFECT_API_URL"):
        return contextlib.nullcontext()
    from prefect.testing.utilities import prefect_test_harness

    return prefect_test_harness(server_startup_timeout=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alerts", type=int, default=120)
    parser.add_argument("--rate", type=float, default=4.0, help="alerts per second")
    args = parser.parse_args()
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")

    settings = WebhookSettings(token=TOKEN)
    run_started = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    with scratch_database("wedperf_bench_dispatch") as url, prefect_server():
        from prefect.client.orchestration import get_client
        from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

        from flows.remediate_alert import remediate_alert

        remediate_alert.to_deployment(name="remediate-alert").apply()
        app = create_app(url, settings, Credentials.from_settings(settings))
        posted: dict[int, float] = {}
        with (
            serve_in_thread(app) as base_url,
            httpx.Client(base_url=base_url, headers={"authorization": f"Bearer {TOKEN}"}) as http,
        ):
            progress("warming up (one alert, not timed)")
            warm = alertmanager_notification([alertmanager_alert(999_999, starts_at=run_started)])
            http.post("/alerts/alertmanager", json=warm).raise_for_status()
            _wait_dispatched(url, 1, timeout=60)
            progress(f"posting {args.alerts} alerts at {args.rate:g}/s")
            load_before = os.getloadavg()[0]
            began = time.perf_counter()
            for n in range(args.alerts):
                delay = began + n / args.rate - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                body = alertmanager_notification([alertmanager_alert(n, starts_at=run_started)])
                sent = time.time()
                response = http.post("/alerts/alertmanager", json=body)
                response.raise_for_status()
                posted[response.json()["alert_ids"][0]] = sent
            dispatched = _wait_dispatched(url, args.alerts + 1, timeout=120)
        with psycopg.connect(url) as conn:
            run_ids = dict(
                conn.execute(
                    "SELECT alert_id, flow_run_id FROM perf.alerts WHERE flow_run_id IS NOT NULL"
                )
            )
        with get_client(sync_client=True) as client:
            ids = [run_ids[a] for a in posted if a in run_ids]
            created = {}
            for i in range(0, len(ids), 200):
                for run in client.read_flow_runs(
                    flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=ids[i : i + 200])),
                    limit=200,
                ):
                    created[run.id] = run.created.timestamp()
    latencies = sorted(
        (created[run_ids[a]] - sent) * 1000
        for a, sent in posted.items()
        if a in run_ids and run_ids[a] in created
    )
    quantiles = statistics.quantiles(latencies, n=100, method="inclusive")
    report(
        {
            "p50_ms": round(quantiles[49], 1),
            "p95_ms": round(quantiles[94], 1),
            "max_ms": round(latencies[-1], 1),
            "alerts": args.alerts,
            "runs_found": len(latencies),
            "dispatched_inline": dispatched - 1,
            "rate_per_s": args.rate,
            "prefect_api": os.environ.get("PREFECT_API_URL") or "temporary local server (SQLite)",
            "load_average_before": round(load_before, 2),
        }
    )


def _wait_dispatched(url: str, count: int, timeout: float) -> int:
    """Wait until `count` alerts are dispatched (inline); returns how many are."""
    deadline = time.monotonic() + timeout
    with psycopg.connect(url, autocommit=True) as conn:
        while True:
            done = conn.execute(
                "SELECT count(*) FROM perf.alerts WHERE dispatch_state = 'dispatched'"
            ).fetchone()[0]
            if done >= count or time.monotonic() > deadline:
                return done
            time.sleep(0.1)


if __name__ == "__main__":
    main()
