"""`wedperf demo` end to end, as a newcomer runs it: a fresh home directory, no services
configured, no Prefect server — everything embedded, started and (with --stop-prefect) stopped.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import matplotlib.image
import pytest
import yaml

from wedperf.services import stop_embedded_postgres, stop_embedded_redis

ROOT = Path(__file__).resolve().parents[1]
# The demo registers every deployment prefect.yaml declares.
DEPLOYMENTS = len(yaml.safe_load((ROOT / "prefect.yaml").read_text())["deployments"])

pytestmark = pytest.mark.slow


def _processes_of(home: Path) -> list[int]:
    """Processes started for this home: its HOME in their environment, or its path in their
    command line (Redis rewrites its title over its environment)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            environ = (proc / "environ").read_bytes().split(b"\0")
            cmdline = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        if f"HOME={home}".encode() in environ or f"{home}/".encode() in cmdline:
            found.append(int(proc.name))
    return found


def _stop_what_the_demo_left(home: Path) -> None:
    """The embedded PostgreSQL and Redis the demo keeps (if a test did not stop them), then,
    by pid, anything else of this home a failed or timed-out demo left running."""
    data_dir = home / ".wedperf"
    stop_embedded_redis(data_dir)
    stop_embedded_postgres(data_dir)
    for pid in _processes_of(home):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 30
    while (left := _processes_of(home)) and time.monotonic() < deadline:
        time.sleep(0.2)
    for pid in left:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    # Not under pytest's base temp: the embedded PostgreSQL runs as another user, for whom
    # pgserver opens the home's parents, and a pytest session started meanwhile on the same
    # machine closes its temp root again (0700) or rotates old base temps away.
    home = Path(tempfile.mkdtemp(prefix="wedperf-test-demo-home-"))
    out = tmp_path_factory.mktemp("demo") / "wedperf-demo"
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("WEDPERF_", "PREFECT_")) or k == "PREFECT_SERVER_ANALYTICS_ENABLED"
    }
    env.update(HOME=str(home), PREFECT_SERVER_ANALYTICS_ENABLED="false")
    done = subprocess.run(
        [
            str(Path(sys.executable).parent / "wedperf"),
            "demo",
            "--out",
            str(out),
            "--stop-prefect",
            "--weddings",
            "300",
            "--days",
            "120",
            "--requests",
            "200",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    try:
        yield {"done": done, "out": out, "home": home, "env": env}
    finally:
        _stop_what_the_demo_left(home)
        shutil.rmtree(home, ignore_errors=True)


def test_demo_completes_and_prints_every_step(demo_run: dict) -> None:
    done = demo_run["done"]
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    for step in (
        "starting embedded PostgreSQL and Redis",
        "starting the local Prefect server",
        "registering the deployments of prefect.yaml",
        "calendar sync",
        "one collection round",
        "forecasting",
        "planning pre-warm and capacity-floor runs",
        "pre-warming wedding",
        "raising the capacity floor",
        "starting a Prefect process worker",
        "firing an Alertmanager alert",
        "executing the remediation run on the worker",
        "restoring the capacity floor",
        "weddings that have happened moved onto",
        "modelling the past on the sandbox",
        "watch rounds every 5 min on the modelled clock",
        "building the evidence report",
        "stopping the worker",
        "stopping the local Prefect server",
    ):
        assert step in done.stderr, f"step {step!r} not reported"
    assert "wedperf demo complete" in done.stdout
    assert re.search(
        rf"Prefect UI: http://127\.0\.0\.1:\d+ \({DEPLOYMENTS} deployments", done.stdout
    )


def test_demo_summary_and_remediation(demo_run: dict) -> None:
    summary = json.loads((demo_run["out"] / "summary.json").read_text())
    assert summary["remediation"]["state"] == "recovered"
    assert summary["plan_runs"] > 0
    assert summary["totals"]["weddings"] > 0 and summary["totals"]["samples"] > 0
    assert len(summary["deployments"]) == DEPLOYMENTS
    assert summary["prefect_api"] == summary["prefect_ui"] + "/api"
    # Every flow run of the story was executed by the worker the demo started.
    assert summary["worker"]["runs_completed"] >= 10, summary["worker"]
    assert summary["worker"]["runs_failed"] == 0, summary["worker"]
    # The server and the worker it started are stopped by pid: nothing left running.
    prefect_home = demo_run["home"] / ".wedperf" / "prefect"
    assert not (prefect_home / "demo-server.json").exists()
    for pid in filter(None, summary["processes"].values()):
        assert not Path(f"/proc/{pid}").exists(), f"process {pid} still running"


def test_demo_report_exists_with_non_empty_figures(demo_run: dict) -> None:
    summary = json.loads((demo_run["out"] / "summary.json").read_text())
    report = Path(summary["report"])
    assert report.is_file() and report.is_relative_to(demo_run["out"])
    html = report.read_text()
    assert html.count("data:image/png;base64,") >= 4
    figures = [Path(p) for p in summary["evidence"]["figures"]]
    assert len(figures) >= 4
    for figure in figures:
        pixels = matplotlib.image.imread(figure)
        assert pixels.std() > 0.01, f"{figure.name} is blank"


def test_services_stop_ends_the_embedded_services_the_demo_left(demo_run: dict) -> None:
    """The demo keeps its embedded PostgreSQL and Redis for the commands a user runs next;
    `wedperf services stop`, which the demo's output names, must end both processes."""
    assert "wedperf services stop" in demo_run["done"].stdout
    data_dir = demo_run["home"] / ".wedperf"
    pids = [
        int((data_dir / "postgres" / "postmaster.pid").read_text().splitlines()[0]),
        int((data_dir / "redis" / "redis.pid").read_text().strip()),
    ]
    stopped = subprocess.run(
        [str(Path(sys.executable).parent / "wedperf"), "services", "stop"],
        cwd=ROOT,
        env=demo_run["env"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert "postgres: stopped" in stopped.stdout and "redis:    stopped" in stopped.stdout
    for pid in pids:
        assert not Path(f"/proc/{pid}").exists(), f"process {pid} still running"


def test_demo_measures_the_effects(demo_run: dict) -> None:
    """Pre-warm A/B, the floor raise and the recovery are measured, not staged. Latencies are
    reported, not asserted (CI shares its cores); what must hold is what they stand on."""
    summary = json.loads((demo_run["out"] / "summary.json").read_text())
    prewarm = summary["prewarm"]
    assert prewarm["cold_p95_ms"] > 0 and prewarm["warm_p95_ms"] > 0
    assert not set(prewarm["warm_weddings"]) & set(prewarm["cold_weddings"])
    touches = 2 * len(prewarm["warm_weddings"])
    assert prewarm["cache_hits"] == {"warm": touches, "cold": 0}  # served from the pre-warm
    capacity = summary["capacity"]
    assert capacity["floor_after"] > capacity["floor_before"]  # wedperf's policy raised it
    assert capacity["p95_before_ms"] > 0 and capacity["p95_after_ms"] > 0
    remediation = summary["remediation"]
    assert remediation["verified_by"] == "metric"
    assert remediation["metric"]["breach_ms"] > remediation["metric"]["threshold_ms"]


def test_demo_reports_a_whole_wedding_day_and_today(demo_run: dict) -> None:
    """The report covers yesterday (a wedding day that has happened on the sandbox: its
    forecast made before it, every wedding watched round by round across its day window)
    and today's live part, and every figure of it has numbers behind it."""
    summary = json.loads((demo_run["out"] / "summary.json").read_text())
    counts = summary["evidence"]["counts"]
    assert counts["hours_with_actuals"] >= 24, counts
    assert counts["min_hours_with_actuals"] >= 24, counts
    assert counts["weddings_completed"] >= 1, counts
    assert counts["min_rounds_per_wedding"] >= 24, counts
    assert counts["weddings_under_way"] >= 1 and counts["min_rounds_per_wedding_under_way"] >= 1
    assert counts["weddings_with_budgets"] >= counts["weddings_completed"]
    assert counts["measured_load_points"] > 0
    scope = summary["evidence"]["scope"]
    history = summary["history"]
    assert scope["day"] == history["day"] and scope["label"].startswith(history["day"] + " to ")
    # The forecast of yesterday was made before it: fitted on the history to its midnight.
    assert history["forecast_origin"] == history["start"] == scope["start"]
    assert history["requests"] > 0 and history["min_rounds"] >= 1

    evidence = json.loads(Path(summary["evidence"]["json"]).read_text())
    sections = evidence["sections"]
    assert not any(s["empty"] for k, s in sections.items() if k != "advisor"), sections
    base = Path(summary["evidence"]["json"]).parent
    for key, section in sections.items():
        for name in section["figure_data"]:
            data = json.loads((base / name).read_text())
            assert _has_data(key, data), f"{name} has no data"


def _has_data(section: str, data: dict) -> bool:
    if section == "forecast_vs_actual":
        return all(any(h["actual"] is not None for h in s["hours"]) for s in data["series"])
    if section == "capacity":
        return bool(data["measured_load"]) and bool(data["calendar_load"])
    if section == "critical_path":
        return any(e["value"] is not None for c in data["checks"] for e in c["evaluations"])
    if section == "error_budgets":
        return bool(data["slos"]) and all(
            p["remaining"] is not None for s in data["slos"] for p in s["points"]
        )
    if section == "alerts_actions":
        return bool(data["alerts"]) or bool(data["actions"])
    return True
