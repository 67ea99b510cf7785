"""Latency as events: quantiles of merged histograms against the raw requests, on real
PostgreSQL; the migration of stored data; and a guard that no code takes a percentile of
stored percentiles."""

from __future__ import annotations

import ast
import math
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import psycopg
import pytest

from wedperf.critical_path import checks
from wedperf.db.migrate import load_migrations, migrate
from wedperf.metrics.histogram import (
    INF,
    ROLLUP_BOUNDS,
    Histogram,
    from_events,
    le_label,
    merge,
    quantile_of_events,
)
from wedperf.metrics.model import LATENCY, LATENCY_BUCKET, Sample
from wedperf.metrics.store import merged_histogram, rollup_minutes, write_samples
from wedperf.sandbox.telemetry import LATENCY_BUCKETS

ROOT = Path(__file__).resolve().parents[1]
T0 = datetime(2026, 10, 17, 20, 0, tzinfo=UTC)
EXPORTER_BOUNDS = (*LATENCY_BUCKETS, INF)


def raw_day(seed: int, minutes: int = 30) -> list[np.ndarray]:
    """Per minute, the latencies of two clients' requests: mostly fast, a slow tail, and a
    slow spell (the p95 then sits in a wide bucket, where interpolation is hardest)."""
    rng = np.random.default_rng(seed)
    out = []
    for minute in range(minutes):
        n = int(rng.poisson(60))
        latency = rng.lognormal(np.log(0.15), 0.8, size=n)
        if 10 <= minute < 14:
            latency *= 6
        out.append(latency)
    return out


def bucket_samples(per_minute: list[np.ndarray], wedding_id: str, client: str) -> list[Sample]:
    """What the Prometheus source stores for one series: per minute and bound, the count."""
    base = f"client={client},operation=guest_list,wedding_id={wedding_id}"
    samples = []
    for i, latency in enumerate(per_minute):
        if not len(latency):
            continue
        histogram = from_events(latency, EXPORTER_BOUNDS)
        for bound, count in zip(histogram.bounds, histogram.counts, strict=True):
            samples.append(
                Sample(
                    T0 + timedelta(minutes=i),
                    "prometheus",
                    LATENCY_BUCKET,
                    "guest_list",
                    f"{base}|le={le_label(bound)}",
                    wedding_id,
                    "label",
                    count,
                    client,
                    bound,
                )
            )
    return samples


def test_histogram_quantile_is_within_one_bucket_of_the_raw_quantile() -> None:
    rng = np.random.default_rng(7)
    for _ in range(50):
        raw = rng.lognormal(np.log(rng.uniform(0.02, 2)), rng.uniform(0.2, 1.2), size=500)
        histogram = from_events(raw, EXPORTER_BOUNDS)
        for q in (0.5, 0.9, 0.95, 0.99):
            estimate, exact = histogram.quantile(q), float(np.quantile(raw, q))
            if exact > LATENCY_BUCKETS[-1]:
                assert estimate == LATENCY_BUCKETS[-1]  # the +Inf bucket: its lower bound
                continue
            assert abs(estimate - exact) <= histogram.bucket_width_at(exact)


def test_merging_sums_counts_at_the_shared_bounds() -> None:
    a = Histogram((0.5, 1.0, INF), (3, 5, 6))
    b = Histogram((0.25, 1.0, INF), (1, 2, 4))
    assert merge([a, b]) == Histogram((1.0, INF), (7, 10))  # 0.5 and 0.25 are not shared
    assert merge([]) is None
    with pytest.raises(ValueError, match="last bound must be \\+Inf"):
        Histogram((0.5, 1.0), (1, 2))
    raw = [0.2, 0.4, 0.6, 3.0]
    assert quantile_of_events(0.5, raw) == pytest.approx(np.quantile(raw, 0.5))  # exact
    assert math.isnan(quantile_of_events(0.95))
    assert ROLLUP_BOUNDS[-1] == INF and set(LATENCY_BUCKETS) <= set(ROLLUP_BOUNDS)


def test_merged_histogram_p95_of_a_day_matches_the_raw_requests(
    migrated_database_url: str,
) -> None:
    ios, android = raw_day(1), raw_day(2)
    with psycopg.connect(migrated_database_url) as conn:
        conn.execute(
            "INSERT INTO perf.weddings (wedding_id, source, starts_at, ends_at, timezone, "
            "venue, guest_count, status) VALUES ('42', 'test', %s, %s, 'UTC', NULL, 120, "
            "'confirmed')",
            (T0 + timedelta(hours=1), T0 + timedelta(hours=7)),
        )
        write_samples(
            conn, bucket_samples(ios, "42", "ios") + bucket_samples(android, "42", "android")
        )
        rollup_minutes(
            conn, T0, T0 + timedelta(minutes=30), before=timedelta(hours=3), after=timedelta(0)
        )
        merged = merged_histogram(
            conn,
            operation="guest_list",
            client="all",
            wedding_id="42",
            start=T0,
            end=T0 + timedelta(minutes=30),
        )
        mobile = merged_histogram(
            conn,
            operation="guest_list",
            client="mobile",
            wedding_id="42",
            start=T0,
            end=T0 + timedelta(minutes=30),
        )
    raw = np.concatenate(ios + android)
    assert merged.events == len(raw) and mobile.events == len(raw)
    exact = float(np.quantile(raw, 0.95))
    estimate = merged.quantile(0.95)
    # Within one bucket of the exporter's: the rollup reads its buckets exactly.
    exporter = from_events(raw, EXPORTER_BOUNDS)
    assert abs(estimate - exact) <= exporter.bucket_width_at(exact), (estimate, exact)
    # What the old path computed — a p95 of each minute's p95 — is off by more than that.
    per_minute = [float(np.quantile(m, 0.95)) for m in ios + android if len(m)]
    old = float(np.quantile(per_minute, 0.95))
    assert abs(old - exact) > abs(estimate - exact)


def test_the_latency_check_reads_merged_histograms_beside_raw_events() -> None:
    per_minute = raw_day(3)
    raw = np.concatenate(per_minute)
    samples = bucket_samples(per_minute, "7", "unknown")
    buckets = (
        pd.DataFrame(
            [
                (
                    s.wedding_id,
                    s.operation,
                    s.client,
                    s.source,
                    s.series.split("|le=")[0],
                    s.le,
                    s.value,
                )
                for s in samples
            ],
            columns=["wedding_id", "operation", "client", "source", "histogram", "le", "events"],
        )
        .groupby(["wedding_id", "operation", "client", "source", "histogram", "le"], as_index=False)
        .sum()
    )
    weddings = pd.DataFrame({"wedding_id": ["7"]})
    empty = pd.DataFrame(columns=["wedding_id", "operation", "value", "client", "source"])
    result = checks.operation_latency(weddings, empty, operation="guest_list", buckets=buckets)
    value = float(result["value"].iloc[0])
    exact = float(np.quantile(raw, 0.95))
    assert abs(value - exact) <= from_events(raw, EXPORTER_BOUNDS).bucket_width_at(exact)
    assert result["detail"].iloc[0] == f"{len(raw)} samples"


def _apply_until(conn: psycopg.Connection, version: int) -> None:
    """Apply the migrations before `version` the way `migrate` records them."""
    conn.autocommit = True
    conn.execute("CREATE SCHEMA IF NOT EXISTS perf")
    conn.execute(
        "CREATE TABLE perf.schema_migrations (version integer PRIMARY KEY, name text NOT NULL, "
        "checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
    )
    for m in load_migrations():
        if m.version >= version:
            break
        conn.execute(m.sql)
        conn.execute(
            "INSERT INTO perf.schema_migrations (version, name, checksum) VALUES (%s, %s, %s)",
            (m.version, m.name, m.checksum),
        )
    conn.autocommit = False


def test_migration_keeps_old_data_and_says_what_it_is(empty_database_url: str) -> None:
    with psycopg.connect(empty_database_url) as conn:
        _apply_until(conn, 10)
        conn.execute("SELECT perf.ensure_sample_partitions(%s, %s)", (T0.date(), T0.date()))
        # What 0009 stored: a per-step p95 from Prometheus, a probe timing, and their rollup.
        conn.execute(
            "INSERT INTO perf.samples (ts, source, metric, operation, series, wedding_id, "
            "attributed_by, value) VALUES "
            "(%s, 'prometheus', 'latency_s', 'guest_list', 'wedding_id=1', '1', 'label', 0.8),"
            "(%s, 'probe', 'latency_s', 'guest_list', 'guest-list:1', '1', 'url', 0.2)",
            (T0, T0),
        )
        conn.execute(
            "INSERT INTO perf.rollups_minute (minute, operation, wedding_id, client, samples, "
            "p50, p95, p99) VALUES (%s, 'guest_list', '1', 'all', 2, 0.5, 0.77, 0.79)",
            (T0,),
        )
        conn.commit()
        applied = migrate(conn).applied
        assert applied[:2] == ["0010_latency_events", "0011_error_budgets"]
        metrics = dict(conn.execute("SELECT source, metric FROM perf.samples").fetchall())
        legacy = conn.execute(
            "SELECT sample_rows, p95_of_sample_values FROM perf.rollups_minute_legacy"
        ).fetchall()
        # Rolling the minute up again counts the probe (an event), not the per-step p95.
        rollup_minutes(
            conn, T0, T0 + timedelta(minutes=1), before=timedelta(hours=3), after=timedelta(0)
        )
        events = conn.execute(
            "SELECT events FROM perf.rollups_minute WHERE wedding_id = '1' AND client = 'all'"
        ).fetchall()
    assert metrics == {"prometheus": "latency_promql_s", "probe": LATENCY}
    assert legacy == [(2, 0.77)]
    assert events == [(1.0,)]


# --- no percentile of percentiles ------------------------------------------------------
# Every place that computes a quantile, and why its input is a set of events. A new one
# fails this test until it is reviewed and added here.
QUANTILE_CALLS = {
    # The one implementation over raw events or merged histograms.
    ("wedperf/metrics/histogram.py", "quantile"),
    ("wedperf/metrics/histogram.py", "quantile_of_events"),
    # A wedding's day p95 in the report: of its merged minute histograms (rollups_minute).
    ("wedperf/evidence/sections/slo.py", "_final_row"),
    # Vendor delivery: one value per notification (sent -> delivered), raw events.
    ("wedperf/critical_path/checks.py", "vendor_delivery_p95"),
    # Client-side timings of requests the load generators sent themselves.
    ("wedperf/sandbox/load.py", "_stats"),
    ("wedperf/prewarm/steps.py", "p95_ms"),
    ("wedperf/mobile/client.py", "drive_mobile_client_async"),
    # Forecast intervals and backtests: quantiles of forecast residuals, not latencies.
    ("wedperf/forecast/calibrate.py", "*"),
    ("wedperf/forecast/backtest.py", "*"),
    ("wedperf/forecast/evaluate.py", "*"),
    ("wedperf/forecast/models.py", "*"),
    ("wedperf/capacity/replay.py", "*"),
    # A request-rate series' within-hour peak over its hourly mean: one ratio per hour.
    ("wedperf/forecast/requests.py", "peak_to_mean"),
}
QUANTILE_NAMES = {"percentile", "quantile", "nanpercentile", "nanquantile", "median"}


def _quantile_calls(path: Path) -> list[tuple[str, int]]:
    tree = ast.parse(path.read_text())
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            for inner in ast.walk(node):
                if isinstance(inner, ast.Call):
                    name = getattr(inner.func, "attr", getattr(inner.func, "id", ""))
                    if name in QUANTILE_NAMES:
                        found.append((node.name, inner.lineno))
    return found


def test_no_code_takes_a_percentile_of_stored_percentiles() -> None:
    unreviewed = []
    for path in sorted((ROOT / "wedperf").rglob("*.py")):
        relative = path.relative_to(ROOT).as_posix()
        for function, line in _quantile_calls(path):
            if (relative, function) not in QUANTILE_CALLS and (relative, "*") not in QUANTILE_CALLS:
                unreviewed.append(f"{relative}:{line} in {function}()")
    assert not unreviewed, "quantile calls to review (are their inputs events?): " + ", ".join(
        unreviewed
    )
    # SQL: no percentile aggregate anywhere wedperf queries or migrates its own tables.
    for path in sorted((ROOT / "wedperf").rglob("*.sql")):
        text = re.sub(r"--[^\n]*", "", path.read_text())
        if path.name.startswith("000") and int(path.name[:4]) < 10:
            continue  # applied history: 0001-0009 are never run again
        assert not re.search(r"percentile_(cont|disc)|\bmode\(\)", text, re.I), path
    # And the one path that used to store percentiles refuses them at the door.
    from wedperf.config import PrometheusSettings

    with pytest.raises(ValueError):
        PrometheusSettings(histograms={"guest_list": "histogram_quantile(0.95, x_bucket)"})


def test_rollup_reads_each_bound_at_the_largest_le_below_it(migrated_database_url: str) -> None:
    # One step of one series: buckets 0.5 s, 1 s (jitter of increase(): below the 0.5 s
    # count) and +Inf. At 0.75 s (a rollup bound the series lacks) and 1 s the count is the
    # 0.5 s one: never interpolated, never more than the series counted.
    base = "wedding_id=9"
    rows = [(0.5, 3.0), (1.0, 2.9), (INF, 5.0)]
    samples = [
        Sample(T0, "prometheus", LATENCY_BUCKET, "guest_list", f"{base}|le={le_label(le)}", "9",
               "label", value, "unknown", le)
        for le, value in rows
    ]  # fmt: skip
    with psycopg.connect(migrated_database_url) as conn:
        write_samples(conn, samples)
        rollup_minutes(
            conn, T0, T0 + timedelta(minutes=1), before=timedelta(hours=3), after=timedelta(0)
        )
        bounds, counts = conn.execute(
            "SELECT bucket_le, bucket_events FROM perf.rollups_minute "
            "WHERE wedding_id = '9' AND client = 'all'"
        ).fetchone()
    at = dict(zip(bounds, counts, strict=True))
    assert at[0.25] == 0 and at[0.5] == 3 and at[0.75] == 3 and at[1.0] == 3
    assert at[2.5] == 3 and at[INF] == 5
