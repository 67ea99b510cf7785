"""Planning benchmark: a peak Saturday of weddings through plan-wedding-ops.

Seeds a scratch database with N weddings on one Saturday two days ahead (ceremonies every
5 minutes from 14:00 UTC, four time zones, 80-169 guests), registers the deployments the
plan targets on a local Prefect server (`PREFECT_API_URL` if set, else a temporary one on
SQLite, as the tests use; its start-up is not timed), then runs the flow that ships three
times: a dry run, the first plan, and a re-plan with nothing changed (which must create
and cancel nothing). Prints seconds and runs created for each.

    uv run python bench/plan.py [--weddings 2000]

Last line: {"weddings": N, "first_plan_seconds": ..., "runs_created": ...,
"replan_seconds": ..., "replan_created": 0, "replan_cancelled": 0, ...}
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psycopg

from bench._common import progress, report, scratch_database

ZONES = ("America/New_York", "America/Chicago", "America/Los_Angeles", "Europe/London")


def prefect_server() -> contextlib.AbstractContextManager:
    if os.environ.get("PREFECT_API_URL"):
        return contextlib.nullcontext()
    from prefect.testing.utilities import prefect_test_harness

    return prefect_test_harness(server_startup_timeout=120)


def next_saturday(now: datetime) -> datetime:
    """Midnight UTC of the first Saturday after today: its weddings are in the future and
    inside the 7-day planning horizon whatever the weekday (two days ahead, from a Friday,
    was eight days out: nothing planned)."""
    day = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return day + timedelta(days=(5 - day.weekday()) % 7)


def seed_weddings(url: str, count: int, day: datetime) -> None:
    with (
        psycopg.connect(url) as conn,
        conn.cursor().copy(
            "COPY perf.weddings (wedding_id, source, starts_at, ends_at, timezone, guest_count, "
            "status) FROM STDIN"
        ) as copy,
    ):
        for i in range(count):
            starts = day + timedelta(hours=14, minutes=5 * (i % 60))
            copy.write_row(
                (f"bench-{i}", "bench", starts, starts + timedelta(hours=6), ZONES[i % 4],
                 80 + i % 90, "confirmed")
            )  # fmt: skip


def register_deployments() -> None:
    from flows.capacity_floor import capacity_floor
    from flows.collect_metrics import collect_metrics
    from flows.prewarm_weddings import prewarm_weddings
    from flows.watch_wedding_day import watch_wedding_day

    for flow, name in (
        (prewarm_weddings, "prewarm-weddings"),
        (capacity_floor, "capacity-floor"),
        (collect_metrics, "collect-metrics-live"),
        (watch_wedding_day, "watch-wedding-day-live"),
    ):
        flow.to_deployment(name=name).apply()


def _total(reconciled: dict, key: str) -> int:
    return sum(counts.get(key, 0) for counts in reconciled.values() if isinstance(counts, dict))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weddings", type=int, default=2000)
    args = parser.parse_args()
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")

    day = next_saturday(datetime.now(UTC))
    with scratch_database("wedperf_bench_plan") as url, prefect_server():
        from flows.plan_wedding_ops import plan_wedding_ops
        from wedperf.config import reset_settings_cache

        os.environ["WEDPERF_DATABASE_URL"] = url
        reset_settings_cache()
        seed_weddings(url, args.weddings, day)
        register_deployments()
        progress(f"{args.weddings} weddings on {day:%A %Y-%m-%d}; planning (dry run first)")

        began = time.perf_counter()
        dry = plan_wedding_ops(dry_run=True)
        dry_seconds = time.perf_counter() - began
        progress(f"dry run: {len(dry['runs'])} runs in {dry_seconds:.1f} s")

        began = time.perf_counter()
        first = plan_wedding_ops()
        first_seconds = time.perf_counter() - began
        created = _total(first["reconciled"], "created")
        progress(f"first plan: {created} runs created in {first_seconds:.1f} s")

        began = time.perf_counter()
        again = plan_wedding_ops()
        replan_seconds = time.perf_counter() - began
        progress(
            f"re-plan: {_total(again['reconciled'], 'created')} created, "
            f"{_total(again['reconciled'], 'cancelled')} cancelled in {replan_seconds:.1f} s"
        )
    report(
        {
            "weddings": first["weddings"],
            "planned_runs": len(first["runs"]),
            "dry_run_seconds": round(dry_seconds, 2),
            "first_plan_seconds": round(first_seconds, 2),
            "runs_created": created,
            "replan_seconds": round(replan_seconds, 2),
            "replan_created": _total(again["reconciled"], "created"),
            "replan_cancelled": _total(again["reconciled"], "cancelled"),
            "reconciled_first": first["reconciled"],
        }
    )


if __name__ == "__main__":
    main()
