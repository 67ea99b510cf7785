"""Samples and collection windows, shared by every metrics source."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import NamedTuple, Protocol

from wedperf.calendar.model import Wedding

# metric of a latency event: one request's latency in seconds (a probe, an app-DB row, a RUM
# beacon). Every row is one event.
LATENCY = "latency_s"
# metric of a latency histogram bucket: how many requests of one series finished within `le`
# seconds during the step starting at `ts` (the increase of a cumulative `_bucket` counter).
# Its `series` is the series' label set without `le`, then `|le=<le>`.
LATENCY_BUCKET = "latency_bucket"
# metric of what an older wedperf stored from Prometheus: a value the configured PromQL
# computed per step (by default histogram_quantile(0.95, ...)). Neither an event nor a count;
# kept (migration 0010) but read by nothing.
LEGACY_PROMQL_LATENCY = "latency_promql_s"


class Sample(NamedTuple):
    """One observation. (source, metric, operation, series, ts) is its natural key.

    `client` is the kind of client that observed it (wedperf.metrics.clients: ios, android,
    web, unknown). It is not part of the key: a source's `series` already tells its clients
    apart. `le` is the bucket bound of a LATENCY_BUCKET sample (None for every other metric).
    """

    ts: datetime
    source: str
    metric: str
    operation: str
    series: str
    wedding_id: str | None
    attributed_by: str  # label | url | row | window | beacon
    value: float
    client: str = "unknown"
    le: float | None = None


@dataclass(frozen=True)
class CollectWindow:
    """The span [start, end) one collection round reads, and the weddings live in it."""

    start: datetime
    end: datetime
    live_weddings: Sequence[Wedding] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("collection window bounds must be timezone-aware")
        if self.end <= self.start:
            raise ValueError(f"empty collection window {self.start} .. {self.end}")


def aligned_window(
    end: datetime, lookback: timedelta, step: timedelta
) -> tuple[datetime, datetime]:
    """[end - lookback, end) with both bounds floored to `step`.

    Aligned bounds make a repeated collection ask the same instants again (Prometheus
    evaluates at start + k*step), so its samples hit the natural key instead of piling up.
    """
    step_s = int(step.total_seconds())
    if step_s <= 0:
        raise ValueError("step must be positive")
    end_s = int(end.astimezone(UTC).timestamp()) // step_s * step_s
    start_s = (end_s - int(lookback.total_seconds())) // step_s * step_s
    return datetime.fromtimestamp(start_s, UTC), datetime.fromtimestamp(end_s, UTC)


class SourceError(RuntimeError):
    """A metrics source failed as a whole; the message names the source and the reason."""


class MetricsSource(Protocol):
    name: str

    def collect(self, window: CollectWindow) -> list[Sample]:
        """Samples observed in `window`; raise SourceError when the source cannot answer."""
        ...
