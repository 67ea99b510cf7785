"""Sandbox history: what the sandbox app would have measured over a span that has passed.

The sandbox app only serves requests while something drives it, so a wedding day that is
already over (or the morning of one under way) has no requests of its own. This module
gives it the ones the sandbox's load model says it had: `demand.demand_parts` (one load
model, the replay benchmark's) per wedding and minute, split into operations the way
`load.plan_requests` draws them (load.MIX, a photo decision a burst of uploads), each
request's latency drawn from the capacity model below, and the minute's latencies bucketed
into the histogram the app's `wedapp_request_duration_seconds` would have exported. The
result is perf.samples rows (latency_bucket, one histogram per minute x wedding x operation
), stored and rolled up by wedperf's own store code like any collected histogram.

The latency model (modelling assumptions, docs/sandbox.md "Capacity"): a request's own
service time is lognormal around the app's costs (wedperf.sandbox.app: cached reads a few
ms, a photo ~40 ms, a vendor push ~8 ms); it waits for a worker slot an exponential time
whose mean grows with the replicas' utilisation as in a single queue, rho / (1 - rho) x
the ~160 ms a photo burst holds a slot. Utilisation is the whole platform's requests/s
(baseline included) x the ~17 ms a slot is busy per request, over the replicas.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from wedperf.critical_path.round import grid_instant
from wedperf.metrics.histogram import ROLLUP_BOUNDS, le_label
from wedperf.metrics.model import LATENCY_BUCKET, Sample
from wedperf.sandbox.demand import demand_parts, with_active_guests
from wedperf.sandbox.load import MIX, PHOTO_BURST_MEAN

SOURCE = "sandbox-model"  # perf.samples.source of modelled history (never a live collector)
METRIC_NAME = "wedapp_request_duration_seconds"
# The app's histogram is labelled by operation and wedding only (wedperf.sandbox.telemetry):
# a scrape cannot tell its clients apart, so neither does its modelled history.
CLIENT = "unknown"
# Median service time (s) and lognormal sigma per operation (wedperf.sandbox.app's costs).
SERVICE_S = {
    "guest_list": (0.008, 0.6),
    "timeline_sync": (0.007, 0.6),
    "photo_upload": (0.040, 0.5),
    "vendor_notify": (0.008, 0.4),
}
SLOT_BUSY_S = 0.017  # mean time a slot is busy per request (wedperf.sandbox.capacity)
BURST_HOLD_S = 0.16  # a 4-photo burst holds a slot this long: what a queued request waits on
MAX_UTILISATION = 0.97  # past it a queue grows without bound; the model stops there


def request_shares() -> dict[str, float]:
    """Share of requests per operation: load.MIX's decisions, a photo decision being a burst
    of PHOTO_BURST_MEAN uploads on average."""
    weights = {
        op: share * (PHOTO_BURST_MEAN if op == "photo_upload" else 1) for op, share in MIX.items()
    }
    total = sum(weights.values())
    return {op: w / total for op, w in weights.items()}


@dataclass(frozen=True)
class ModelledSpan:
    """The modelled requests of a span: their histograms as samples, and a summary."""

    start: datetime
    end: datetime
    samples: list[Sample]
    requests: int
    weddings: int
    peak_rps: float  # the platform's busiest minute (baseline included)
    replicas: int


def modelled_samples(
    weddings: Sequence,
    start: datetime,
    end: datetime,
    *,
    replicas: int,
    seed: int,
) -> ModelledSpan:
    """Histogram samples of every request the load model gives `weddings` (anything with
    wedding_id, starts_at, ends_at, guest_count) in the whole minutes of [start, end),
    served by `replicas` worker slots. Deterministic for a seed."""
    if replicas < 1:
        raise ValueError(f"replicas must be at least 1, got {replicas}")
    first = pd.Timestamp(start).floor("min")
    minutes = pd.date_range(first, pd.Timestamp(end), freq="min", inclusive="left")
    if len(minutes) == 0 or not weddings:
        return ModelledSpan(start, end, [], 0, 0, 0.0, replicas)
    active = with_active_guests(weddings, seed=seed)
    parts = demand_parts(active, minutes, seed=seed)
    total = parts.total()
    rho = np.clip(total * SLOT_BUSY_S / replicas, 0.0, MAX_UTILISATION)
    mean_wait = BURST_HOLD_S * rho / (1 - rho)

    rng = np.random.default_rng(seed + 1)
    shares = request_shares()
    bounds = np.asarray(ROLLUP_BOUNDS)
    labels = [le_label(b) for b in ROLLUP_BOUNDS]
    stamps = minutes.to_pydatetime()
    samples: list[Sample] = []
    requests = 0
    for k, index in enumerate(parts.wedding_index):
        wedding = weddings[index]
        wedding_id = str(wedding.wedding_id)
        per_minute = parts.wedding_rps(k) * 60.0
        for operation, share in shares.items():
            median, sigma = SERVICE_S[operation]
            counts = rng.poisson(per_minute * share)
            n = int(counts.sum())
            if not n:
                continue
            requests += n
            minute_of = np.repeat(np.arange(len(minutes)), counts)
            latency = rng.lognormal(np.log(median), sigma, n) + rng.exponential(
                mean_wait[minute_of]
            )
            bucket = np.searchsorted(bounds, latency, side="left")  # first bound >= value
            grid = np.zeros((len(minutes), len(bounds)))
            np.add.at(grid, (minute_of, bucket), 1.0)
            cumulative = np.cumsum(grid, axis=1)
            histogram = (
                f"client={CLIENT},operation={operation},wedding_id={wedding_id}|{METRIC_NAME}"
            )
            last = len(bounds) - 1
            for m in np.flatnonzero(counts):
                row = cumulative[m]
                # From the first bucket with an event to the first holding all of them,
                # then +Inf: a bound left out counts as the largest bound below it.
                lo_b = int(np.argmax(row > 0))
                hi_b = int(np.argmax(row >= row[-1]))
                kept = [*range(lo_b, hi_b + 1)] + ([last] if hi_b < last else [])
                samples.extend(
                    Sample(
                        ts=stamps[m],
                        source=SOURCE,
                        metric=LATENCY_BUCKET,
                        operation=operation,
                        series=f"{histogram}|le={labels[b]}",
                        wedding_id=wedding_id,
                        attributed_by="label",
                        value=float(row[b]),
                        client=CLIENT,
                        le=float(bounds[b]),
                    )
                    for b in kept
                )
    return ModelledSpan(
        start=first.to_pydatetime(),
        end=end,
        samples=samples,
        requests=requests,
        weddings=len(parts.wedding_index),
        peak_rps=float(total.max()),
        replicas=replicas,
    )


def round_instants(start: datetime, end: datetime, interval: timedelta) -> list[datetime]:
    """The watch grid's instants in [start, end) (critical_path.round.grid_instant: multiples
    of `interval` since the epoch), in UTC."""
    first = grid_instant(start, interval)
    if first < start:
        first += interval
    out = []
    while first < end:
        out.append(first)
        first += interval
    return out
