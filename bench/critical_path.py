"""Critical-path benchmark: one watch round over 1,000 concurrent weddings.

Seeds the sandbox in a scratch database with N weddings (default 1,000), moves every one of
them so their ceremonies fall within two hours of one instant (all in their day window at
once, like a peak October Saturday), stores 15 minutes of latency samples for each, then runs
the `watch-wedding-day` flow for that instant through Prefect (a local ephemeral server;
its start-up is not counted). The round includes evaluation, storing the checks, alerts and
two artifacts per wedding.

    uv run python bench/critical_path.py [--weddings N]

The first round publishes every wedding's artifacts; the next one (5 minutes later) only
those whose check statuses changed or whose periodic refresh is due.

Last line: {"weddings": N, "round_seconds": ..., "interval_seconds": 300,
"next_round_seconds": ..., "next_round_artifacts_for": ..., ...}
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psycopg

from bench._common import progress, report, scratch_database
from wedperf.calendar import AppDbCalendarSource, sync_calendar
from wedperf.config import get_settings, reset_settings_cache
from wedperf.db.connection import get_pool
from wedperf.metrics.model import LATENCY, Sample
from wedperf.metrics.store import store_samples
from wedperf.sandbox.seed import seed_sandbox

AT = datetime(2026, 10, 17, 22, 0, tzinfo=UTC)  # a Saturday in October
MOVES = {
    "app.weddings": ("id", ("ceremony_at", "reception_ends_at")),
    "app.timeline_items": ("wedding_id", ("scheduled_at", "started_at", "completed_at")),
    "app.vendor_notifications": ("wedding_id", ("sent_at", "delivered_at", "acknowledged_at")),
    "app.guest_checkins": ("wedding_id", ("checked_in_at",)),
    "app.incidents": ("wedding_id", ("opened_at", "first_response_at", "resolved_at")),
}


def make_concurrent(conn: psycopg.Connection, weddings: int) -> None:
    """Shift each wedding's whole day so ceremonies spread over AT - 2 h .. AT + 1 h."""
    conn.execute(
        "CREATE TEMP TABLE shift AS SELECT id, "
        "(%(at)s::timestamptz - interval '2 hours' + (row_number() OVER (ORDER BY id) - 1) "
        "* (interval '3 hours' / %(n)s)) - ceremony_at AS delta FROM app.weddings",
        {"at": AT, "n": weddings},
    )
    conn.execute("UPDATE app.weddings SET status = 'confirmed'")
    for table, (key, columns) in MOVES.items():
        sets = ", ".join(f"{c} = t.{c} + s.delta" for c in columns)
        conn.execute(
            f"UPDATE {table} t SET {sets} FROM shift s WHERE s.id = t.{key}"  # noqa: S608
        )
    conn.commit()


def latency_samples(wedding_ids: list[str]) -> list[Sample]:
    samples = []
    for n, wedding_id in enumerate(wedding_ids):
        for op_index, operation in enumerate(
            ("guest_list", "timeline_sync", "photo_upload", "vendor_notify")
        ):
            for minute in range(15):
                samples.append(
                    Sample(
                        AT - timedelta(minutes=minute, seconds=op_index),
                        "probe",
                        LATENCY,
                        operation,
                        f"bench:{operation}:{wedding_id}",
                        wedding_id,
                        "url",
                        0.05 + ((n * 7 + minute) % 40) / 100,
                    )
                )
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weddings", type=int, default=1000)
    args = parser.parse_args()
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")

    with scratch_database() as url:
        progress(f"seeding {args.weddings} weddings and moving them into one afternoon")
        with psycopg.connect(url) as conn:
            seed_sandbox(
                conn,
                weddings=args.weddings,
                days=1,
                seed=1,
                start=date(2026, 10, 17),
                now=AT + timedelta(days=2),
            )
            make_concurrent(conn, args.weddings)
            sync_calendar(conn, AppDbCalendarSource(url), now=AT - timedelta(days=1))
            ids = [
                r[0]
                for r in conn.execute(
                    "SELECT wedding_id FROM perf.weddings WHERE status <> 'cancelled'"
                )
            ]
        store_samples(get_pool(url), latency_samples(ids))

        os.environ["WEDPERF_DATABASE_URL"] = url
        os.environ.setdefault("WEDPERF_REDIS_URL", "redis://127.0.0.1:6379/15")
        reset_settings_cache()
        interval = get_settings().critical_path.interval.total_seconds()

        from flows.watch_wedding_day import watch_wedding_day

        progress("starting Prefect (not timed) with a round of no weddings")
        watch_wedding_day(at=AT - timedelta(days=30))
        progress("timing one watch round")
        began = time.perf_counter()
        summary = watch_wedding_day(at=AT)
        round_seconds = time.perf_counter() - began
        progress("timing the next round (artifacts only where a status changed or due)")
        began = time.perf_counter()
        steady = watch_wedding_day(at=AT + timedelta(minutes=5))
        steady_seconds = time.perf_counter() - began
        began = time.perf_counter()
        watch_wedding_day(at=AT + timedelta(minutes=10), publish_artifacts=False)
        evaluate_seconds = time.perf_counter() - began

    report(
        {
            "weddings": summary["weddings"],
            "round_seconds": round(round_seconds, 2),
            "interval_seconds": int(interval),
            "next_round_seconds": round(steady_seconds, 2),
            "next_round_artifacts_for": steady["artifacts_published_for"],
            "round_without_artifacts_seconds": round(evaluate_seconds, 2),
            "breaches": sum(summary["breaches"].values()),
            "prefect_api": os.environ.get("PREFECT_API_URL") or "ephemeral (SQLite)",
        }
    )


if __name__ == "__main__":
    main()
