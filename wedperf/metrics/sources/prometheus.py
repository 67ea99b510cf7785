"""Prometheus HTTP API source: one `query_range` per operation, of its histogram's buckets.

Per operation the query is
``sum by (le, <wedding label>, <client label>) (increase(<selector>[<step>s]))``, evaluated
at every step: per wedding, client and bucket, how many requests finished within `le`
seconds during the step before the evaluation instant. Each point becomes one
LATENCY_BUCKET sample stamped at the start of its step (so a minute's requests land in that
minute); a step in which a series saw no request (its +Inf increase is 0) stores nothing.

Response format (documented at prometheus.io, "HTTP API", range queries):
``{"status": "success", "data": {"resultType": "matrix", "result": [{"metric": {...},
"values": [[<unix seconds>, "<value>"], ...]}]}}``; errors carry ``errorType`` and ``error``.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import httpx

from wedperf.config import PrometheusSettings
from wedperf.metrics.clients import client_kind
from wedperf.metrics.histogram import INF, le_label, parse_le
from wedperf.metrics.model import LATENCY_BUCKET, CollectWindow, Sample, SourceError


class PrometheusSource:
    """`client_label` names the series label that carries the client kind (ios, android,
    web; wedperf.metrics.clients.client_kind reads it); series without it are 'unknown'.
    Keep the label in the PromQL's `by (...)` clause, or aggregation drops it."""

    name = "prometheus"

    def __init__(
        self,
        settings: PrometheusSettings,
        *,
        transport: httpx.BaseTransport | None = None,
        client_label: str | None = "client",
    ) -> None:
        if not settings.url:
            raise ValueError("PrometheusSource needs settings.url")
        self.settings = settings
        self.client_label = client_label
        headers = {}
        if settings.bearer_token is not None:
            headers["Authorization"] = f"Bearer {settings.bearer_token.get_secret_value()}"
        self._client_args: dict[str, Any] = {
            "base_url": settings.url.rstrip("/"),
            "timeout": settings.timeout_seconds,
            "headers": headers,
            "transport": transport,
        }

    def query(self, selector: str) -> str:
        """The PromQL that reads one histogram's per-step bucket increases."""
        labels = ["le", self.settings.wedding_label]
        if self.client_label:
            labels.append(self.client_label)
        step = self.settings.step_seconds
        return f"sum by ({', '.join(labels)}) (increase({selector}[{step}s]))"

    def collect(self, window: CollectWindow) -> list[Sample]:
        samples: list[Sample] = []
        with httpx.Client(**self._client_args) as client:
            for operation, selector in self.settings.histograms.items():
                result = self._query_range(client, self.query(selector), window)
                samples.extend(self._samples(operation, result))
        return samples

    def client(self) -> httpx.Client:
        """An HTTP client for this Prometheus (close it: use it as a context manager), for a
        caller that sends several queries (`range_values(..., client=...)`)."""
        return httpx.Client(**self._client_args)

    def range_values(
        self,
        promql: str,
        start: datetime,
        end: datetime,
        step_seconds: int,
        *,
        client: httpx.Client | None = None,
        post: bool = False,
        deadline: datetime | None = None,
    ) -> list[dict[str, Any]]:
        """The matrix of `promql` over the steps of [start, end): a point stamped t + step
        describes the step [t, t + step) (write the query so that it does, e.g. with
        `[<step>s]` ranges or subqueries). `client`: one from `client()` to reuse (else one
        for this query); `post`: send the parameters form-encoded in a POST body, which the
        HTTP API accepts for queries too long for a URL ("HTTP API": "You can URL-encode
        these parameters directly in the request body by using the POST method");
        `deadline` (wall clock): the request's timeout capped at the time left, SourceError
        once it has passed."""
        window = CollectWindow(start, end)
        args = dict(post=post, deadline=deadline)
        if client is not None:
            return self._query_range(client, promql, window, step_seconds, **args)
        with self.client() as own:
            return self._query_range(own, promql, window, step_seconds, **args)

    def _query_range(
        self,
        client: httpx.Client,
        promql: str,
        window: CollectWindow,
        step_seconds: int | None = None,
        *,
        post: bool = False,
        deadline: datetime | None = None,
    ) -> list[dict[str, Any]]:
        # A point at t holds the increase over the step before t: evaluating at start + step
        # ... end covers the steps of [start, end) exactly. Whole milliseconds, rounded
        # inwards, so that no point falls outside the window.
        step = step_seconds or self.settings.step_seconds
        first_ms = math.ceil((window.start.timestamp() + step) * 1000)
        last_ms = math.floor(window.end.timestamp() * 1000)
        params = {
            "query": promql,
            "start": f"{first_ms / 1000:.3f}",
            "end": f"{last_ms / 1000:.3f}",
            "step": f"{step}s",
        }
        where = f"prometheus at {self._client_args['base_url']}"
        timeout = self.settings.timeout_seconds
        if deadline is not None:
            left = (deadline - datetime.now(UTC)).total_seconds()
            if left <= 0:
                raise SourceError(f"{where} not queried: the deadline has passed")
            timeout = min(timeout, left)
        try:
            if post:  # form-encoded body (httpx sets application/x-www-form-urlencoded)
                response = client.post("/api/v1/query_range", data=params, timeout=timeout)
            else:
                response = client.get("/api/v1/query_range", params=params, timeout=timeout)
        except httpx.TimeoutException as exc:
            raise SourceError(
                f"{where} timed out after {timeout:.1f}s ({type(exc).__name__})"
            ) from exc
        except httpx.HTTPError as exc:
            raise SourceError(f"{where} is unreachable: {exc}") from exc
        try:
            body = response.json()
        except ValueError:
            raise SourceError(
                f"{where} returned HTTP {response.status_code} with a non-JSON body "
                f"({response.headers.get('content-type', 'no content-type')})"
            ) from None
        if not isinstance(body, dict) or body.get("status") != "success":
            error = body.get("error") if isinstance(body, dict) else None
            raise SourceError(
                f"{where} rejected the query (HTTP {response.status_code}): "
                f"{error or 'response is not a Prometheus API envelope'}"
            )
        data = body.get("data")
        if not isinstance(data, dict) or data.get("resultType") != "matrix":
            got = data.get("resultType") if isinstance(data, dict) else type(data).__name__
            raise SourceError(f"{where} returned resultType {got!r}, expected 'matrix'")
        result = data.get("result")
        if not isinstance(result, list):
            raise SourceError(f"{where} returned a matrix without a result list")
        return result

    def _samples(self, operation: str, result: list[dict[str, Any]]) -> list[Sample]:
        label = self.settings.wedding_label
        step = self.settings.step_seconds
        # (histogram series, step start) -> its buckets; kept only if the step saw requests.
        steps: dict[tuple[str, float], list[Sample]] = {}
        totals: dict[tuple[str, float], float] = {}
        for series in result:
            try:
                labels: dict[str, str] = series["metric"]
                values = series["values"]
            except (KeyError, TypeError):
                raise SourceError("prometheus returned a series without metric/values") from None
            if "le" not in labels:
                raise SourceError(
                    f"prometheus histogram of {operation!r} returned a series without an `le` "
                    f"label ({labels}): prometheus.histograms.{operation} must select a "
                    "histogram's _bucket series"
                )
            try:
                le = parse_le(labels["le"])
            except ValueError:
                raise SourceError(f"prometheus returned a bucket le={labels['le']!r}") from None
            base = {k: v for k, v in labels.items() if k != "le"}
            wedding_id = base.get(label) or None
            client = client_kind(base.get(self.client_label)) if self.client_label else "unknown"
            histogram = ",".join(f"{k}={base[k]}" for k in sorted(base)) or "{}"
            for point in values:
                try:
                    ts, raw = float(point[0]) - step, float(point[1])
                except (TypeError, ValueError, IndexError):
                    raise SourceError(f"prometheus returned a malformed point {point!r}") from None
                if not math.isfinite(raw):
                    continue  # no data in that step: a gap, not zero requests
                key = (histogram, ts)
                if le == INF:
                    totals[key] = raw
                steps.setdefault(key, []).append(
                    Sample(
                        ts=datetime.fromtimestamp(ts, UTC),
                        source=self.name,
                        metric=LATENCY_BUCKET,
                        operation=operation,
                        series=f"{histogram}|le={le_label(le)}",
                        wedding_id=wedding_id,
                        attributed_by="label" if wedding_id else "window",
                        value=max(raw, 0.0),
                        client=client,
                        le=le,
                    )
                )
        missing = [key for key in steps if key not in totals]
        if missing:
            raise SourceError(
                f'prometheus histogram of {operation!r} has no le="+Inf" bucket for '
                f"{missing[0][0]}: without it its requests cannot be counted"
            )
        return [s for key, buckets in steps.items() if totals[key] > 0 for s in buckets]
