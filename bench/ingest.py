"""Ingest benchmark: perf.samples writes through wedperf's store path vs plain `psql \\copy`.

Stores N samples (default 1,000,000) with `wedperf.metrics.store.store_samples` — the path
collection uses (partition check, overlap check, binary COPY, commit) — then loads the same
rows with `psql -c "\\copy perf.samples ..."` into the same (emptied) table: the ceiling on
this machine. Each is run `--repeat` times; the median counts. The rows go to a day of their
own (2001-01-01) whose partition is dropped at the end.

    uv run python bench/ingest.py [--samples N] [--repeat R]

Last line: {"samples": N, "samples_per_s": ..., "ceiling_per_s": ..., "ratio": ...,
"recollect_samples_per_s": ...}
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psycopg

from bench._common import database_url, progress, report
from wedperf.db.connection import get_pool
from wedperf.db.migrate import migrate
from wedperf.metrics.model import LATENCY, Sample
from wedperf.metrics.store import store_samples

DAY = datetime(2001, 1, 1, tzinfo=UTC)
PARTITION = "perf.samples_20010101"
OPERATIONS = ("guest_list", "timeline_sync", "photo_upload", "vendor_notify", "mobile")


def make_samples(n: int) -> list[Sample]:
    """2,000 weddings x 5 operations, one sample per wedding, operation and second."""
    samples = []
    per_second = 2_000 * len(OPERATIONS)
    for i in range(n):
        second, rest = divmod(i, per_second)
        wedding, op = divmod(rest, len(OPERATIONS))
        operation = OPERATIONS[op]
        samples.append(
            Sample(
                DAY + timedelta(seconds=second),
                "prometheus",
                LATENCY,
                operation,
                f"job=wedapp,operation={operation},wedding_id={wedding}",
                str(wedding),
                "label",
                0.05 + (i % 997) / 1000,
            )
        )
    return samples


def psql_binary() -> str:
    found = shutil.which("psql")
    if found:
        return found
    try:
        import pgserver

        candidate = Path(pgserver.__file__).parent / "pginstall" / "bin" / "psql"
        if candidate.exists():
            return str(candidate)
    except ImportError:
        pass
    raise SystemExit("psql not found on PATH (install the PostgreSQL client)")


def empty(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"TRUNCATE {PARTITION}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    url = database_url()
    with psycopg.connect(url) as conn:
        migrate(conn)
        conn.execute("SELECT perf.ensure_sample_partitions(%s, %s)", (DAY.date(), DAY.date()))
        conn.commit()
    progress(f"generating {args.samples:,} samples")
    samples = make_samples(args.samples)
    pool = get_pool(url)
    psql = psql_binary()

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "samples.tsv"
        with data.open("w") as out:
            for s in samples:
                out.write(
                    f"{s.ts.isoformat()}\t{s.source}\t{s.metric}\t{s.operation}\t{s.series}\t"
                    f"{s.wedding_id}\t{s.attributed_by}\t{s.value!r}\n"
                )
        store_rates, recollect_rates, ceiling_rates = [], [], []
        try:
            for round_no in range(1, args.repeat + 1):
                empty(url)
                began = time.perf_counter()
                stored = store_samples(pool, samples)
                store_rates.append(stored / (time.perf_counter() - began))

                began = time.perf_counter()
                again = store_samples(pool, samples)  # every key exists: the dedupe path
                recollect_rates.append(len(samples) / (time.perf_counter() - began))
                assert again == 0, f"re-storing the same samples added {again} rows"

                empty(url)
                began = time.perf_counter()
                subprocess.run(
                    [
                        psql,
                        url,
                        "-q",
                        "-v",
                        "ON_ERROR_STOP=1",
                        "-c",
                        "\\copy perf.samples (ts, source, metric, operation, series, wedding_id, "
                        f"attributed_by, value) FROM '{data}'",
                    ],
                    check=True,
                )
                ceiling_rates.append(len(samples) / (time.perf_counter() - began))
                progress(
                    f"round {round_no}: store {store_rates[-1]:,.0f}/s, "
                    f"re-collect {recollect_rates[-1]:,.0f}/s, psql \\copy "
                    f"{ceiling_rates[-1]:,.0f}/s"
                )
        finally:
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute(f"DROP TABLE IF EXISTS {PARTITION}")

    samples_per_s = statistics.median(store_rates)
    ceiling_per_s = statistics.median(ceiling_rates)
    report(
        {
            "samples": len(samples),
            "samples_per_s": round(samples_per_s),
            "ceiling_per_s": round(ceiling_per_s),
            "ratio": round(samples_per_s / ceiling_per_s, 3),
            "recollect_samples_per_s": round(statistics.median(recollect_rates)),
        }
    )


if __name__ == "__main__":
    main()
