"""Scale-out benchmark: a 20,000-wedding Saturday planned, then watched by 1 and 2 workers.

Seeds a scratch database with N weddings (default 20,000) on the next Saturday at least two
days ahead (ceremonies 14:00-18:55 UTC, four time zones, as bench/plan.py), starts a local
Prefect server (the demo's helper, SQLite, in a temporary PREFECT_HOME), and measures:

- planning: `plan-wedding-ops` once (seconds, runs created), then again with nothing
  changed (runs created: must be 0);
- a critical-path watch round at an instant when every wedding is live, its shards run on
  a process work pool by 1, then 2 workers (`prefect worker start --limit 1`: one flow run
  at a time each, so a worker is one core's worth), each at its own round instant: seconds,
  weddings evaluated, duplicates (a wedding evaluated by two shards: must be 0), and
  weddings per worker-core per 5-minute interval;
- a collection round at that instant (`--collect-weddings`, default 2,000, 0 for none): its
  per-wedding probes (one target, the sandbox app's /healthz per wedding, served by this
  process) in shards of `--collect-shard-size` on the same workers: seconds, weddings
  probed and duplicates (a wedding with more than one sample of a target in the round: must
  be 0), both counted in perf.samples (the probe samples stamped while the round ran), not
  from what the shards reported; shards.

The app's tables hold no rows for these weddings (the calendar is seeded, not the day's
guests and vendors): each check still reads its data, evaluates and stores a row per
wedding and check, and the breaches that absence reads as fire alerts, so the round is the
full write path; artifacts are not published (their cost is bench/critical_path.py's).
Rounds wait at most the shard timeout (the interval is stretched to 30 min here, so a slow
1-worker round is measured, not cut off).

    uv run python bench/scale.py [--weddings 20000] [--shard-size 1000] [--workers 1,2]
        [--collect-weddings 2000] [--collect-shard-size 500]

Last line: {"weddings": N, "plan_seconds": ..., "replan_runs": 0,
"rounds": [{"workers": 1, "round_seconds": ..., "evaluated": N, "duplicates": 0,
"collect": {"collect_seconds": ..., "probed": ..., "duplicates": 0, ...}}, ...], ...}
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psycopg

from bench._common import progress, report, scratch_database
from bench.plan import ZONES, _total, next_saturday, register_deployments
from cli.demo.prefect_server import (
    LocalProcess,
    ensure_local_server,
    prefect_command,
    stop_process,
)
from wedperf.sandbox.app import create_app
from wedperf.serving import serve_in_thread

ROOT = Path(__file__).resolve().parents[1]
POOL = "wedperf-bench"
SHARD_DEPLOYMENT = "watch-wedding-shard/watch-wedding-shard"
# One cheap per-wedding probe target, so a collection round measures the shards, not the app.
PROBE_TARGETS = (
    '[{"name": "wedding-health", "operation": "platform", "per_wedding": true, '
    '"url": "{base_url}/healthz?wedding={wedding_id}"}]'
)
INTERVAL_S = 300  # the production watch interval the per-core figure is expressed in


def start_worker(env: dict[str, str], log: Path) -> LocalProcess:
    """A process worker on the bench pool running one flow run at a time (cli.demo's
    start_worker, plus `--limit 1`)."""
    env = {**env, "PREFECT_WORKER_QUERY_SECONDS": "1", "PREFECT_WORKER_PREFETCH_SECONDS": "5"}
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [*prefect_command(), "worker", "start", "--pool", POOL, "--type", "process",
             "--limit", "1"],
            cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=sink,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    return LocalProcess(process.pid, log)


def wait_for_workers(count: int, timeout: float = 120.0) -> None:
    from prefect.client.orchestration import get_client

    deadline = time.monotonic() + timeout
    with get_client(sync_client=True) as client:
        while time.monotonic() < deadline:
            online = [
                w for w in client.read_workers_for_work_pool(POOL) if w.status.value == "ONLINE"
            ]
            if len(online) >= count:
                return
            time.sleep(1.0)
    raise RuntimeError(f"{count} worker(s) did not come online on {POOL} in {timeout:.0f} s")


def deploy_shards() -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate

    from flows.collect_metrics_shard import collect_metrics_shard
    from flows.watch_wedding_shard import watch_wedding_shard

    with get_client(sync_client=True) as client:
        client.create_work_pool(WorkPoolCreate(name=POOL, type="process"), overwrite=True)
    for shard_flow in (watch_wedding_shard, collect_metrics_shard):
        shard_flow.to_deployment(
            name=shard_flow.name, work_pool_name=POOL, job_variables={"working_dir": str(ROOT)}
        ).apply()


def seed_weddings(url: str, count: int, day: datetime) -> None:
    """bench/plan.py's Saturday, with numeric ids (the app's wedding ids are bigints)."""
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
                (str(900_000 + i), "bench", starts, starts + timedelta(hours=6), ZONES[i % 4],
                 80 + i % 90, "confirmed")
            )  # fmt: skip


def seed_app_views(url: str) -> None:
    """The app schema and the wedperf_src views (one sandbox wedding; the benchmark's
    weddings have no rows of their own there)."""
    from wedperf.sandbox.seed import seed_sandbox

    with psycopg.connect(url) as conn:
        seed_sandbox(conn, weddings=1, days=1, seed=1, start=date(2026, 1, 3))


def probed_between(url: str, since: datetime, until: datetime) -> tuple[int, int]:
    """Weddings with a per-wedding probe sample stamped in [since, until] (probes are
    stamped when they run), and those among them with more than one sample of a target."""
    with psycopg.connect(url) as conn:
        probed, doubled = conn.execute(
            "SELECT count(DISTINCT wedding_id), count(DISTINCT wedding_id) FILTER (WHERE n > 1) "
            "FROM (SELECT wedding_id, series, count(*) AS n FROM perf.samples "
            "      WHERE source = 'probe' AND wedding_id IS NOT NULL AND ts BETWEEN %s AND %s "
            "      GROUP BY wedding_id, series) AS per_target",
            (since, until),
        ).fetchone()
    return probed, doubled


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weddings", type=int, default=20_000)
    parser.add_argument("--shard-size", type=int, default=1000)
    parser.add_argument("--workers", default="1,2", help="worker counts, in order")
    parser.add_argument("--collect-weddings", type=int, default=2000)
    parser.add_argument("--collect-shard-size", type=int, default=500)
    args = parser.parse_args()
    counts = [int(n) for n in args.workers.split(",")]

    home = Path(tempfile.mkdtemp(prefix="wedperf-bench-scale-"))
    os.environ.update(
        {
            "PREFECT_HOME": str(home / "prefect"),
            "PREFECT_LOGGING_LEVEL": "WARNING",
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_RESULTS_LOCAL_STORAGE_PATH": str(home / "prefect" / "results"),
            "WEDPERF_REDIS_URL": os.environ.get("WEDPERF_REDIS_URL", "redis://127.0.0.1:6379/9"),
            "WEDPERF_CRITICAL_PATH__SHARD_SIZE": str(args.shard_size),
            "WEDPERF_CRITICAL_PATH__INTERVAL": "PT30M",
            "WEDPERF_COLLECT_SHARD_SIZE": str(args.collect_shard_size),
            "WEDPERF_PROBES__MAX_WEDDINGS": str(max(args.collect_weddings, 1)),
            "WEDPERF_PROBES__TARGETS": PROBE_TARGETS,
            "WEDPERF_PROBES__TIMEOUT_SECONDS": "30",
        }
    )
    os.chdir(ROOT)  # deployments name their entrypoints relative to the checkout
    day = next_saturday(datetime.now(UTC))
    rounds, workers = [], []
    server = None
    with scratch_database("wedperf_bench_scale") as url, contextlib.ExitStack() as app:
        os.environ["WEDPERF_DATABASE_URL"] = url
        try:
            progress(f"seeding {args.weddings} weddings on {day:%A %Y-%m-%d}")
            seed_app_views(url)
            seed_weddings(url, args.weddings, day)
            base_url = app.enter_context(
                serve_in_thread(create_app(url, os.environ["WEDPERF_REDIS_URL"]))
            )
            os.environ["WEDPERF_PROBES__BASE_URL"] = base_url
            progress("starting a local Prefect server (not timed)")
            server = ensure_local_server(home / "prefect")
            os.environ["PREFECT_API_URL"] = server.api_url
            from wedperf.config import reset_settings_cache

            reset_settings_cache()
            register_deployments()
            deploy_shards()

            from flows.plan_wedding_ops import plan_wedding_ops

            began = time.perf_counter()
            first = plan_wedding_ops()
            plan_seconds = time.perf_counter() - began
            created = _total(first["reconciled"], "created")
            progress(f"plan: {created} runs created in {plan_seconds:.1f} s")
            began = time.perf_counter()
            again = plan_wedding_ops()
            replan_seconds = time.perf_counter() - began
            replan_runs = _total(again["reconciled"], "created")
            progress(f"re-plan: {replan_runs} runs created in {replan_seconds:.1f} s")

            from flows.collect_metrics import collect_metrics
            from flows.watch_wedding_day import watch_wedding_day

            # A collection round waits one dense interval for its shards: stretched after
            # planning (which spaces collection runs by it), so a slow round is measured.
            os.environ["WEDPERF_DENSE_COLLECT_INTERVAL"] = "PT10M"
            reset_settings_cache()

            env = dict(os.environ)
            for n, count in enumerate(counts):
                while len(workers) < count:
                    log = home / f"worker-{len(workers) + 1}.log"
                    workers.append(start_worker(env, log))
                wait_for_workers(count)
                at = day + timedelta(hours=17, minutes=30 * n)  # every wedding is live
                progress(f"round at {at:%H:%M} UTC with {count} worker(s)")
                began = time.perf_counter()
                summary = watch_wedding_day(at=at, publish_artifacts=False)
                seconds = time.perf_counter() - began
                rounds.append(
                    {
                        "workers": count,
                        "round_seconds": round(seconds, 1),
                        "weddings": summary["weddings"],
                        "evaluated": summary["evaluated"],
                        "duplicates": summary["duplicates"],
                        "shards": summary["shards"],
                        "shards_failed": len(summary["shards_failed"]),
                        "shards_late": len(summary["shards_late"]),
                        "shards_unread": len(summary["shards_unread"]),
                        "weddings_per_worker_core_per_interval": round(
                            summary["evaluated"] / seconds * INTERVAL_S / count
                        ),
                    }
                )
                if args.collect_weddings:
                    since, began = datetime.now(UTC), time.perf_counter()
                    state = collect_metrics(lookback_minutes=5, end=at, return_state=True)
                    seconds = time.perf_counter() - began
                    probed, doubled = probed_between(url, since, datetime.now(UTC))
                    collected = state.result(raise_on_failure=False)
                    rounds[-1]["collect"] = {
                        "collect_seconds": round(seconds, 1),
                        "probed": probed,
                        "duplicates": doubled,
                        "probed_reported": collected["evaluated"],
                        "shards": collected["shards"],
                        "shards_failed": len(collected["shards_failed"]),
                        "shards_late": len(collected["shards_late"]),
                        "shards_unread": len(collected["shards_unread"]),
                        "failed_sources": sorted(collected["failed_sources"]),
                    }
                progress(f"  {rounds[-1]}")
        finally:
            for worker in workers:
                stop_process(worker)
            if server is not None and server.process is not None:
                stop_process(server.process)
            shutil.rmtree(home, ignore_errors=True)
    report(
        {
            "weddings": args.weddings,
            "plan_seconds": round(plan_seconds, 1),
            "planned_runs_created": created,
            "replan_seconds": round(replan_seconds, 1),
            "replan_runs": replan_runs,
            "shard_size": args.shard_size,
            "collect_weddings": args.collect_weddings,
            "collect_shard_size": args.collect_shard_size,
            "rounds": rounds,
            "cpus": os.cpu_count(),
            "load_average": os.getloadavg(),
        }
    )


if __name__ == "__main__":
    main()
