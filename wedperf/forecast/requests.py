"""Request-rate series from Prometheus: the load a capacity floor is sized on.

A `prometheus` series is a PromQL expression of requests per second over the whole target
(e.g. `sum(rate(wedapp_requests_total[5m]))`). Per hour two subqueries at one-minute
resolution are read: the hour's mean rate x 3600 (its request count: what the forecast
fits, like every other series) and its busiest minute. Their ratio is what a floor sized on
an hourly forecast misses inside the hour; `peak_to_mean` learns it from the history.

Prometheus's subquery `(q)[1h:1m]` evaluated at t covers the minutes of (t - 1h, t], so a
point at t describes the hour before it and is stamped at that hour's start (prometheus.io,
"Querying basics", subqueries).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd

from wedperf.metrics.model import SourceError
from wedperf.metrics.sources.prometheus import PrometheusSource

HOUR_S = 3600
HOURLY_COUNT = "avg_over_time(({query})[1h:1m]) * 3600"
HOURLY_PEAK = "max_over_time(({query})[1h:1m])"
# The floor must hold at the busy minute of most hours, not of the worst hour on record.
PEAK_QUANTILE = 0.9


def load_request_series(
    source: PrometheusSource, query: str, *, start: datetime, end: datetime, name: str
) -> tuple[pd.Series, pd.Series]:
    """Hourly request counts and hourly peak requests/s of `query` in [start, end), on a
    UTC hourly index (hours without data are absent). SourceError with the reason when
    Prometheus cannot answer or the query is not one series."""
    counts = _one_series(source, HOURLY_COUNT.format(query=query), start, end, name)
    peaks = _one_series(source, HOURLY_PEAK.format(query=query), start, end, name)
    return counts, peaks.reindex(counts.index)


def peak_to_mean(
    peaks: pd.Series, counts: pd.Series, quantile: float = PEAK_QUANTILE
) -> float | None:
    """The busiest minute's rate over the hour's mean rate, as the `quantile` of the hours
    with traffic (never below 1); None when no hour has any."""
    mean = counts / HOUR_S
    aligned = peaks.reindex(mean.index)
    ok = (mean > 0) & aligned.notna()
    if not ok.any():
        return None
    ratio = np.maximum(aligned[ok].to_numpy(dtype=float) / mean[ok].to_numpy(dtype=float), 1.0)
    return float(np.quantile(ratio, quantile))


def _one_series(
    source: PrometheusSource, promql: str, start: datetime, end: datetime, name: str
) -> pd.Series:
    result = source.range_values(promql, start, end, HOUR_S)
    if len(result) > 1:
        raise SourceError(
            f"series {name}: the query returned {len(result)} series; aggregate it to one "
            "(e.g. sum(rate(...)))"
        )
    points = result[0].get("values", []) if result else []
    stamps, values = [], []
    for point in points:
        try:
            ts, value = float(point[0]) - HOUR_S, float(point[1])
        except (TypeError, ValueError, IndexError):
            raise SourceError(f"prometheus returned a malformed point {point!r}") from None
        if np.isfinite(value):
            stamps.append(ts)
            values.append(max(value, 0.0))
    index = pd.DatetimeIndex(pd.to_datetime(stamps, unit="s", utc=True)).as_unit("ns")
    series = pd.Series(values, index=index, name=name, dtype=float)
    return series[~series.index.duplicated()].sort_index()


# Wedding ids per query: sent in a POST body (no URL limit), still chunked so that one
# query's regex and answer stay small on a Saturday of thousands of live weddings.
IDS_PER_QUERY = 100


@dataclass(frozen=True)
class WeddingRequests:
    """Requests per wedding over its window, the weddings Prometheus returned a series
    for, and the ids left out of the query (with why)."""

    requests: dict[str, float]
    with_series: frozenset[str]
    refused: dict[str, str]


def wedding_requests(
    source: PrometheusSource,
    query: str,
    windows: dict[str, tuple[datetime, datetime]],
    *,
    step_seconds: int,
    label: str,
    deadline: datetime | None = None,
) -> WeddingRequests:
    """Requests of each wedding in its window [start, end) (`windows`: wedding id -> span),
    from `query`: PromQL of each wedding's requests per step (one series per wedding,
    labelled `label`), `$step` replaced by the step (e.g. 300s), then `$wedding_ids` by a
    regex of the ids (e.g. `increase(..._count{wedding_id=~"$wedding_ids"}[$step])`). A
    point stamped t counts the step before t; only steps wholly inside a wedding's window
    are counted. An id that cannot go into a PromQL string literal (a control character:
    a newline would end the query for every wedding) is left out, with the reason, and the
    others read. One HTTP client for every chunk, each a POST. SourceError with the reason
    when Prometheus cannot answer, or when `deadline` (wall clock) passes before the last
    chunk is read (each request's timeout is capped at the time left)."""
    refused = {i: "id has a control character: not put in a PromQL query"
               for i in windows if not i.isprintable()}  # fmt: skip
    ids = sorted(i for i in windows if i not in refused)
    out = {wedding_id: 0.0 for wedding_id in ids}
    seen: set[str] = set()
    with source.client() as client:
        for k in range(0, len(ids), IDS_PER_QUERY):
            chunk = ids[k : k + IDS_PER_QUERY]
            start = min(windows[i][0] for i in chunk)
            end = max(windows[i][1] for i in chunk)
            promql = query.replace("$step", f"{step_seconds}s")
            promql = promql.replace("$wedding_ids", _id_regex(chunk))
            answer = source.range_values(promql, start, end, step_seconds, client=client,
                                         post=True, deadline=deadline)  # fmt: skip
            for series in answer:
                wedding_id = (series.get("metric") or {}).get(label)
                if wedding_id not in out:
                    continue
                seen.add(wedding_id)
                lo, hi = (t.timestamp() for t in windows[wedding_id])
                for point in series.get("values", []):
                    try:
                        ts, value = float(point[0]), float(point[1])
                    except (TypeError, ValueError, IndexError):
                        raise SourceError(
                            f"prometheus returned a malformed point {point!r}"
                        ) from None
                    if np.isfinite(value) and lo <= ts - step_seconds and ts <= hi:
                        out[wedding_id] += max(value, 0.0)
    return WeddingRequests(out, frozenset(seen), refused)


def _id_regex(ids: list[str]) -> str:
    """A PromQL string literal's content matching exactly these ids (RE2, anchored by
    PromQL): regex-escaped, then backslashes doubled and double quotes escaped, as the
    string literal unescapes them once. Ids with control characters are refused before."""
    return "|".join(re.escape(i) for i in ids).replace("\\", "\\\\").replace('"', '\\"')
