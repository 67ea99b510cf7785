"""Latency distributions as event counts: cumulative histograms and raw events.

The one place wedperf computes a latency quantile. A quantile is taken either over raw events
(one value per request: a probe, a RUM beacon, an app-DB row) or over a *merged histogram*:
the sum of bucket increases, across minutes and series, of cumulative `le` buckets (a
Prometheus histogram, or a rollup row of perf.rollups_minute). Never over values that are
themselves quantiles: a p95 of per-minute p95s is no percentile of any set of requests.

Cumulative buckets, as Prometheus keeps them: `counts[i]` is the number of events with
latency <= `bounds[i]`; the last bound is +Inf, so `counts[-1]` is the number of events.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

INF = math.inf
# Bounds of perf.rollups_minute, in seconds: the sandbox app's buckets, Prometheus's default
# buckets (client libraries' DefBuckets: .005 ... 10), and the SLO thresholds wedperf ships
# (2 s on phones, 20-120 s for delivery). A threshold an SLO may use must be one of them: the
# SLI counts good events at a bound exactly, it never interpolates inside a bucket.
ROLLUP_BOUNDS: tuple[float, ...] = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75,
    1.0, 2.0, 2.5, 5.0, 7.5, 10.0, 20.0, 30.0, 60.0, 120.0, INF,
)  # fmt: skip


def le_label(bound: float) -> str:
    """A bound as Prometheus writes the `le` label: "+Inf", else the shortest float text."""
    return "+Inf" if bound == INF else repr(float(bound))


def parse_le(text: str) -> float:
    """The bound an `le` label names ("+Inf", "1", "1.0", "1e-3"); ValueError if none."""
    value = float(text)
    if math.isnan(value):
        raise ValueError(f"le={text!r} is not a bucket bound")
    return value


@dataclass(frozen=True)
class Histogram:
    """Cumulative event counts at ascending bounds, the last one +Inf."""

    bounds: tuple[float, ...]
    counts: tuple[float, ...]

    def __post_init__(self) -> None:
        if len(self.bounds) != len(self.counts) or not self.bounds:
            raise ValueError("a histogram needs one count per bound")
        if self.bounds[-1] != INF:
            raise ValueError("a histogram's last bound must be +Inf (every event counts)")
        if any(b >= a for a, b in zip(self.bounds[1:], self.bounds, strict=False)):
            raise ValueError(f"bounds must be strictly ascending: {self.bounds}")

    @property
    def events(self) -> float:
        return self.counts[-1]

    def at(self, bound: float) -> float:
        """Events with latency <= `bound`, where `bound` is one of the histogram's bounds."""
        try:
            return self.counts[self.bounds.index(bound)]
        except ValueError:
            raise ValueError(
                f"{bound} s is not a bucket bound of this histogram "
                f"({', '.join(le_label(b) for b in self.bounds)})"
            ) from None

    def restricted(self, bounds: Sequence[float]) -> Histogram:
        """The same events at a subset of this histogram's bounds (exact: cumulative counts
        at a bound do not depend on the other bounds)."""
        return Histogram(tuple(bounds), tuple(self.at(b) for b in bounds))

    def quantile(self, q: float) -> float:
        """The q-quantile by linear interpolation inside the bucket that holds it, with the
        same conventions as PromQL's histogram_quantile: the first bucket starts at 0 (or at
        its bound, if that is negative), a quantile in the +Inf bucket is the highest finite
        bound. NaN when there are no events. Exact to within the width of its bucket."""
        if not 0 <= q <= 1:
            raise ValueError(f"quantile must be in [0, 1], got {q}")
        total = self.events
        if total <= 0:
            return math.nan
        rank = q * total
        counts = np.maximum.accumulate(np.asarray(self.counts, dtype=float))  # tolerate jitter
        index = int(np.searchsorted(counts, rank, side="left"))
        index = min(index, len(counts) - 1)
        if self.bounds[index] == INF:
            finite = [b for b in self.bounds if b != INF]
            return finite[-1] if finite else math.nan
        upper = self.bounds[index]
        lower = self.bounds[index - 1] if index > 0 else min(0.0, upper)
        below = counts[index - 1] if index > 0 else 0.0
        inside = counts[index] - below
        if inside <= 0:
            return upper
        return lower + (upper - lower) * (rank - below) / inside

    def bucket_width_at(self, value: float) -> float:
        """Width of the (finite) bucket that holds `value`: the accuracy of a quantile there."""
        for index, upper in enumerate(self.bounds):
            if value <= upper:
                lower = self.bounds[index - 1] if index else 0.0
                return (upper if upper != INF else lower) - lower
        return math.inf


def from_events(values: Iterable[float], bounds: Sequence[float] = ROLLUP_BOUNDS) -> Histogram:
    """Raw events bucketed at `bounds` (each event counts for every bound >= its value)."""
    array = np.sort(np.asarray(list(values), dtype=float))
    counts = np.searchsorted(array, np.asarray(bounds, dtype=float), side="right")
    return Histogram(tuple(float(b) for b in bounds), tuple(float(c) for c in counts))


def merge(histograms: Iterable[Histogram]) -> Histogram | None:
    """The sum of histograms (across series, minutes, weddings), at the bounds they all
    share: summing at a bound some of them lack would mix counts of different latencies.
    None when there is nothing to merge."""
    histograms = list(histograms)
    if not histograms:
        return None
    shared = set(histograms[0].bounds)
    for h in histograms[1:]:
        shared &= set(h.bounds)
    bounds = tuple(sorted(shared))
    total = np.zeros(len(bounds))
    for h in histograms:
        total += np.asarray(h.restricted(bounds).counts)
    return Histogram(bounds, tuple(float(c) for c in total))


def quantile_of_events(
    q: float, raw: Sequence[float] = (), histograms: Iterable[Histogram] = ()
) -> float:
    """The q-quantile of a set of latency events given as raw values and/or histograms.

    Raw values alone: the exact sample quantile (linear interpolation between order
    statistics, as numpy and pandas compute it). With histograms: the raw values are added
    to the merged histogram at its bounds and the quantile is read from that (accurate to
    one bucket). NaN when there are no events."""
    merged = merge(histograms)
    if merged is None or merged.events <= 0:
        return float(np.quantile(np.asarray(raw, dtype=float), q)) if len(raw) else math.nan
    if len(raw):
        merged = merge([merged, from_events(raw, merged.bounds)])
    return merged.quantile(q)
