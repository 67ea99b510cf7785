"""Webhook receiver benchmark: sustained alerts/s accepted and stored, with latency.

Serves the receiver with uvicorn (`serve_in_thread`) over a scratch database, and drives it
from a separate load-generator process on the same machine: keep-alive HTTP/1.1 connections
posting Alertmanager v4 notifications (bearer token) at a fixed offered rate (open loop:
each request's latency is measured from its scheduled send time, so a stall is not hidden
by the generator waiting for it). Every alert is distinct (an insert, the costly case).
Afterwards every accepted alert is looked up in perf.alerts: `lost` counts those missing.
Inline dispatch is off here (no Prefect): bench/dispatch.py measures dispatch.

    uv run python bench/webhook.py [--rate 1200] [--seconds 20] [--alerts-per-notification 1]

Last line: {"accepted_per_s": ..., "p50_ms": ..., "p99_ms": ..., "lost": 0, ...}
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psycopg

from bench._common import progress, report, scratch_database
from wedperf.alerts.app import create_app
from wedperf.alerts.auth import Credentials
from wedperf.alerts.settings import WebhookSettings
from wedperf.serving import serve_in_thread

TOKEN = "bench-token-not-a-secret-0123456789abcdef"
CONNECTIONS = 32


def notification(first: int, count: int) -> bytes:
    """An Alertmanager v4 notification of `count` distinct alerts numbered from `first`."""
    alerts = [
        {
            "status": "firing",
            "labels": {
                "alertname": "GuestListSlow",
                "severity": "warning",
                "service": "guest-api",
                "instance": f"guest-api-{n % 50}:8080",
                "wedding_id": str(10_000 + n),
            },
            "annotations": {"summary": f"guest list p95 above 1s for wedding {10_000 + n}"},
            "startsAt": "2026-10-17T14:00:00.123456789Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus:9090/graph?g0.expr=guest_list_p95",
            "fingerprint": f"{n:016x}",
        }
        for n in range(first, first + count)
    ]
    return json.dumps(
        {
            "version": "4",
            "groupKey": '{}:{alertname="GuestListSlow"}',
            "truncatedAlerts": 0,
            "status": "firing",
            "receiver": "wedperf",
            "groupLabels": {"alertname": "GuestListSlow"},
            "commonLabels": {"alertname": "GuestListSlow", "severity": "warning"},
            "commonAnnotations": {},
            "externalURL": "http://alertmanager:9093",
            "alerts": alerts,
        }
    ).encode()


def _request(host: str, body: bytes) -> bytes:
    return (
        f"POST /alerts/alertmanager HTTP/1.1\r\nHost: {host}\r\n"
        f"Authorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body


async def _drive(base_url: str, rate: float, seconds: float, per: int) -> dict:
    """Offer `rate` notifications/s for `seconds`; returns latencies and status counts."""
    parts = urlsplit(base_url)
    total = int(rate * seconds)
    bodies = [_request(parts.netloc, notification(i * per, per)) for i in range(total)]
    start = time.perf_counter() + 0.2
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    accepted: list[int] = []
    next_index = 0

    async def connection() -> None:
        nonlocal next_index
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
        try:
            while next_index < total:
                i = next_index
                next_index += 1
                due = start + i / rate
                delay = due - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                writer.write(bodies[i])
                status_line = await reader.readline()
                length = 0
                while (line := await reader.readline()) not in (b"\r\n", b""):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                await reader.readexactly(length)
                latencies.append(time.perf_counter() - due)
                status = int(status_line.split()[1])
                statuses[status] = statuses.get(status, 0) + 1
                if status == 200:
                    accepted.append(i)
        finally:
            writer.close()

    await asyncio.gather(*(connection() for _ in range(CONNECTIONS)))
    elapsed = time.perf_counter() - start
    return {"latencies": latencies, "statuses": statuses, "accepted": accepted, "elapsed": elapsed}


def _generator(base_url: str, rate: float, seconds: float, per: int, out) -> None:
    out.send(asyncio.run(_drive(base_url, rate, seconds, per)))


def _percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=1000, method="inclusive")[int(q * 1000) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=1200, help="notifications per second")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--alerts-per-notification", type=int, default=1)
    args = parser.parse_args()
    per = args.alerts_per_notification

    settings = WebhookSettings(token=TOKEN, dispatch_inline=False)
    with scratch_database("wedperf_bench_webhook") as url:
        app = create_app(url, settings, Credentials.from_settings(settings))
        with serve_in_thread(app) as base_url:
            progress("warming up")
            _run_generator(base_url, 200, 1, per)
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute("TRUNCATE perf.alerts")
            progress(
                f"offering {args.rate:g} notifications/s ({args.rate * per:g} alerts/s) "
                f"for {args.seconds:g}s over {CONNECTIONS} connections"
            )
            load_before = os.getloadavg()[0]
            result = _run_generator(base_url, args.rate, args.seconds, per)
        with psycopg.connect(url) as conn:
            stored = {
                row[0]
                for row in conn.execute(
                    "SELECT fingerprint FROM perf.alerts WHERE source = %s", ("alertmanager",)
                )
            }
    expected = {f"{n:016x}" for i in result["accepted"] for n in range(i * per, i * per + per)}
    lost = len(expected - stored)
    latencies = sorted(result["latencies"])
    accepted_alerts = len(result["accepted"]) * per
    report(
        {
            "accepted_per_s": round(accepted_alerts / result["elapsed"], 1),
            "p50_ms": round(_percentile(latencies, 0.5) * 1000, 2),
            "p99_ms": round(_percentile(latencies, 0.99) * 1000, 2),
            "lost": lost,
            "offered_per_s": args.rate * per,
            "alerts_per_notification": per,
            "notifications": len(latencies),
            "statuses": {str(k): v for k, v in sorted(result["statuses"].items())},
            "stored": len(stored),
            "seconds": round(result["elapsed"], 2),
            # Other work on the machine skews every figure: the 1-minute load average
            # before the run (2 cores; above ~1 the benchmark shares them).
            "load_average_before": round(load_before, 2),
        }
    )


def _run_generator(base_url: str, rate: float, seconds: float, per: int) -> dict:
    receive, send = multiprocessing.Pipe(duplex=False)
    process = multiprocessing.get_context("spawn").Process(
        target=_generator, args=(base_url, rate, seconds, per, send), daemon=True
    )
    process.start()
    result = receive.recv()
    process.join(timeout=30)
    return result


if __name__ == "__main__":
    main()
