"""Flow: one shard of a collection round (the per-wedding probes of its weddings)."""

from __future__ import annotations

from datetime import datetime

from prefect import flow, get_run_logger

from tasks.calendar import load_weddings
from tasks.metrics import collect_from_source, store_samples_task
from wedperf.metrics.collect import summarise, wedding_probe_source
from wedperf.metrics.model import CollectWindow
from wedperf.runtime import get_runtime


@flow(
    name="collect-metrics-shard",
    log_prints=True,
    retries=1,
    retry_delay_seconds=2,
    persist_result=True,
)
def collect_metrics_shard(
    start: datetime, end: datetime, wedding_ids: list[str], label: str = "1-of-1"
) -> dict:
    """Time the per-wedding probe targets of `wedding_ids` for the round [start, end) and
    store the samples in perf.samples.

    Storing is the shard's last step, so a shard that fails stored nothing and its retry
    probes its weddings once; samples are keyed (source, metric, operation, series, ts), so
    storing them again adds nothing. The round rolls the window up once its shards are done.
    Returns the weddings given, those probed (a sample of theirs stored: what the round
    counts) and the summary rows of their samples.
    """
    settings = get_runtime().settings
    source = wedding_probe_source(settings)
    weddings = load_weddings(wedding_ids)
    window = CollectWindow(start=start, end=end, live_weddings=tuple(weddings))
    samples = collect_from_source(source, window) if source and weddings else []
    stored = store_samples_task(samples)
    probed = sorted({s.wedding_id for s in samples if s.wedding_id})
    get_run_logger().info(
        "shard %s: %d weddings, %d samples (%d new)", label, len(weddings), len(samples), stored
    )
    return {
        "label": label,
        "weddings": [w.wedding_id for w in weddings],
        "probed": probed,
        "samples": len(samples),
        "new_samples": stored,
        "operations": summarise(samples),
    }
